"""`fixload run` reads Locust's configuration files as `locust` does, for every option, its own included.

Locust's parser (`locust.argument_parser.get_parser`, configargparse) reads `~/.locust.conf`, `./locust.conf`,
`./pyproject.toml` `[tool.locust]` and `--config FILE`, and its `LOCUST_*` variables. `fixload run` builds
that same parser (with fixload's plugin options registered, so its keys are known) and asks it which source
set what: an option the command line leaves unset takes the file's value; the command line wins. `host`
from a file is the target (as `locust` would use it), unless `K6_BASE_URL` is set. Options `fixload run`
does not read are passed over: Locust reads them itself from the same files. `--show-config` prints it all.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from fixload.profile.binding import unpatched as _unpatched

CONFIG_SOURCE = "config_file"
"""configargparse's source key prefix for a configuration file (`config_file|<path>`)."""
ENV_SOURCE = "environment_variables"
OWN = {"locustfile": "locustfiles", "profile": "profile", "summary": "summary", "multiplier": "multiplier"}
OWN |= {"env_file": "env_file", "run_time": "run_time"}
"""Locust's parser's dest -> `fixload run`'s own option (the plugin's options keep their dest)."""


@dataclass(frozen=True)
class Setting:
    """One option a configuration file (or a LOCUST_* variable) sets, and what `fixload run` did with it."""

    key: str
    value: Any
    source: str
    use: str
    """"used" (fixload run takes it), "command line wins", "target" (host), or "read by Locust itself"."""

    def line(self) -> str:
        return f"{self.key} = {self.value!r}  ({self.source}: {self.use})"


def _config_args(locust_args: list[str]) -> list[str]:
    """`--config FILE` among the arguments passed to Locust (Locust reads it too)."""
    for i, arg in enumerate(locust_args):
        if arg == "--config" and i + 1 < len(locust_args):
            return ["--config", locust_args[i + 1]]
        if arg.startswith("--config="):
            return [arg]
    return []


def _given_host(locust_args: list[str]) -> bool:
    return any(a in ("-H", "--host") or a.startswith("--host=") for a in locust_args)


def read(locust_args: list[str]) -> tuple[argparse.Namespace, list[tuple[str, str, Any]]]:
    """Locust's own reading of its configuration files: the namespace it computes, and (source, dest, key)
    for each option a file or a LOCUST_* variable set."""
    with _unpatched():
        from locust import argument_parser

        import fixload.plugin  # noqa: F401  registers fixload's options on Locust's parser

    parser = argument_parser.get_parser()
    namespace, _ = parser.parse_known_args(args=_config_args(locust_args))
    found: list[tuple[str, str, Any]] = []
    for source, entries in parser.get_source_to_settings_dict().items():
        if source.startswith(CONFIG_SOURCE):
            where = source.split("|", 1)[1] if "|" in source else source
        elif source == ENV_SOURCE:
            where = "environment"
        else:
            continue
        for key, (action, _value) in entries.items():
            if action is not None:
                found.append((where, action.dest, key))
    return namespace, found


def apply(args: argparse.Namespace) -> list[Setting]:
    """Fill `args` (fixload run's) from the configuration files where its command line is silent; return what
    each file set and what became of it. Sets K6_BASE_URL from a file's `host` when it is not set."""
    locust_args = list(getattr(args, "locust_args", []) or [])
    namespace, found = read(locust_args)
    plugin = {action.dest for action in getattr(args, "plugin_actions", [])}
    settings: list[Setting] = []
    for where, dest, key in found:
        value = getattr(namespace, dest, None)
        if where == "environment" and dest not in OWN and dest not in plugin:
            continue  # the other LOCUST_* variables reach Locust itself through the environment
        own = OWN.get(dest, dest if dest in plugin else None)
        if dest == "host":
            if _given_host(locust_args) or os.environ.get("K6_BASE_URL", "").strip():
                use = "command line wins" if _given_host(locust_args) else "K6_BASE_URL wins"
            else:
                os.environ["K6_BASE_URL"] = str(value)
                use = "target"
        elif own is None:
            use = "read by Locust itself"
        elif getattr(args, own, None) is not None:
            use = "command line wins"
        else:
            setattr(args, own, value if own in plugin or isinstance(value, bool | list) else str(value))
            use = "used"
        settings.append(Setting(key, value, where, use))
    return settings


def describe(settings: list[Setting]) -> str:
    """`--show-config`'s text: every option a configuration file set, where from, and what became of it."""
    if not settings:
        return "fixload: no configuration file sets anything (~/.locust.conf, locust.conf, [tool.locust])"
    lines = ["fixload: options set by configuration files (the command line wins):"]
    return "\n".join(lines + ["  " + s.line() for s in settings])
