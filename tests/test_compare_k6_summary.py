"""k6's machine-readable summary (k6 >= 1.5 `--new-machine-readable-summary`, schema 1.0.0) in `fixload compare`.

The fixture (tests/data/k6_machine_readable_summary.json) is the run of tests/data/k6_summary_export.json as k6's
`ToMachineReadable` (grafana/k6 internal/lib/summary) writes it; `k6summary.problems(strict=True)` checks it the
way k6's generated types do (`UnmarshalJSONStrict` + `Validate` of internal/lib/summary/machinereadable).
"""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from fixload.cli.main import main
from fixload.common import budget as budgets
from fixload.report import k6summary
from fixload.report.compare import K6_MACHINE_READABLE, compare, load

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "k6_machine_readable_summary.json"
LEGACY = DATA / "k6_summary_export.json"


def fixture() -> dict:
    return orjson.loads(FIXTURE.read_bytes())


def test_the_fixture_follows_schema_1_0_0_strictly():
    doc = fixture()
    assert k6summary.problems(doc, strict=True) == [] and k6summary.is_machine_readable(doc)
    assert doc["version"] == "1.0.0" and {m["type"] for m in doc["results"]["metrics"]} == set(k6summary.TYPES)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("version"), "summary.version: required field is missing"),
        (lambda d: d.update(extra=1), "summary: unexpected field 'extra'"),
        (lambda d: d["config"].update(execution="remote"), "config.execution: expected local or cloud"),
        (lambda d: d["metadata"].update(generatedAt="yesterday"), "metadata.generatedAt: expected an RFC 3339"),
        (lambda d: d.update(version="2.0.0"), "version: schema 2.0.0 is not 1.x"),
        (lambda d: d["results"]["metrics"][0].update(type="histogram"), ".type: expected one of counter"),
        (lambda d: _metric(d, "rate")["values"].update(rate=1.5), ".values.rate: must be between 0 and 1"),
        (lambda d: _metric(d, "counter")["values"].pop("count"), ".values.count: required field is missing"),
        (lambda d: _metric(d, "trend")["values"].update({"p(99)": 3.0}), ".values: unexpected field 'p(99)'"),
        (lambda d: d["results"]["checks"]["results"][0].update(passes=-1), "passes: expected a whole number >= 0"),
    ],
)
def test_the_strict_check_finds_each_departure(mutate, expected):
    doc = copy.deepcopy(fixture())
    mutate(doc)
    assert any(expected in problem for problem in k6summary.problems(doc, strict=True)), k6summary.problems(doc)


def _metric(doc: dict, kind: str) -> dict:
    return next(m for m in doc["results"]["metrics"] if m["type"] == kind)


def test_the_reader_takes_the_drafts_additions():
    """k6-summary's later drafts add `category`, `results.passed`, rate passes/fails, any p(N): still read."""
    doc = copy.deepcopy(fixture())
    doc["results"]["passed"] = True
    for metric in doc["results"]["metrics"]:
        metric["category"] = "http"
        if metric["type"] == "rate":
            v = metric["values"]
            metric["values"] = {"rate": v["rate"], "passes": v["matches"], "fails": v["total"] - v["matches"]}
        if metric["type"] == "trend":
            metric["values"]["p(99)"] = metric["values"]["max"]
    assert k6summary.problems(doc, strict=False) == []
    metrics, _ = k6summary.to_metrics(doc)
    assert metrics["http_req_failed"] == {"passes": 0, "fails": 61, "value": 0}


def test_compare_reads_it_as_the_same_run_as_the_legacy_export(capsys):
    new, legacy = load(FIXTURE), load(LEGACY)
    assert new.format == K6_MACHINE_READABLE and new.note == "k6 1.5.0, schema 1.0.0"
    for key in ("p50", "p95", "avg", "success", "iterations"):
        assert getattr(new.overall, key) == pytest.approx(getattr(legacy.overall, key)), key
        assert getattr(new.scenarios["booking_flow"], key) == pytest.approx(
            getattr(legacy.scenarios["booking_flow"], key)
        ), key
    result = compare(new, legacy, budgets.DEFAULTS)
    assert result.exit_code == 0 and not any(r.judged for r in result.rows if r.metric == "thresholds")
    code = main(["compare", str(FIXTURE), str(LEGACY)])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("fixload compare: within budget (p95 +10%, success -0.5pp, dropped +0)")
    assert "a k6 summary records no experiment identity (not checked" in out
    assert "k6's machine-readable format has no thresholds" in out


def test_a_broken_machine_readable_file_exits_104_naming_the_field(tmp_path, capsys):
    doc = fixture()
    doc["config"]["duration"] = -3
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(doc))
    assert main(["compare", str(bad), str(FIXTURE)]) == 104
    err = capsys.readouterr().err
    assert f"{bad}: not a valid k6 machine-readable summary (schema 1.0.0): config.duration" in err
