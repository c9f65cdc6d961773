"""`fixload compare` with uncertainty (issue 27): per-window data, intervals, verdicts, experiments, baselines.

Runs here are synthetic but written as a run writes them (tests/comparekit.py: requests drawn log-normal,
recorded in a Registry and in 2-s windows, `build_summary` + `timeSeries` + experiment). The false-alarm
checks draw many A/A pairs from one distribution and count how often the verdict cries regression.
"""

from __future__ import annotations

import random

import orjson
import pytest

from fixload.cli.main import main
from fixload.common import budget as budgets
from fixload.report import verdict as stats
from fixload.report.compare import compare, load
from fixload.report.compare_output import format_markdown, format_table, verdict_lines
from fixload.report.experiment import experiment_differences
from tests.comparekit import IDENTITY, STARTED, write_run


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def estimates(result) -> dict[tuple[str, str], stats.Estimate]:
    return {(r.group, r.metric): r.estimate for r in result.rows if r.estimate is not None}


# ------------------------------------------------------------------------------------------ verdicts


def test_a_30_percent_slower_flow_is_a_regression_with_its_interval_and_the_rest_is_noise(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=1)
    new = write_run(tmp_path, "new.json", seed=2, slow={"booking_flow": 1.3})
    code, out, _ = run_cli(capsys, str(base), str(new))
    assert code == 99
    result = compare(load(base), load(new), budgets.DEFAULTS)
    e = estimates(result)
    p95 = e[("booking_flow", "p95")]
    assert p95.verdict == stats.REGRESSION and p95.unit == "%" and 10.0 < p95.low < p95.change < p95.high
    assert 20.0 < p95.change < 40.0
    assert e[("payments_flow", "p95")].verdict == stats.WITHIN_NOISE
    assert e[("payments_flow", "success")].verdict == stats.WITHIN_NOISE
    line = next(line for line in out.splitlines() if line.strip().startswith("booking_flow p95 "))
    assert line.strip() == (
        f"booking_flow p95 {p95.change:+.1f} % [{p95.low:+.1f}, {p95.high:+.1f}] — regression (budget +10 %)"
    )
    assert out.startswith("fixload compare: REGRESSION: ") and f"booking_flow http p95 ms {p95.change:+.1f} %" in out


def test_a_3_percent_change_is_within_noise_and_exits_0(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=3)
    new = write_run(tmp_path, "new.json", seed=4, slow={"booking_flow": 1.03})
    code, out, _ = run_cli(capsys, str(base), str(new))
    assert code == 0, out
    assert out.startswith("fixload compare: within noise at 95 % confidence")
    p95 = estimates(compare(load(base), load(new), budgets.DEFAULTS))[("booking_flow", "p95")]
    assert p95.verdict == stats.WITHIN_NOISE and p95.low < 10.0


def test_improvement_and_a_success_regression(tmp_path):
    base = write_run(tmp_path, "base.json", seed=5)
    new = write_run(tmp_path, "new.json", seed=6, slow={"payments_flow": 0.6}, fails={"booking_flow": 0.08})
    e = estimates(compare(load(base), load(new), budgets.DEFAULTS))
    assert e[("payments_flow", "p95")].verdict == stats.IMPROVEMENT and e[("payments_flow", "p95")].high < -10
    success = e[("booking_flow", "success")]
    assert success.unit == "pp" and success.verdict == stats.REGRESSION and success.high < -0.5


def test_the_verdict_is_reproducible_and_the_confidence_widens_the_interval(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=7)
    new = write_run(tmp_path, "new.json", seed=8, slow={"booking_flow": 1.12})
    first = run_cli(capsys, str(base), str(new), "--format", "json")
    assert run_cli(capsys, str(base), str(new), "--format", "json") == first  # fixed seed: same bytes
    rows = {(r["group"], r["metric"]): r for r in orjson.loads(first[1])["rows"]}
    p95 = rows[("booking_flow", "p95")]["estimate"]
    assert p95["unit"] == "%" and p95["low"] < p95["change"] < p95["high"] and p95["windows"] == {"base": 15, "new": 15}
    assert p95["method"] == "paired block bootstrap" and p95["text"].startswith(f"{p95['change']:+.1f} % [")
    wide = orjson.loads(run_cli(capsys, str(base), str(new), "--format", "json", "--confidence", "99")[1])
    narrow = orjson.loads(run_cli(capsys, str(base), str(new), "--format", "json", "--confidence", "80")[1])
    width = {
        level: next(r for r in doc["rows"] if (r["group"], r["metric"]) == ("booking_flow", "p95"))["estimate"]
        for level, doc in (("99", wide), ("80", narrow))
    }
    assert (
        width["99"]["high"] - width["99"]["low"] > p95["high"] - p95["low"] > width["80"]["high"] - width["80"]["low"]
    )
    assert wide["confidence"] == 0.99
    code, _, err = run_cli(capsys, str(base), str(new), "--confidence", "0.95")
    assert code == 104 and "--confidence 0.95: expected a percentage between 50 and 99.9" in err


def test_too_little_data_says_so_instead_of_guessing(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=9, windows=4)
    new = write_run(tmp_path, "new.json", seed=10, windows=4, slow={"booking_flow": 1.5})
    code, out, _ = run_cli(capsys, str(base), str(new))
    assert code == 0  # +50 %, but from 4 windows a side: no verdict, no regression
    p95 = estimates(compare(load(base), load(new), budgets.DEFAULTS))[("booking_flow", "p95")]
    assert p95.verdict == stats.TOO_LITTLE_DATA and p95.low is None
    assert "booking_flow p95 — too little data: 4 base / 4 new windows with data, 6 needed" in out


def test_markdown_and_json_carry_the_intervals(tmp_path):
    base = write_run(tmp_path, "base.json", seed=11)
    new = write_run(tmp_path, "new.json", seed=12, slow={"booking_flow": 1.3})
    result = compare(load(base), load(new), budgets.DEFAULTS)
    md = format_markdown(result)
    header = "| scenario | metric | base | new | delta | delta % | change [interval] | verdict | budget |"
    assert header in md and "|---|---|---:|---:|---:|---:|---:|---|---|" in md
    p95 = estimates(result)[("booking_flow", "p95")]
    bold = f"- **booking_flow p95 {p95.change:+.1f} % [{p95.low:+.1f}, {p95.high:+.1f}] — regression (budget +10 %)**"
    assert bold in md.splitlines()
    assert "| regression |" in md.replace("**", "")
    table = format_table(result)
    assert "change [interval]" in table and "✗" in table
    assert all(" — " in line for line in verdict_lines(result))


# ------------------------------------------------------------------------------------------ false alarms


def _synthetic_windows(rng: random.Random, n: int, median: float, slow: float = 1.0) -> list[stats.Window]:
    out = []
    for _ in range(n):
        values = sorted(median * slow * rng.lognormvariate(0.0, 0.45) for _ in range(48))
        q = [values[int(p * (len(values) - 1))] for p in (0.5, 0.95, 0.99)]
        out.append((48.0, 16.0, 0.0, 0.0, 48 * q[0], 48.0, 48 * q[1], 48.0, 48 * q[2], 48.0))
    return out


def false_alarm_rate(trials: int, slow: float = 1.0, seed: int = 27) -> float:
    """How often two runs drawn from one distribution (x `slow` for NEW) are called a p95 regression."""
    rng = random.Random(seed)
    rule = budgets.DEFAULTS["p95"]
    hits = 0
    for i in range(trials):
        base, new = _synthetic_windows(rng, 15, 100.0), _synthetic_windows(rng, 15, 100.0, slow)
        e, _ = stats.estimate(f"trial{i}", "p95", rule, [base], new, (2.0, 2.0), 0.95)
        hits += e.verdict == stats.REGRESSION
    return hits / trials


def test_false_alarms_are_rare_and_a_real_regression_is_caught_fast_twin(monkeypatch):
    """40 A/A pairs: no false regression at a +10 % budget; 40 pairs +30 %: nearly every one caught."""
    monkeypatch.setattr(stats, "RESAMPLES", 400)
    assert false_alarm_rate(30) == 0.0
    assert false_alarm_rate(30, slow=1.3) >= 0.9


@pytest.mark.slow
def test_false_alarm_rate_over_400_pairs():
    rate = false_alarm_rate(400)
    power = false_alarm_rate(200, slow=1.3, seed=28)
    print(f"\nA/A false regressions: {rate:.3%} of 400; A/B +30 % caught: {power:.1%} of 200")
    assert rate <= 0.01 and power >= 0.95


def test_interval_coverage_against_a_zero_budget(monkeypatch):
    """Against budget 0 the false-alarm rate is the interval's one-sided miss rate: about 2.5 % at 95 %."""
    monkeypatch.setattr(stats, "RESAMPLES", 300)
    rng = random.Random(5)
    rule = budgets.Rule("p95", 0.0, "%")
    hits = sum(
        stats.estimate(f"z{i}", "p95", rule, [_synthetic_windows(rng, 15, 100.0)], _synthetic_windows(rng, 15, 100.0),
                       (2.0, 2.0), 0.95)[0].verdict == stats.REGRESSION
        for i in range(60)
    )  # fmt: skip
    assert hits <= 6  # 2.5 % expected (1.5 of 60); a bootstrap of 15 windows runs a little narrow


# ------------------------------------------------------------------------------------------ experiments


def test_two_multipliers_are_refused_naming_the_field_unless_allowed(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=13)
    other = {**IDENTITY, "multiplier": 2, "profileHash": "sha256:0000000000000002"}
    new = write_run(tmp_path, "new.json", seed=14, identity=other)
    code, out, err = run_cli(capsys, str(base), str(new))
    assert code == 104 and out == ""
    assert f"{base} and {new} are different experiments: multiplier (1 vs 2); " in err
    assert "--allow-different multiplier" in err and "profileHash" not in err  # explained by the multiplier
    code, out, _ = run_cli(capsys, str(base), str(new), "--allow-different", "multiplier")
    assert code in (0, 99) and "verdicts (change and 95 % interval" in out
    code, _, err = run_cli(capsys, str(base), str(new), "--allow-different", "multiplyer")
    assert code == 104 and "--allow-different: unknown field 'multiplyer'" in err


def test_a_changed_profile_and_target_are_named(tmp_path, capsys):
    base = write_run(tmp_path, "base.json", seed=15)
    other = {**IDENTITY, "profileHash": "sha256:9", "profileSpecHash": "sha256:8", "target": "http://127.0.0.2:4000"}
    new = write_run(tmp_path, "new.json", seed=16, identity=other)
    code, _, err = run_cli(capsys, str(base), str(new))
    assert code == 104 and "profileHash ('sha256:0000000000000001' vs 'sha256:9')" in err
    assert "target ('http://127.0.0.1:4000' vs 'http://127.0.0.2:4000')" in err
    assert "--allow-different profileHash,target" in err
    assert experiment_differences(IDENTITY, {**IDENTITY, "workers": 4}) == {"workers": (0, 4)}


def test_the_identity_a_run_records(tmp_path):
    """experiment_identity: the multiplier changes the plan's hash but not the profile's; no userinfo, no query."""
    from fixload.profile.plan import build_plan
    from fixload.profile.schema import load_profile
    from fixload.report.experiment import experiment_identity

    profile = load_profile("tests/profiles/compare-drill.json")
    files = ["locustfiles/booking.py", "locustfiles/payments.py"]
    one = experiment_identity(build_plan(profile, 1.0), "http://***@127.0.0.1:4000/x?token=abc", 0, files)
    two = experiment_identity(build_plan(profile, 2.0), "http://***@127.0.0.1:4000/x?token=abc", 0, files)
    assert one["target"] == "http://***@127.0.0.1:4000/x" and "token" not in str(one)
    assert one["profileHash"] != two["profileHash"] and one["profileSpecHash"] == two["profileSpecHash"]
    assert one["multiplier"] == 1.0 and two["multiplier"] == 2.0 and one["workers"] == 0
    assert one["locustfilesHash"].startswith("sha256:") and one["fixloadVersion"]
    other = experiment_identity(build_plan(profile, 1.0), "http://127.0.0.1:4000", 0, files[:1])
    assert other["locustfilesHash"] != one["locustfilesHash"]
    assert experiment_differences(one, two) == {"multiplier": (1.0, 2.0)}


# ------------------------------------------------------------------------------------------ baseline dir


def test_a_baseline_dir_pools_earlier_runs_and_its_spread_is_the_noise_floor(tmp_path, capsys):
    """One base run cannot see run-to-run drift: a whole run 30 % slower is a regression against it. Against
    five runs that drift by ~9 % it is within their noise; a flow 60 % slower still is a regression."""
    history = tmp_path / "history"
    history.mkdir()
    for i, shift in enumerate((1.0, 1.12, 0.9, 1.08, 0.94)):  # run-to-run drift of a shared machine
        write_run(history, f"run{i}.json", seed=100 + i, shift=shift, started=STARTED.replace(hour=10 + i))
    write_run(history, "other.json", seed=99, identity={**IDENTITY, "workers": 4})
    (history / "notes.json").write_text("{}")
    drifted = write_run(tmp_path, "drifted.json", seed=200, shift=1.3)
    slow = write_run(tmp_path, "slow.json", seed=201, slow={"booking_flow": 1.6})
    code, out, _ = run_cli(capsys, str(history / "run0.json"), str(drifted))
    assert code == 99 and "booking_flow p95 " in out  # one base run: the drift looks like a regression
    code, out, err = run_cli(capsys, "--baseline-dir", str(history), str(drifted))
    assert code == 0, out
    assert "skipped other.json: another experiment: workers (4 vs 0)" in err and "notes.json" in err
    assert f"base: {history} (5 runs)" in out and "base of 5 runs" in out and "run-to-run noise ±" in out
    code, out, _ = run_cli(capsys, "--baseline-dir", str(history), str(slow), "--format", "json")
    doc = orjson.loads(out)
    assert code == 99 and doc["base"]["runs"] == 5
    p95 = next(r for r in doc["rows"] if (r["group"], r["metric"]) == ("booking_flow", "p95"))["estimate"]
    assert p95["verdict"] == "regression" and p95["low"] > 10 and p95["runToRunNoise"] > 0
    code, _, err = run_cli(capsys, "--baseline-dir", str(tmp_path / "nothing"), str(slow))
    assert code == 104 and "not a directory" in err
    code, _, err = run_cli(capsys, "--baseline-dir", str(history), str(drifted), str(slow))
    assert code == 104 and "expected NEW (the base is --baseline-dir), got 2 file(s)" in err


def _estimate(change: float, half: float = 6.0) -> stats.Estimate:
    verdict = stats.judge("p95", budgets.DEFAULTS["p95"], change - half, change + half)
    return stats.Estimate("p95", "%", change, change - half, change + half, verdict, (15, 15), "test")


def test_one_base_run_widens_by_the_shift_the_other_scenarios_show():
    """A machine that slowed every flow by ~25 % in NEW: no flow is a regression. One flow 30 % slower while
    the others hold: a regression. The other scenarios' own sampling noise is not counted as shift."""
    rule = budgets.DEFAULTS["p95"]
    drifted = {name: _estimate(c) for name, c in {"a": 24.0, "b": 27.0, "c": 22.0, "d": 26.0, "overall": 25.0}.items()}
    out = stats.common_shift(drifted, "overall", rule, 0.95)
    assert all(e.verdict == stats.WITHIN_NOISE and e.shift > 30 for e in out.values())
    alone = {name: _estimate(c) for name, c in {"a": 31.0, "b": 2.0, "c": -3.0, "d": 1.0, "overall": 9.0}.items()}
    out = stats.common_shift(alone, "overall", rule, 0.95)
    assert out["a"].verdict == stats.REGRESSION and out["a"].low > 10 and out["a"].shift is None
    quiet = {name: _estimate(c, 8.0) for name, c in {"a": 31.0, "b": 4.0, "c": -4.0, "overall": 9.0}.items()}
    assert stats.common_shift(quiet, "overall", rule, 0.95)["a"].shift is None  # within their own noise
    assert stats.common_shift({"a": _estimate(40.0), "b": _estimate(1.0)}, "overall", rule, 0.95)["a"].shift is None
