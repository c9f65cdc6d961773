"""What the shipped Grafana dashboard asks Prometheus for, and what a fixload /metrics page offers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.surfacekit import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "fixload.json"
_METRIC = re.compile(r"\bfixload_[a-z0-9_]+\b")


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_queries(path: Path = DASHBOARD) -> list[str]:
    """The PromQL of every panel target and every query variable."""
    dashboard = orjson.loads(path.read_bytes())
    queries = [t["expr"] for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def dashboard_metrics(path: Path = DASHBOARD) -> set[str]:
    """The metric (sample) names the dashboard's queries use."""
    return {name for query in dashboard_queries(path) for name in _METRIC.findall(query)}


def sample_names(text: str) -> dict[str, int]:
    """Sample name -> number of samples in an exposition (a histogram gives _bucket, _sum, _count)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            counts[sample.name] = counts.get(sample.name, 0) + 1
    return counts


def declared_families(text: str) -> set[str]:
    """Families with a TYPE line (declared even without samples)."""
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def missing_from(text: str, names: set[str], *, samples: bool) -> list[str]:
    """Dashboard metric names the exposition lacks (as samples, or at least as declared families)."""
    present = sample_names(text)
    declared = declared_families(text)
    out = []
    for name in sorted(names):
        if samples:
            if not present.get(name):
                out.append(name)
        elif not (present.get(name) or name in declared or re.sub(r"_(total|bucket|sum|count)$", "", name) in declared):
            out.append(name)
    return out
