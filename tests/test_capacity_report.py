"""What a capacity search tells its user, from a real search's kept step summaries (tests/data): the console's
final line, the summary's keys and the HTML plot.

tests/data/capacity-search-local.json is a local search against `fixload serve` capped at 333 requests/s
(`--start 0.25 --max 4 --warmup 2s --step 12s`), each step's `--keep-steps` summary trimmed to what a step is
judged on; the steps are judged again here by today's rules (fixload.report.capacity.judge), as the search did.
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixload.cli.capacity import Search, outcome_block
from fixload.common import children
from fixload.profile.schema import load_profile
from fixload.report import capacity as report
from tests.surfacekit import SCREENSHOTS, DevToolsPage, require_browser
from tests.test_capacity import charts, drawn, scale

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "tests" / "data" / "capacity-search-local.json"


def kept_steps(data: dict[str, Any] | None = None) -> list[report.Step]:
    """The kept search's steps in the order run (or `data`, changed), each judged from its summary as the search
    judges it."""
    data = data or orjson.loads(KEPT.read_bytes())
    steps: list[report.Step] = []
    reference: float | None = None
    for kept in data["steps"]:
        step = report.judge(
            kept["summary"],
            kept["multiplier"],
            kept["phase"],
            data["stepSeconds"],
            exit_code=kept["exitCode"],
            cpu_percent=kept["cpuPercent"],
            reference_p95_ms=reference,
            bounds=report.Bounds(),
            workers=0,
        )
        if step.sustainable and step.http_p95_ms is not None:
            reference = min(step.http_p95_ms, reference or float("inf"))
        steps.append(step)
    return steps


def finish(steps: list[report.Step], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    """What `fixload capacity` prints at the end of a search of these steps (its stdout), and its summary."""
    args = argparse.Namespace(
        keep_steps=str(tmp_path / "steps"),
        per_scenario=None,
        precision=0.05,
        growth=2.0,
        workers=0,
        summary=str(tmp_path / "cap.json"),
        html_report=str(tmp_path / "cap.html"),
    )
    search = Search(args, children.SignalRelay())
    search.start, search.most, search.warmup, search.step_s = 0.25, 4.0, 2.0, 12.0
    search.profile = load_profile(ROOT / "profiles" / "baseline-short.json")
    capsys.readouterr()
    assert search._finish(steps, interrupted=False) == 0
    return capsys.readouterr().out, orjson.loads((tmp_path / "cap.json").read_bytes())["fixload"]


def test_the_final_line_says_latency_still_rising_once_with_each_scenarios_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At ×0.75 (1–3 % over the target's capacity) all five scenarios' p95 climbed through the window: the step's
    reasons keep a line each, the final line says the rule once and lists the five with their figures."""
    steps = kept_steps()
    failing = next(s for s in steps if s.multiplier == 0.75)
    assert not failing.sustainable and len(failing.reasons) == 5
    table = report.step_table([failing])
    assert table.count("latency still rising as the window ended") == 5  # per step: one line per scenario
    out, data = finish(steps, tmp_path, capsys)
    final = out.strip().splitlines()[-1]
    assert final == (
        "sustainable up to ×0.7188 (ads_flow 14.4 it/s 54 req/s, analytics_flow 16.5 it/s 33 req/s, booking_flow "
        "25.9 it/s 140 req/s, chat_flow 20.2 it/s 101 req/s, payments_flow 4.3 it/s 4 req/s; 332 req/s in all); "
        "first failing ×0.75 by latency still rising as the window ended (p95, first third → last third): "
        "ads_flow 48 → 99 ms, analytics_flow 55 → 100 ms, booking_flow 48 → 100 ms, chat_flow 47 → 98 ms, "
        "payments_flow 55 → 96 ms: queueing; limited by the target"
    ), final
    # the summary keeps one reason per scenario (a script reads each); the HTML's verdict is the console's line
    assert data["capacity"]["firstFailing"]["reasons"] == failing.reasons
    assert f'<span class="badge ok">{html.escape(final)}</span>' in (tmp_path / "cap.html").read_text()


def test_the_final_line_counts_the_reasons_it_leaves_to_the_step_table() -> None:
    """Three reasons at most in the final line, the rising rule counting as one; the rest are counted, not lost."""
    rising = [report.RISING.format(name=n, early=40.0, late=90.0) for n in ("ads_flow", "chat_flow")]
    reasons = ["a_flow_duration p(95) 1,500 ms, needs p(95)<1400", *rising, "b_flow dropped 3 iterations"]
    reasons += ["c_flow dropped 5 iterations", "d_flow dropped 1 iterations"]
    block = {"sustainable": None, "firstFailing": {"multiplier": 2.0, "reasons": reasons}, "limitedBy": "target"}
    assert report.verdict_line(block) == (
        "no sustainable step; first failing ×2 by a_flow_duration p(95) 1,500 ms, needs p(95)<1400; latency still "
        "rising as the window ended (p95, first third → last third): ads_flow 40 → 90 ms, chat_flow 40 → 90 ms: "
        "queueing; b_flow dropped 3 iterations; and 2 more (in the step table); limited by the target"
    )
    one = {**block, "firstFailing": {"multiplier": 2.0, "reasons": rising[:1]}}
    assert report.verdict_line(one) == f"no sustainable step; first failing ×2 by {rising[0]}; limited by the target"


def test_the_kept_search_is_judged_as_it_was_run() -> None:
    """Today's rules on the kept summaries give the search's own verdicts (the data is what the tests say)."""
    steps = kept_steps()
    assert [(s.multiplier, s.sustainable) for s in steps] == [
        (0.25, True),
        (0.5, True),
        (1.0, False),
        (0.75, False),
        (0.625, True),
        (0.6875, True),
        (0.7188, True),
    ]
    block = outcome_block(steps, 0.25, 4.0, interrupted=False)
    assert block["limitedBy"] == "target" and block["sustainable"]["multiplier"] == 0.7188


def documented_keys() -> set[str]:
    """Every key named in backquotes (`steps[]`, `scenarios.<name>.rate`: each part) in the rows of
    docs/capacity.md's tables of the summary's keys."""
    text = (ROOT / "docs" / "capacity.md").read_text()
    section = text[text.index("holds `fixload.capacity`:") : text.index("`--html-report` draws")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    quoted = [
        part.removesuffix("[]") for row in rows for name in re.findall(r"`([^`]+)`", row) for part in name.split(".")
    ]
    return {part for part in quoted if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", part)}


def test_a_request_rate_has_one_key_everywhere_and_every_key_is_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script reads `requestsPerSecond` for a step's requests/s in `steps[]` and in `sustainable` alike (a step
    said `requestsPerS`), `insufficientVUs` as the run summary spells it; docs/capacity.md names every key."""
    _, data = finish(kept_steps(), tmp_path, capsys)
    block = data["capacity"]
    by_multiplier = {s["multiplier"]: s for s in block["steps"]}
    best = block["sustainable"]
    assert best["requestsPerSecond"] == by_multiplier[best["multiplier"]]["requestsPerSecond"] == 331.83
    assert all(isinstance(s["requestsPerSecond"], float) for s in block["steps"])
    dropped = by_multiplier[1.0]["scenarios"]["booking_flow"]
    assert dropped["insufficientVUs"] == {"dropped": 92, "maxVUs": 60, "neededMaxVUs": 92}
    text = orjson.dumps(data).decode()
    assert 'requestsPerS"' not in text and "insufficientVus" not in text
    step, scenario = block["steps"][0], block["steps"][0]["scenarios"]["booking_flow"]
    keys = {*block, *best, *step, *scenario, *step["thresholds"][0], *dropped["insufficientVUs"]}
    keys |= set(best["scenarios"]["booking_flow"]) | set(block["firstFailing"])
    assert keys - documented_keys() == set(), "keys of fixload.capacity the docs do not name"


SVG = "{http://www.w3.org/2000/svg}"


def rings(chart: Any) -> list[tuple[float, float, str]]:
    """The red rings of a chart (pixels) with the label drawn beside each."""
    circles = [c for c in chart.iter(f"{SVG}circle") if c.get("r") == "7" and c.get("stroke") == "#dc2626"]
    labels = [t.text or "" for t in chart.iter(f"{SVG}text") if "mark" in (t.get("class") or "")]
    return [(float(c.get("cx")), float(c.get("cy")), label) for c, label in zip(circles, labels, strict=True)]


def assert_drops_are_shown(steps: list[report.Step]) -> list[str]:
    """Each scenario that dropped iterations at a step: its rates chart draws the step's completed share of its
    scheduled iterations where the step is, ringed, labelled with the count and share dropped; the labels."""
    block = outcome_block(steps, 0.25, 4.0, interrupted=False)
    found = charts(report.html_report(block, {"profile": "p", "target": "http://127.0.0.1:1", "thresholds": []}))
    seen = []
    for step in {s.multiplier: s for s in steps}.values():
        for name, sc in step.scenarios.items():
            if not sc.dropped:
                continue
            assert not step.sustainable and f"{name} dropped {sc.dropped:,} iterations" in step.reasons
            chart = found[f"{name} — judged rates (%) vs load"]
            to_x, to_y, (_, top, _, bottom) = scale(chart)
            span = abs(to_y(top) - to_y(bottom))
            points, lines = drawn(chart, f"{name} completed % of scheduled")
            share = 100.0 * sc.completed / (sc.scheduled or 1)
            at = [(px, py) for px, py in points if to_x(px) == pytest.approx(step.multiplier, abs=0.01)]
            assert len(at) == 1 and to_y(at[0][1]) == pytest.approx(share, abs=span / 300), (name, step.multiplier)
            assert [to_y(y) for y in lines] == [pytest.approx(99.0, abs=span / 300)]  # the search's rule, drawn
            ringed = [label for x, y, label in rings(chart) if (x, y) == pytest.approx(at[0], abs=0.2)]
            assert len(ringed) == 1 and ringed[0].startswith(f"✗ {sc.dropped:,} dropped ("), rings(chart)
            seen.append(f"{name} ×{step.multiplier:g} {ringed[0]}")  # the share: the callers' literal texts
    return seen


def test_the_html_never_shows_a_step_that_dropped_iterations_as_a_clean_100_percent() -> None:
    """At ×1 the kept search dropped 31 ads, 92 booking and 68 chat iterations while every completed one
    succeeded: each success rate is 100 %. The rates chart draws the share completed beside it, ringed and
    labelled with the drops, on the axis of the search's own rule (completed ≥ 99 %, none dropped)."""
    assert assert_drops_are_shown(kept_steps()) == [
        "ads_flow ×1 ✗ 31 dropped (13 %)",
        "booking_flow ×1 ✗ 92 dropped (21 %)",
        "chat_flow ×1 ✗ 68 dropped (20 %)",
    ]


def test_one_dropped_iteration_fails_the_step_and_is_ringed_though_99_percent_completed() -> None:
    """One booking iteration dropped at ×0.7188 (a share the 99 % line passes, a failure all the same: nothing
    may be dropped): the point is above the line and ringed with what failed."""
    data = orjson.loads(KEPT.read_bytes())
    kept = data["steps"][-1]["summary"]["fixload"]["scenarios"]["booking_flow"]
    kept.update(dropped=1, completed=kept["scheduled"] - 1)
    steps = kept_steps(data)
    assert not steps[-1].sustainable and steps[-1].reasons == ["booking_flow dropped 1 iterations"]
    assert assert_drops_are_shown(steps) == [
        "ads_flow ×1 ✗ 31 dropped (13 %)",
        "booking_flow ×1 ✗ 92 dropped (21 %)",
        "chat_flow ×1 ✗ 68 dropped (20 %)",
        "booking_flow ×0.7188 ✗ 1 dropped (0.32 %)",
    ]


def test_chromium_draws_the_drops_label_in_red(tmp_path: Path) -> None:
    """The page as a user sees it: the label beside each ring is red (the chart's tick style made it grey), and
    the screenshot is kept (reports/screenshots/capacity-drops.png) to look at."""
    block = outcome_block(kept_steps(), 0.25, 4.0, interrupted=False)
    path = tmp_path / "capacity.html"
    path.write_text(report.html_report(block, {"profile": "p", "target": "http://127.0.0.1:1", "thresholds": []}))
    with DevToolsPage(require_browser(), 1400, 2700) as page:
        # the whole page parsed (a wait for the first mark alone read a page still being parsed: two of three)
        page.goto(path.as_uri(), "document.readyState === 'complete'")
        marks = page.evaluate(
            "[...document.querySelectorAll('svg text.mark')].map(t => [t.textContent, getComputedStyle(t).fill])"
        )
        page.screenshot(SCREENSHOTS / "capacity-drops.png")
    assert sorted(text for text, _ in marks) == ["✗ 31 dropped (13 %)", "✗ 68 dropped (20 %)", "✗ 92 dropped (21 %)"]
    assert {fill for _, fill in marks} == {"rgb(220, 38, 38)"}, marks
