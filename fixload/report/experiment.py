"""What defines the experiment a run measured, recorded in each summary (`fixload.experiment`) and compared.

`experiment_identity` is what the Locust side writes at the end of a run; `experiment_differences` names the
fields two runs disagree on, so `fixload compare` refuses apples to oranges (exit 104) unless told
`--allow-different FIELD`. k6 files record none of this.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from fixload import __version__
from fixload.common.secrets import redact

EMBEDDED_TARGET_ENV = "FIXLOAD_EMBEDDED_TARGET"
"""Set by `fixload run` for the embedded simulator: its port changes every run, the experiment does not."""
EXPERIMENT_FIELDS: tuple[str, ...] = (
    "profileHash",
    "multiplier",
    "target",
    "workers",
    "fixloadVersion",
    "locustfilesHash",
)


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _files_digest(paths: Sequence[str | os.PathLike[str]]) -> str | None:
    """One hash over the bytes of these files (by name and content, sorted), None when none can be read."""
    h = hashlib.sha256()
    read = 0
    for path in sorted({str(Path(p).resolve()) for p in paths}):
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        h.update(Path(path).name.encode() + b"\0" + data + b"\0")
        read += 1
    return "sha256:" + h.hexdigest()[:16] if read else None


def experiment_identity(
    plan: Any, target: str | None, workers: int, locustfiles: Sequence[str | os.PathLike[str]] = ()
) -> dict[str, Any]:
    """What defines the experiment a summary measured, so `fixload compare` refuses apples to oranges.

    `profileHash`: the plan as run (the profile after env, scenarios after the multiplier, thresholds);
    `profileSpecHash`: the same before the multiplier (so a multiplier change is told from a profile change);
    `target`: the base URL without userinfo (`embedded simulator` for `fixload run`'s own, whose port varies);
    `locustfilesHash`: the source files of the flows that were loaded."""
    profile = plan.profile.model_dump(by_alias=True, mode="json")
    scenarios = {name: s.as_dict() for name, s in plan.scenarios.items()}
    for entry in scenarios.values():
        entry.pop("peakRatePerSecond", None)
    spec_plan = {"profile": profile}
    embedded = os.environ.get(EMBEDDED_TARGET_ENV)
    return {
        "profile": plan.profile.profile,
        "profileHash": _digest({"profile": profile, "scenarios": scenarios, "multiplier": plan.multiplier}),
        "profileSpecHash": _digest(spec_plan),
        "multiplier": plan.multiplier,
        "target": embedded or (None if target is None else redact(target.split("?", 1)[0])),
        "workers": workers,
        "fixloadVersion": __version__,
        "locustfilesHash": _files_digest(locustfiles),
    }


DERIVED = {"profileHash": ("multiplier", "profileSpecHash")}
"""A field whose difference another explains: the plan as run differs when only the multiplier does."""


def experiment_differences(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The identity fields whose values differ: field -> (base, new). The profile hash is left out when only
    the multiplier changed the plan (the hash before the multiplier is equal)."""
    out = {key: (base.get(key), new.get(key)) for key in EXPERIMENT_FIELDS if base.get(key) != new.get(key)}
    for key, (cause, spec) in DERIVED.items():
        if key in out and cause in out and base.get(spec) is not None and base.get(spec) == new.get(spec):
            del out[key]
    return out


def describe_differences(differences: Mapping[str, tuple[Any, Any]]) -> str:
    """`multiplier (1 vs 2), workers (0 vs 4)`."""
    return ", ".join(f"{key} ({a!r} vs {b!r})" for key, (a, b) in differences.items())
