"""k6's threshold grammar, validated before any traffic and evaluated against a metrics Registry.

A profile's ``thresholds`` block is k6's, unchanged (k6 ``metrics/thresholds_parser.go``): keys are
``metric`` or ``metric{tag:value}``, values ``aggregation operator number`` or the object form with
``abortOnFail``/``delayAbortEval``. Which aggregations a metric type allows is k6's table
(``fixload.metrics.registry.AGGREGATIONS``). Stricter than k6 on purpose where k6 is silent (an unknown
key in the object form, a percentile outside 0..100, a tag named twice): every error is a
``ThresholdError`` with a JSON-path-like location, and callers exit 104. Series with no samples are
evaluated as k6 v1.1.0 does, and marked ``no_samples`` so the summary can say so.

The grammar and the no-samples rules in full: docs/design-notes.md#metrics-thresholds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fixload.common.durations import DurationError, duration_bound_error, parse_duration
from fixload.metrics.registry import Registry
from fixload.metrics.sinks import AGGREGATIONS, MetricType, Sink

OPERATORS: tuple[str, ...] = ("<=", "<", ">=", ">", "===", "==", "!=")  # k6's scan order: longest first
AGGREGATION_NAMES: tuple[str, ...] = ("value", "count", "rate", "avg", "min", "med", "max", "p(N)")
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_PERCENTILE_RE = re.compile(r"^p\((?P<n>[^()]*)\)$")
_OBJECT_KEYS = ("threshold", "abortOnFail", "delayAbortEval")


class ThresholdError(ValueError):
    """An invalid threshold, naming where (``thresholds["key"][1]``) and what was expected."""

    def __init__(self, location: str, message: str, expected: str | None = None) -> None:
        self.location = location
        self.message = message
        self.expected = expected
        text = f"{location}: {message}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class ThresholdErrors(ThresholdError):
    """Several invalid thresholds, one line each (the first one's location is this error's location)."""

    def __init__(self, errors: Sequence[ThresholdError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.location, first.message, first.expected)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])


def location_of(key: str, index: int | None = None, field_name: str | None = None) -> str:
    out = f'thresholds["{key}"]'
    if index is not None:
        out += f"[{index}]"
    if field_name is not None:
        out += f".{field_name}"
    return out


def parse_delay(value: Any, where: str) -> float:
    """``delayAbortEval``: a k6 duration (the one parser, fixload.common.durations) that must not be negative."""
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise ThresholdError(where, f"invalid duration {value!r}", str(exc).removeprefix("expected ")) from None
    problem = duration_bound_error(seconds)
    if problem:
        raise ThresholdError(where, f"invalid duration {value!r}: {problem}")
    if seconds < 0:
        raise ThresholdError(where, f"invalid duration {value!r}", "a non-negative duration")
    return seconds


# ------------------------------------------------------------------------------------------ selectors


@dataclass(frozen=True)
class Selector:
    """``metric{tag:value,...}``: the metric and the tags a series must carry (a k6 sub-metric)."""

    metric: str
    tags: tuple[tuple[str, str], ...] = ()
    key: str = ""

    @property
    def selector(self) -> dict[str, str]:
        return dict(self.tags)

    @property
    def identity(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return (self.metric, frozenset(self.tags))


def parse_selector(key: str) -> Selector:
    """Parse a threshold key the way k6's ParseMetricName/AddSubmetric do; raise ThresholdError if malformed."""
    where = location_of(key)
    if not isinstance(key, str) or not key:
        raise ThresholdError(where, "empty metric name", "metric or metric{tag:value}")
    opening = key.find("{")
    closing = key.rfind("}")
    if opening == -1 and closing == -1:
        return Selector(key, (), key)
    if opening == -1 or closing == -1:
        raise ThresholdError(where, "unmatched curly brace in the metric selector", "metric{tag:value,...}")
    if closing < opening:
        raise ThresholdError(where, "closing curly brace before the opening one", "metric{tag:value,...}")
    if closing != len(key) - 1:
        raise ThresholdError(where, "text after the closing curly brace", "metric{tag:value,...}")
    metric = key[:opening]
    inner = key[opening + 1 : closing]
    if not metric:
        raise ThresholdError(where, "no metric name before '{'", "metric{tag:value,...}")
    if "{" in inner or "}" in inner:
        raise ThresholdError(where, "nested curly braces in the metric selector", "metric{tag:value,...}")
    tags: dict[str, str] = {}
    for part in inner.split(","):
        name, sep, value = part.partition(":")
        name = name.strip().strip("\"'")
        value = value.strip().strip("\"'")
        if not sep or not name or not value:
            raise ThresholdError(
                where, f"malformed tag expression {part.strip()!r} in the metric selector", "tag:value pairs"
            )
        if name in tags and tags[name] != value:
            raise ThresholdError(where, f"tag {name!r} given twice with different values", "each tag once")
        tags[name] = value
    return Selector(metric, tuple(sorted(tags.items())), f"{metric}{{{inner.strip()}}}")


# ----------------------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expression:
    """``aggregation operator value``, e.g. p(99.9) < 200; ``aggregation`` is normalized ("p(99.9)")."""

    source: str
    aggregation: str
    operator: str
    value: float
    percentile: float | None = None

    @property
    def method(self) -> str:
        """The aggregation method as k6's table names it: "p" for any percentile."""
        return "p" if self.percentile is not None else self.aggregation

    def compare(self, observed: float) -> bool:
        op = self.operator
        if op == "<":
            return observed < self.value
        if op == "<=":
            return observed <= self.value
        if op == ">":
            return observed > self.value
        if op == ">=":
            return observed >= self.value
        if op in ("==", "==="):
            return observed == self.value
        return observed != self.value


def parse_expression(source: Any, where: str = "threshold") -> Expression:
    if not isinstance(source, str):
        raise ThresholdError(where, f"threshold expression must be a string, got {source!r}", '"p(95)<1200"')
    for op in OPERATORS:
        lhs, sep, rhs = source.partition(op)
        if sep:
            break
    else:
        raise ThresholdError(
            where, f"malformed threshold expression {source!r}: no operator", "aggregation operator value"
        )
    lhs, rhs = lhs.strip(), rhs.strip()
    percentile: float | None = None
    match = _PERCENTILE_RE.match(lhs)
    if match:
        n = match.group("n")
        if not _NUMBER_RE.match(n):
            raise ThresholdError(where, f"malformed percentile {lhs!r} in {source!r}", "p(N) with N a number")
        percentile = float(n)
        if not 0.0 <= percentile <= 100.0:
            raise ThresholdError(where, f"percentile {lhs!r} out of range in {source!r}", "p(N) with 0 <= N <= 100")
        aggregation = f"p({percentile:g})"
    elif lhs in AGGREGATION_NAMES[:-1]:
        aggregation = lhs
    elif not lhs:
        raise ThresholdError(where, f"malformed threshold expression {source!r}: no aggregation", "p(95)<1200")
    else:
        hint = difflib.get_close_matches(lhs, [*AGGREGATION_NAMES[:-1], "p(95)"], n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ThresholdError(
            where, f"unknown aggregation {lhs!r} in {source!r}{extra}", "one of " + ", ".join(AGGREGATION_NAMES)
        )
    if not _NUMBER_RE.match(rhs):
        raise ThresholdError(where, f"malformed value {rhs!r} in {source!r}", "a number after the operator")
    return Expression(source, aggregation, op, float(rhs), percentile)


# ---------------------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Threshold:
    selector: Selector
    expression: Expression
    abort_on_fail: bool = False
    delay_abort_eval_s: float | None = None
    location: str = ""

    @property
    def key(self) -> str:
        """The (sub-)metric name the summary uses, e.g. ``http_req_duration{scenario:booking_flow}``."""
        return self.selector.key


@dataclass(frozen=True)
class ThresholdResult:
    key: str
    metric: str
    tags: dict[str, str]
    expression: str
    aggregation: str
    observed: float | None
    ok: bool
    abort_on_fail: bool
    delay_abort_eval_s: float | None
    no_samples: bool
    location: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.key,
            "expression": self.expression,
            "aggregation": self.aggregation,
            "observed": self.observed,
            "ok": self.ok,
            "abortOnFail": self.abort_on_fail,
            "delayAbortEval": self.delay_abort_eval_s,
            "noSamples": self.no_samples,
        }


def _parse_item(selector: Selector, key: str, index: int, item: Any) -> Threshold:
    where = location_of(key, index)
    if isinstance(item, str):
        return Threshold(selector, parse_expression(item, where), False, None, where)
    if not isinstance(item, Mapping):
        raise ThresholdError(where, f"invalid threshold {item!r}", 'a string like "p(95)<1200" or {"threshold": ...}')
    unknown = sorted(set(item) - set(_OBJECT_KEYS))
    if unknown:
        hint = difflib.get_close_matches(str(unknown[0]), _OBJECT_KEYS, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ThresholdError(where, f"unknown key {unknown[0]!r}{extra}", "threshold, abortOnFail, delayAbortEval")
    if "threshold" not in item:
        raise ThresholdError(where, "object form without 'threshold'", '{"threshold": "p(95)<1200", ...}')
    expression = parse_expression(item["threshold"], location_of(key, index, "threshold"))
    abort = item.get("abortOnFail", False)
    if not isinstance(abort, bool):
        raise ThresholdError(location_of(key, index, "abortOnFail"), f"invalid value {abort!r}", "true or false")
    delay_raw = item.get("delayAbortEval")
    delay = None if delay_raw is None else parse_delay(delay_raw, location_of(key, index, "delayAbortEval"))
    return Threshold(selector, expression, abort, delay, where)


def _same(a: Threshold, b: Threshold) -> bool:
    return (a.key, a.expression.source, a.abort_on_fail, a.delay_abort_eval_s) == (
        b.key,
        b.expression.source,
        b.abort_on_fail,
        b.delay_abort_eval_s,
    )


class ThresholdSet:
    """The thresholds of a run: parsed, validated against the metric registry, evaluated on demand."""

    def __init__(self, thresholds: Sequence[Threshold], declared: Mapping[str, Selector] | None = None) -> None:
        self.thresholds: list[Threshold] = list(thresholds)
        # Every key of the block, even one with an empty array: k6 still checks its metric exists and
        # shows the sub-metric in the summary.
        self.declared: dict[str, Selector] = dict(declared or {t.key: t.selector for t in self.thresholds})

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None, registry: Registry | None = None) -> ThresholdSet:
        """Parse k6's thresholds block; with a registry, also check metrics exist and allow the aggregation.
        Raises ThresholdError: the only problem, or a ThresholdErrors listing every one."""
        parsed, problems = cls.check(config, registry)
        if problems:
            raise problems[0] if len(problems) == 1 else ThresholdErrors(problems)
        return parsed

    @classmethod
    def check(
        cls, config: Mapping[str, Any] | None, registry: Registry | None = None, skip: Iterable[str] = ()
    ) -> tuple[ThresholdSet, list[ThresholdError]]:
        """Every problem of the block at once (each naming its location), and the valid part of it.
        `skip`: keys another check already reported (the profile schema), so nothing is said twice."""
        if config is None:
            return cls([]), []
        if not isinstance(config, Mapping):
            return cls([]), [
                ThresholdError("thresholds", f"invalid thresholds block {config!r}", "an object of metric: [...]")
            ]
        problems: list[ThresholdError] = []
        skipped = set(skip)
        selectors: dict[str, Selector] = {}
        for key in sorted(config):
            try:
                selectors[key] = parse_selector(key)
            except ThresholdError as exc:
                problems.append(exc)
        # Two spellings of one sub-metric ("{a:b}" and "{ a : 'b' }") are one sub-metric in k6; it keeps
        # whichever came first, we keep the shortest spelling so the summary key does not depend on order.
        canonical: dict[tuple[str, frozenset[tuple[str, str]]], str] = {}
        for selector in sorted(selectors.values(), key=lambda s: (len(s.key), s.key)):
            canonical.setdefault(selector.identity, selector.key)
        parsed: list[Threshold] = []
        declared: dict[str, Selector] = {}
        for key, selector in selectors.items():
            selector = Selector(selector.metric, selector.tags, canonical[selector.identity])
            declared[selector.key] = selector
            if key in skipped:
                continue
            items = config[key]
            if not isinstance(items, list | tuple):
                problems.append(
                    ThresholdError(
                        location_of(key), f"thresholds must be an array, got {items!r}", '["p(95)<1200", ...]'
                    )
                )
                continue
            for i, item in enumerate(items):
                try:
                    threshold = _parse_item(selector, key, i, item)
                except ThresholdError as exc:
                    problems.append(exc)
                    continue
                if not any(_same(threshold, other) for other in parsed):  # one spelling's copy of another's
                    parsed.append(threshold)
        out = cls(parsed, declared)
        if registry is not None:
            problems += out.problems(registry)
        return out, problems

    def validate(self, registry: Registry) -> None:
        """Every metric must exist and support the aggregation (k6's table); raise ThresholdError if not."""
        problems = self.problems(registry)
        if problems:
            raise problems[0] if len(problems) == 1 else ThresholdErrors(problems)

    def problems(self, registry: Registry) -> list[ThresholdError]:
        """Metrics that do not exist (k6: `no metric name "X" found`) and aggregations a metric type lacks."""
        out: list[ThresholdError] = []
        names = [m.name for m in registry.metrics()]
        for key, selector in self.declared.items():
            if registry.get(selector.metric) is None:
                hint = difflib.get_close_matches(selector.metric.strip(), names, n=1, cutoff=0.6)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                out.append(
                    ThresholdError(
                        location_of(key),
                        f'no metric name "{selector.metric}" found{extra}',
                        "a built-in metric or one the loaded flows define",
                    )
                )
        for t in self.thresholds:
            metric = registry.get(t.selector.metric)
            if metric is None:
                continue
            allowed = AGGREGATIONS[metric.type]
            if t.expression.method not in allowed:
                shown = ", ".join("p(N)" if a == "p" else a for a in allowed)
                out.append(
                    ThresholdError(
                        t.location,
                        f"aggregation {t.expression.aggregation!r} in {t.expression.source!r} is not supported by "
                        f"{metric.type} metric {metric.name!r}",
                        f"one of {shown}",
                    )
                )
        return out

    # -- what the summary needs

    def keys(self) -> list[str]:
        """The (sub-)metric keys of the thresholds block, sorted."""
        return sorted(self.declared)

    def selectors(self) -> dict[str, Selector]:
        return dict(self.declared)

    def percentiles(self, key: str) -> list[float]:
        """Percentiles (0..100) the thresholds on ``key`` use, so the summary can show them."""
        return sorted(
            {t.expression.percentile for t in self.thresholds if t.key == key and t.expression.percentile is not None}
        )

    def __len__(self) -> int:
        return len(self.thresholds)

    def __iter__(self) -> Any:
        return iter(self.thresholds)

    # -- evaluation

    def evaluate(self, registry: Registry, elapsed_s: float, *, final: bool = True) -> list[ThresholdResult]:
        """Evaluate every threshold. With final=False (the periodic check during a run) a (sub-)metric with
        no samples is skipped, as k6 does; at the end it is evaluated as described in the module docstring."""
        sinks: dict[str, tuple[Sink, MetricType]] = {}
        results: list[ThresholdResult] = []
        for t in self.thresholds:
            if t.key not in sinks:
                metric = registry.get(t.selector.metric)
                if metric is None:
                    raise ThresholdError(t.location, f'no metric name "{t.selector.metric}" found')
                sinks[t.key] = (registry.aggregate(t.selector.metric, t.selector.selector), metric.type)
            sink, _ = sinks[t.key]
            empty = sink.is_empty
            if empty and not final:
                continue
            observed = sink.compute(t.expression.aggregation, elapsed_s)
            ok = True if observed is None else t.expression.compare(observed)
            results.append(
                ThresholdResult(
                    key=t.key,
                    metric=t.selector.metric,
                    tags=t.selector.selector,
                    expression=t.expression.source,
                    aggregation=t.expression.aggregation,
                    observed=observed,
                    ok=ok,
                    abort_on_fail=t.abort_on_fail,
                    delay_abort_eval_s=t.delay_abort_eval_s,
                    no_samples=empty,
                    location=t.location,
                )
            )
        return results


def abort_triggers(results: Iterable[ThresholdResult], elapsed_s: float) -> list[ThresholdResult]:
    """The failed thresholds that stop the run now: abortOnFail, and delayAbortEval (if any) already
    elapsed -- k6 aborts when the delay is strictly less than the time spent in the test."""
    return [
        r
        for r in results
        if not r.ok and r.abort_on_fail and (r.delay_abort_eval_s is None or r.delay_abort_eval_s < elapsed_s)
    ]


def should_abort(results: Iterable[ThresholdResult], elapsed_s: float) -> bool:
    return bool(abort_triggers(results, elapsed_s))


__all__ = [
    "Expression",
    "Selector",
    "Threshold",
    "ThresholdError",
    "ThresholdErrors",
    "ThresholdResult",
    "ThresholdSet",
    "abort_triggers",
    "parse_delay",
    "parse_expression",
    "parse_selector",
    "should_abort",
]
