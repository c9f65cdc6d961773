"""The shipped Grafana dashboard and provisioning (issue 16). No Grafana image can be had here (Docker Hub is
unreachable and Debian does not package Grafana), so the dashboard is checked against Grafana's own schema as
generated into grafana-foundation-sdk (dashboard, panel options per panel type, Prometheus queries): a decode
and re-encode keeps every key we ship, so none is one Grafana does not know. That its metrics exist is checked
against live scrapes in test_prometheus.py and test_compose.py."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.promkit import DASHBOARD, dashboard_metrics, dashboard_queries, panels
from tests.surfacekit import REPO

yaml = pytest.importorskip("yaml", reason="PyYAML reads the provisioning files (pip install -e '.[test]')")
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"


def _dropped(shipped: Any, decoded: Any, path: str = "") -> list[str]:
    """Keys of `shipped` that the schema round trip lost (unknown to Grafana's schema)."""
    out: list[str] = []
    if isinstance(shipped, dict):
        for key, value in shipped.items():
            if not isinstance(decoded, dict) or key not in decoded:
                out.append(f"{path}/{key}")
            else:
                out += _dropped(value, decoded[key], f"{path}/{key}")
    elif isinstance(shipped, list):
        for i, item in enumerate(shipped):
            out += _dropped(
                item, decoded[i] if isinstance(decoded, list) and i < len(decoded) else None, f"{path}[{i}]"
            )
    return out


def test_dashboard_matches_grafanas_schema():
    sdk = pytest.importorskip("grafana_foundation_sdk", reason="pip install grafana-foundation-sdk (the test extra)")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard
    from grafana_foundation_sdk.models.prometheus import Dataquery

    assert sdk
    register_default_plugins()
    shipped = orjson.loads(DASHBOARD.read_bytes())
    model = Dashboard.from_json(shipped)
    decoded = json.loads(json.dumps(model, cls=JSONEncoder))
    assert _dropped(shipped, decoded) == []
    for panel in model.panels or []:
        for target in panel.targets or []:
            assert isinstance(target, Dataquery), (panel.title, type(target))  # decoded as a Prometheus query


def test_dashboard_layout_and_panels():
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    assert dashboard["uid"] == "fixload-run"
    titles = [p["title"] for p in panels(dashboard)]
    for wanted in (
        "Scheduled vs achieved iterations/s",
        "Dropped iterations/s",
        "p95 request duration vs threshold",
        "Failures by step",
        "VUs",
        "Workers",
        "Threshold status",
    ):
        assert wanted in titles, (wanted, titles)
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]


def test_dashboard_queries_use_fixload_metrics_with_units():
    names = dashboard_metrics()
    assert {
        "fixload_target_iterations_per_second",
        "fixload_achieved_iterations_per_second",
        "fixload_dropped_iterations_total",
        "fixload_http_req_duration_seconds_bucket",
        "fixload_threshold_observed_seconds",
        "fixload_threshold_limit_seconds",
        "fixload_checks_failed_total",
        "fixload_vus",
        "fixload_workers",
        "fixload_threshold_ok",
    } <= names
    for query in dashboard_queries():
        if "rate(" in query:  # rate() only over counters and histogram buckets
            assert "_total" in query or "_bucket" in query, query


def test_provisioning_points_at_the_compose_services_and_the_dashboard():
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    variable = next(v for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert variable["current"]["value"] == source["uid"]
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "fixload.yml").read_text())["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].endswith("/" + DASHBOARD.name)
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["master:9646"]  # the master's --prometheus-port
