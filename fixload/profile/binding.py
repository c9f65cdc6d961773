"""Which code a profile's scenario runs: the loaded `ScenarioUser` class whose `scenario` names it.

k6 binds a scenario to the function its `exec` names (default: the scenario's own name) among the script's
exports. fixload binds it to the loaded user class whose `scenario` attribute is the scenario's `exec`
(default: its name), so a new flow is one locustfile plus a profile entry and no change to the package.

Every entry point learns the same classes: Locust's from its environment's `user_classes`, `fixload
validate/run/check` by importing the same locustfile path (`-f`, default `locustfiles/`) with Locust's own
loader. `loaded_flows` is the one map from scenario to class both use, and `binding_problems` the one
check (unknown names are a problem naming the loaded classes, with a did-you-mean; a settings block no
loaded flow reads is an unknown key).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import os
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from fixload.profile.limits import MAX_SETTING_SECONDS
from fixload.profile.schema import Profile, settings_keys

DEFAULT_LOCUSTFILES = "locustfiles"


@contextlib.contextmanager
def unpatched() -> Iterator[None]:
    """Import Locust (and fixload's plugin) here without gevent's monkey-patching: a process that has not
    imported Locust yet (the wrapper) only supervises or validates, and keeps the standard library as it is.
    A process that already imported Locust keeps the patching it has."""
    skip = "LOCUST_SKIP_MONKEY_PATCH"
    set_here = skip not in os.environ
    os.environ.setdefault(skip, "1")
    try:
        yield
    finally:
        if set_here:
            os.environ.pop(skip, None)


def locustfiles_path(path: str | None = None) -> str:
    """`path` as given, else `./locustfiles` when run from a checkout, else the copy installed with the package."""
    if path:
        return path
    if Path(DEFAULT_LOCUSTFILES).is_dir():
        return DEFAULT_LOCUSTFILES
    spec = importlib.util.find_spec(DEFAULT_LOCUSTFILES)  # found, not imported: Locust's loader imports it
    if spec is None or not spec.submodule_search_locations:
        return DEFAULT_LOCUSTFILES
    return str(next(iter(spec.submodule_search_locations)))


def loaded_flows(user_classes: Iterable[type]) -> dict[str, type]:
    """The loaded classes by the scenario they were written for (the subclasses fixload derives for a
    scenario that reuses a flow under another name are not flows of their own)."""
    found: dict[str, type] = {}
    for cls in user_classes:
        scenario = getattr(cls, "scenario", "")
        if scenario and not getattr(cls, "_fixload_derived", False) and not getattr(cls, "abstract", False):
            found.setdefault(scenario, cls)
    return found


def import_flows(path: str | None = None) -> dict[str, type]:
    """The flows `locust -f <path>` would load (default `locustfiles/`; files, folders, comma-separated),
    imported with Locust's loader."""
    parts = (part.strip() for part in locustfiles_path(path).split(","))
    return dict(_imported(tuple(str(Path(part).resolve()) for part in parts if part)))


@lru_cache(maxsize=8)
def _imported(paths: tuple[str, ...]) -> tuple[tuple[str, type], ...]:
    """Import once per process and path: a locustfile's module body (and its plugin import) runs once."""
    with unpatched():
        from locust.argument_parser import parse_locustfile_paths
        from locust.util.load_locustfile import load_locustfile

    classes: list[type] = []
    for file in parse_locustfile_paths(list(paths)):
        user_classes, _shapes = load_locustfile(file)
        classes.extend(user_classes.values())
    return tuple(loaded_flows(classes).items())


def needs_fixtures(flows: Mapping[str, type], wanted: Iterable[str]) -> bool:
    """Whether any of the `wanted` flows (the plan's scenarios' `exec`) declares it needs the run's fixtures
    (`ScenarioUser.needs_fixtures`): only then does setup provision them (a ping run provisions nothing)."""
    return any(getattr(flows.get(name), "needs_fixtures", False) for name in wanted)


def settings_block(cls: type) -> str:
    """The `settings` key a flow reads its knobs from: its `settings_block`, else its scenario's name."""
    return getattr(cls, "settings_block", "") or getattr(cls, "scenario", "")


def metric_flows(flows: Mapping[str, type]) -> tuple[str, ...]:
    """The flows whose `<flow>_duration/_success_rate/_failures` the loaded classes record."""
    return tuple(dict.fromkeys(getattr(cls, "flow", "") or name for name, cls in flows.items()))


def describe(flows: Mapping[str, type]) -> str:
    """`ads_flow (AdsUser), booking_flow (BookingUser), ...`: what the locustfiles loaded."""
    return ", ".join(f"{name} ({cls.__name__})" for name, cls in sorted(flows.items())) or "none"


def binding_problems(profile: Profile, flows: Mapping[str, type]) -> list[str]:
    """One line per scenario no loaded class runs and per `settings` block no loaded flow reads."""
    problems: list[str] = []
    loaded = describe(flows)
    for name, scenario in profile.scenarios.items():
        wanted = scenario.exec or name
        if wanted in flows:
            continue
        close = difflib.get_close_matches(wanted, list(flows), n=1)
        if scenario.exec is not None:
            hint = f'; did you mean "{close[0]}"?' if close else ""
            problems.append(
                f"scenarios.{name}.exec: flow {wanted!r} does not exist: no loaded ScenarioUser class has "
                f"scenario = {wanted!r}; the locustfiles loaded: {loaded}{hint}"
            )
        else:
            hint = f' Did you mean "{close[0]}"?' if close else ""
            problems.append(
                f'scenarios.{name}: Scenario "{name}" is not supported: no loaded ScenarioUser class has '
                f'scenario = "{name}" (or set "exec" to one that does); the locustfiles loaded: {loaded}.{hint}'
            )
    blocks = {settings_block(cls): cls for cls in flows.values()}
    for key, value in (profile.settings.model_extra or {}).items():
        if key not in blocks:
            close = difflib.get_close_matches(key, [*settings_keys(), *blocks], n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            problems.append(f"settings.{key}: unknown key {key!r} (no loaded flow reads it){hint}")
        elif not isinstance(value, dict):
            flow = blocks[key].scenario
            problems.append(f"settings.{key}: expected an object (the settings block of {flow}), got {value!r}")
        elif "sleepSeconds" in value and not _seconds(value["sleepSeconds"]):
            problems.append(
                f"settings.{key}.sleepSeconds: expected a number of seconds from 0 to {MAX_SETTING_SECONDS:g}"
                f" (got {value['sleepSeconds']!r})"
            )
    return problems


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_SETTING_SECONDS


def flow_settings(settings: Any, cls: type) -> Any:
    """A flow's `settings` block: the typed model of the five flows' blocks, else the free-form object the
    profile gave (an empty one when it gave none)."""
    block = settings_block(cls)
    if block in type(settings).model_fields:
        return getattr(settings, block)
    return (settings.model_extra or {}).get(block) or {}
