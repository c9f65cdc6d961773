"""What a running test looks like right now, and how it looked over time: one source for every operator surface.

The web UI tabs, the headless progress line, Prometheus' VU/rate gauges and the HTML report's plots all
read the same `Live` object, kept on the master (or the local runner) only:

- `status()`: per scenario the executor, the target rate now vs the achieved rate (iterations started per
  second over the last few seconds), VUs busy/allocated/max, scheduled/started/dropped/completed, and
  every threshold with its observed value so far (pending while it has no samples);
- `points`: a sample every `SAMPLE_INTERVAL` seconds of plan time (target vs achieved iterations/s, p95
  latency over the last intervals, dropped iterations) for the HTML report, and for `fixload compare` the
  interval's own requests and p50/p95/p99, and the started, completed and failed iterations so far; and the
  flow's duration p95 and average over the same last intervals (`<flow>_duration`, what thresholds judge),
  taken from the registry as what it gained since the previous sample (`_gained`).

Counts come from the engine (local runner) or the workers' reports (master), which arrive every 3 s; rates
are therefore taken over a trailing window of at least two reports (`RATE_WINDOW_MASTER`) on a master.
Windowed p95 is what the registry gained between two samples (`_gained`): it keeps no copy of its own,
so recording a request costs nothing here, and the numbers are the registry's, on a local runner as on a
master (which merges the workers' deltas). The object keeps references to the test's engine/state, so the
numbers survive the role forgetting the test at `test_stop`. `install` builds it once, at init, and the
plugin hands it to the surfaces.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gevent

from fixload.metrics.sinks import TrendSink, store_delta
from fixload.metrics.thresholds import Threshold
from fixload.report.timeseries import encode as encode_series
from fixload.runtime.state import Runtime

SAMPLE_INTERVAL = 2.0
RATE_WINDOW_LOCAL = 4.0
RATE_WINDOW_MASTER = 7.0
P95_INTERVALS = 2
"""Windowed p95 merges this many sample intervals (a master hears from each worker every 3 s)."""


class Live:
    """The live view of one environment's current (or last) test."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.environment = runtime.environment
        self.state: Any = None
        self.engine: Any = None
        self.plan: Any = None
        self.running = False
        self.points: list[dict[str, Any]] = []
        self.history: deque[tuple[float, dict[str, dict[str, int]]]] = deque(maxlen=64)
        self.seen: dict[str, dict[str, Any]] = {}
        """Each series the windows are taken from, as the registry had it at the previous sample (a snapshot)."""
        self.windows: deque[dict[str, TrendSink]] = deque(maxlen=P95_INTERVALS)
        """Per scenario, the `http_req_duration` samples of each of the last intervals."""
        self.flow_windows: deque[dict[str, TrendSink]] = deque(maxlen=P95_INTERVALS)
        """Per scenario, the `<flow>_duration` samples of each of the last intervals (what thresholds judge)."""
        self.greenlet: gevent.Greenlet | None = None
        self.tasks: list[gevent.Greenlet] = []
        """Other surfaces' per-test greenlets (the progress printer): killed when the test ends."""
        self.last_status: dict[str, Any] | None = None
        self.final_sampled = False
        """The summary took the last sample (`series`): `end` does not take another."""

    # -- lifecycle
    def begin(self) -> None:
        state = self.runtime.test
        if state is None:
            return
        self.kill()
        self.state = state
        self.plan = state.plan
        self.engine = self.runtime.engine
        self.running = True
        self.points = []
        self.history.clear()
        self.history.append((0.0, {}))
        self.seen = {}
        self.windows.clear()
        self.flow_windows.clear()
        self.last_status = None
        self.final_sampled = False
        self.greenlet = gevent.spawn(self._loop)

    def end(self) -> None:
        if not self.running:
            return
        if not self.final_sampled:
            self.sample()
        final = self.status()
        self.running = False
        self.kill()
        final["state"] = "stopped"
        if self.runtime.lifecycle.summary:
            final["thresholds"] = summary_thresholds(self.runtime)
            final["failing"] = sum(1 for t in final["thresholds"] if t["ok"] is False)
        self.last_status = final

    def kill(self) -> None:
        current = gevent.getcurrent()
        for greenlet in [self.greenlet, *self.tasks]:
            if greenlet is not None and greenlet is not current:
                greenlet.kill(block=False)
        self.greenlet = None
        self.tasks = []

    def _loop(self) -> None:
        # Sample on plan time (monotonic): k * interval, so points line up across runs.
        k = 1
        while self.running:
            gevent.sleep(max(0.0, k * SAMPLE_INTERVAL - self.state.plan_time()))
            if not self.running or self.final_sampled:
                return
            self.sample()
            k = max(k + 1, int(self.state.plan_time() // SAMPLE_INTERVAL) + 1)

    def series(self) -> dict[str, Any]:
        """The time series for the summary (`fixload.report.timeseries`), ending with a sample taken now if the
        test is still being sampled: the summary is written before `end` at test_stop."""
        if self.running and not self.final_sampled:
            self.sample()
            self.final_sampled = True
        return encode_series(self.points, SAMPLE_INTERVAL)

    # -- inputs
    # -- clock and counts
    def elapsed(self) -> float:
        if self.state is None or self.state.clock is None:
            return 0.0
        return max(0.0, self.state.plan_time())

    def counts(self) -> dict[str, dict[str, int]]:
        if self.engine is not None:
            return self.engine.counts()
        return {} if self.state is None else self.state.totals()

    def _rate_window(self) -> float:
        return RATE_WINDOW_MASTER if self.runtime.role.counts_arrive_in_reports else RATE_WINDOW_LOCAL

    # -- sampling
    def sample(self) -> dict[str, Any] | None:
        """Record one point of the time series (every SAMPLE_INTERVAL seconds while the test runs)."""
        if self.plan is None:
            return None
        now = self.elapsed()
        counts = self.counts()
        self.runtime.registry.fold()  # no sample waits in a sink's buffer longer than an interval
        scenarios = self.plan.scenarios
        closed = {name: self._window_of("http_req_duration", name) for name in scenarios}
        self.windows.append(closed)
        self.flow_windows.append(
            {name: self._window_of(f"{s.flow or name}_duration", name) for name, s in scenarios.items()}
        )
        point: dict[str, Any] = {"t": round(now, 3), "scenarios": {}}
        for name, scenario in self.plan.scenarios.items():
            c = counts.get(name, {})
            achieved, since = self._achieved(name, now, counts)
            point["scenarios"][name] = {
                "target": _round(self._target(scenario, since, now)),
                "achieved": _round(achieved),
                "p95": _round(self._window_p95(name)),
                "dropped": int(c.get("dropped", 0)),
                "started": int(c.get("started", 0)),
                "completed": int(c.get("completed", 0)),
                "failed": self._failed(name, scenario.flow),
                "vus": int(self._vus(scenario, c, now)[0]),
                **_interval_latency(closed.get(name)),
                **self._flow_duration(name),
            }
        self.history.append((now, counts))
        self.points.append(point)
        return point

    def _achieved(self, scenario: str, now: float, counts: dict[str, dict[str, int]]) -> tuple[float | None, float]:
        """Iterations started per second from the earliest sample inside the trailing window up to `now`
        (`counts`: the counts now), and where that window begins."""
        candidates = list(self.history)
        if not candidates:
            return None, now
        window = self._rate_window()
        base_t, base = candidates[-1]
        for t, sample in candidates:  # oldest first: the earliest sample still inside the window
            if now - t <= window + 1e-6:
                base_t, base = t, sample
                break
        span = now - base_t
        if span <= 0.5:
            return None, now
        started = counts.get(scenario, {}).get("started", 0) - base.get(scenario, {}).get("started", 0)
        return max(0.0, started / span), base_t

    def _target(self, scenario: Any, since: float, now: float) -> float | None:
        """The scheduled iterations/s averaged over [since, now] in plan time (None for VU executors)."""
        if not scenario.is_arrival_rate:
            return None
        if now <= since:
            return scenario.scenario.rate_at(now - scenario.start)
        steps = 8
        total = 0.0
        for i in range(steps):
            t = since + (now - since) * (i + 0.5) / steps
            total += scenario.scenario.rate_at(t - scenario.start)
        return total / steps

    def _failed(self, scenario: str, flow: str | None) -> int:
        """Failed iterations of the scenario so far: the fails of its flow's success rate (cumulative)."""
        registry = self.runtime.registry
        metric = f"{flow or scenario}_success_rate"
        selector = {"scenario": scenario}
        if registry is None or registry.get(metric) is None or not registry.has_samples(metric, selector):
            return 0
        return int(getattr(registry.aggregate(metric, selector), "fails", 0))

    def _window_of(self, metric: str, scenario: str) -> TrendSink:
        """The scenario's `metric` samples the registry gained since the previous sample, series by series
        (each series' samples are appended in order; a merge of several would interleave them). The live
        view keeps no copy of its own: the recorder and the workers' deltas feed the registry alone."""
        registry = self.runtime.registry
        gained = TrendSink()
        if registry is None or registry.get(metric) is None:
            return gained
        for series in registry.series(metric):
            if series.tags.get("scenario") != scenario or not isinstance(series.sink, TrendSink):
                continue
            key = f"{metric}\0{sorted(series.tags.items())}"
            now = series.sink.snapshot()
            gained.merge(_gained(self.seen.get(key), now))
            self.seen[key] = now
        return gained

    def _flow_duration(self, scenario: str) -> dict[str, float | None]:
        """The flow's duration p95 and average over the last P95_INTERVALS intervals (ms), None without any."""
        merged = TrendSink()
        for window in self.flow_windows:
            sink = window.get(scenario)
            if sink is not None:
                merged.merge(sink)
        if merged.is_empty:
            return {"fp95": None, "favg": None}
        return {"fp95": _round(merged.percentile(95)), "favg": _round(merged.avg)}

    def _window_p95(self, scenario: str) -> float | None:
        merged = TrendSink()
        for window in self.windows:
            sink = window.get(scenario)
            if sink is not None:
                merged.merge(sink)
        return None if merged.is_empty else merged.percentile(95)

    def _vus(self, scenario: Any, c: dict[str, int], now: float) -> tuple[int, int, int]:
        """(busy, allocated, max) VUs: arrival executors allocate up to maxVUs; VU executors run their target."""
        _, most = scenario.vus
        busy = int(c.get("active", 0))
        if scenario.is_arrival_rate:
            return busy, int(c.get("allocated", 0)), most
        local = now - scenario.start
        if local < 0 or now >= scenario.end:
            return busy, 0, most
        return busy, scenario.scenario.vus_at(local), most

    # -- status
    def status(self) -> dict[str, Any]:
        """The test now: scenarios and thresholds as plain JSON-able data (no secrets: only counts and names)."""
        if not self.running and self.last_status is not None:
            return self.last_status
        run = self.runtime
        plan = self.plan if self.plan is not None else (run.config.plan if run.config is not None else None)
        now = self.elapsed() if self.running else 0.0
        counts = self.counts() if self.running else {}
        scenarios = []
        if plan is not None:
            for name, scenario in plan.scenarios.items():
                c = counts.get(name, {})
                achieved, since = self._achieved(name, now, counts) if self.running else (None, now)
                busy, allocated, most = self._vus(scenario, c, now)
                target_now = None
                if scenario.is_arrival_rate:
                    target_now = scenario.scenario.rate_at(now - scenario.start)
                scenarios.append(
                    {
                        "name": name,
                        "flow": scenario.flow,
                        "executor": scenario.executor,
                        "targetRate": _round(target_now) if self.running else None,
                        "targetRateWindow": _round(self._target(scenario, since, now)) if self.running else None,
                        "achievedRate": _round(achieved),
                        "vusBusy": busy,
                        "vusAllocated": allocated,
                        "vusMax": most,
                        "scheduled": c.get("scheduled", 0) if scenario.is_arrival_rate else None,
                        "started": c.get("started", 0),
                        "dropped": c.get("dropped", 0),
                        "completed": c.get("completed", 0),
                        "interrupted": c.get("interrupted", 0),
                        "p95Ms": _round(self._window_p95(name)),
                        "startSeconds": scenario.start,
                        "endSeconds": scenario.end,
                    }
                )
        thresholds = live_thresholds(run, now) if self.running else summary_thresholds(run)
        workers = len(run.role.workers())
        return {
            "state": "running" if self.running else ("stopped" if run.lifecycle.summary else "ready"),
            "profile": plan.profile.profile if plan is not None else None,
            "multiplier": plan.multiplier if plan is not None else None,
            "elapsed": round(now, 3),
            "duration": plan.nominal_duration if plan is not None else None,
            "maxDuration": plan.duration if plan is not None else None,
            "workers": workers,
            "scenarios": scenarios,
            "thresholds": thresholds,
            "failing": sum(1 for t in thresholds if t["ok"] is False),
        }


def _gained(before: dict[str, Any] | None, now: dict[str, Any]) -> TrendSink:
    """The samples a trend gained between two of its snapshots (`TrendSink.snapshot`, cumulative): exactly
    while both keep their samples (appended in order), else the sketch's bins subtracted bin by bin."""
    sink = TrendSink()
    seen = int(before["n"]) if before and before.get("n") else 0
    if int(now.get("n") or 0) < seen:  # the registry was reset in between: all of it is new
        before, seen = None, 0
    gained = int(now.get("n") or 0) - seen
    if gained <= 0:
        return sink
    exact_now, exact_before = now.get("exact"), (before or {}).get("exact", [])
    if exact_now is not None and exact_before is not None:
        for value in exact_now[seen:]:
            sink.add(value)
        return sink
    stores = {side: store_delta(now.get(side) or [], (before or {}).get(side) or []) for side in ("pos", "neg")}
    delta = {
        "n": gained,
        "sum": float(now["sum"]) - float((before or {}).get("sum") or 0.0),
        "min": float(now["min"]),  # the window's own extremes are unknown; these bound them (percentile clamps)
        "max": float(now["max"]),
        "exact": None,
        "zero": int(now.get("zero") or 0) - int((before or {}).get("zero") or 0),
        **stores,
    }
    sink.merge_snapshot(delta)
    return sink


def _interval_latency(sink: TrendSink | None) -> dict[str, Any]:
    """One interval's own requests and latency quantiles (what `fixload compare` resamples)."""
    if sink is None or sink.is_empty:
        return {"requests": 0, "q50": None, "q95": None, "q99": None}
    return {"requests": int(sink.count), **{f"q{p}": _round(sink.percentile(p)) for p in (50, 95, 99)}}


def live_thresholds(run: Runtime, elapsed: float) -> list[dict[str, Any]]:
    """Every threshold of the profile with its value so far; `ok` is None while it has no samples."""
    thresholds = run.thresholds
    if thresholds is None:
        return []
    results = {(r.key, r.expression): r for r in thresholds.evaluate(run.registry, max(elapsed, 1e-9), final=False)}
    out = []
    for t in thresholds.thresholds:
        r = results.get((t.key, t.expression.source))
        out.append(
            {
                "metric": t.key,
                "expression": t.expression.source,
                "observed": None if r is None else _round(r.observed, 6),
                "ok": None if r is None else bool(r.ok),
                "abortOnFail": bool(t.abort_on_fail),
                **_value_kind(run, t),
            }
        )
    return out


def _value_kind(run: Runtime, threshold: Threshold) -> dict[str, Any]:
    """What an observed value is (aggregation, metric type, what it contains), so surfaces can give its unit."""
    metric = run.registry.get(threshold.selector.metric)
    return {
        "aggregation": threshold.expression.aggregation,
        "metricType": str(metric.type) if metric else None,
        "contains": str(metric.contains) if metric else None,
    }


def summary_thresholds(run: Runtime) -> list[dict[str, Any]]:
    """The final thresholds from the last summary (or the profile's, pending, before any test)."""
    summary = run.lifecycle.summary
    if summary:
        return [
            {
                "metric": t["metric"],
                "expression": t["expression"],
                "observed": t.get("observed"),
                "ok": t.get("ok"),
                "abortOnFail": t.get("abortOnFail", False),
                "noSamples": bool(t.get("noSamples")),
                "aggregation": t.get("aggregation"),
                "metricType": t.get("metricType"),
                "contains": t.get("contains"),
            }
            for t in summary["fixload"].get("thresholds", [])
        ]
    thresholds = run.thresholds
    if thresholds is None:
        return []
    return [
        {
            "metric": t.key,
            "expression": t.expression.source,
            "observed": None,
            "ok": None,
            "abortOnFail": t.abort_on_fail,
            **_value_kind(run, t),
        }
        for t in thresholds.thresholds
    ]


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None:
        return None
    return round(float(value), digits)


# ----------------------------------------------------------------------------------------- wiring


def install(runtime: Runtime) -> Live:
    """The live view of this run, kept on the master/local runner (a worker's is never fed); called once at
    init by `fixload.plugin`, which hands it to the surfaces."""
    live = Live(runtime)
    if not runtime.role.leads:
        return live
    runtime.time_series = live.series
    events = runtime.environment.events

    def on_test_start(**_: Any) -> None:
        live.begin()

    def on_test_stop(**_: Any) -> None:
        live.end()

    events.test_start.add_listener(on_test_start)
    events.test_stop.add_listener(on_test_stop)
    return live
