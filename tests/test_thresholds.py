"""fixload.metrics.thresholds: k6's grammar, every error case (exit 104), evaluation and abortOnFail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixload.metrics.registry import Registry
from fixload.metrics.thresholds import (
    ThresholdError,
    ThresholdSet,
    abort_triggers,
    parse_delay,
    parse_expression,
    parse_selector,
    should_abort,
)

BASELINE = Path(__file__).resolve().parents[1] / "profiles" / "baseline.json"  # the original, unchanged
FLOWS = ("booking", "chat", "payments", "analytics", "ads")


def flow_registry() -> Registry:
    registry = Registry()
    for flow in FLOWS:
        registry.define(f"{flow}_flow_duration", "trend", contains="time")
        registry.define(f"{flow}_flow_success_rate", "rate")
        registry.define(f"{flow}_flow_failures", "counter")
    return registry


# ------------------------------------------------------------------------------------------ grammar


@pytest.mark.parametrize(
    ("source", "aggregation", "operator", "value", "percentile"),
    [
        ("p(95)<1400", "p(95)", "<", 1400, 95),
        ("p(99.9) <= 2000", "p(99.9)", "<=", 2000, 99.9),
        ("p(0)>0", "p(0)", ">", 0, 0),
        ("p(100)>=1.5", "p(100)", ">=", 1.5, 100),
        ("avg<700", "avg", "<", 700, None),
        ("min == 0", "min", "==", 0, None),
        ("max===5", "max", "===", 5, None),
        ("med!=3", "med", "!=", 3, None),
        ("count>1e3", "count", ">", 1000, None),
        ("rate>0.98", "rate", ">", 0.98, None),
        ("rate<.02", "rate", "<", 0.02, None),
        ("value<-1", "value", "<", -1, None),
        ("  rate\t<\t0.02  ", "rate", "<", 0.02, None),
    ],
)
def test_every_aggregation_and_operator_parses(source, aggregation, operator, value, percentile):
    expr = parse_expression(source)
    assert (expr.aggregation, expr.operator, expr.value, expr.percentile) == (aggregation, operator, value, percentile)
    assert expr.source == source


@pytest.mark.parametrize(
    ("operator", "observed", "expected"),
    [
        ("<", 9, True),
        ("<", 10, False),
        ("<=", 10, True),
        ("<=", 11, False),
        (">", 11, True),
        (">", 10, False),
        (">=", 10, True),
        (">=", 9, False),
        ("==", 10, True),
        ("==", 10.5, False),
        ("===", 10, True),
        ("===", 9, False),
        ("!=", 9, True),
        ("!=", 10, False),
    ],
)
def test_operators_compare_like_k6(operator, observed, expected):
    assert parse_expression(f"avg{operator}10").compare(observed) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("p(95)", "no operator"),
        ("", "no operator"),
        ("<1200", "no aggregation"),
        ("p95<1200", "unknown aggregation"),
        ("average<1200", "unknown aggregation"),
        ("p(95<1200", "unknown aggregation"),
        ("p( 95 )<1200", "malformed percentile"),
        ("p(abc)<1200", "malformed percentile"),
        ("p(101)<1200", "out of range"),
        ("p(95)<", "malformed value"),
        ("p(95)<12ms", "malformed value"),
        ("p(95)<1200 or so", "malformed value"),
        ("rate > inf", "malformed value"),
    ],
)
def test_malformed_expressions(source, message):
    with pytest.raises(ThresholdError, match=message):
        parse_expression(source, 'thresholds["x"][0]')


def test_unknown_aggregation_suggests_the_close_one():
    with pytest.raises(ThresholdError, match="did you mean 'avg'"):
        parse_expression("avgg<700")


def test_selectors_like_k6():
    assert parse_selector("http_req_failed").selector == {}
    one = parse_selector("http_req_duration{scenario:booking_flow}")
    assert (one.metric, one.selector, one.key) == ("http_req_duration", {"scenario": "booking_flow"}, one.key)
    assert one.key == "http_req_duration{scenario:booking_flow}"
    two = parse_selector("http_req_duration{scenario:booking_flow,method:POST}")
    assert two.selector == {"scenario": "booking_flow", "method": "POST"}
    spaced = parse_selector("http_req_duration{ scenario : 'booking_flow' , method:\"POST\" }")
    assert spaced.selector == two.selector and spaced.identity == two.identity
    assert spaced.key == "http_req_duration{scenario : 'booking_flow' , method:\"POST\"}"  # k6 keeps the text
    assert parse_selector("http_reqs{name:http://x/a:b}").selector == {"name": "http://x/a:b"}
    assert parse_selector("http_reqs{expected_response:true,status:200}").selector["status"] == "200"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("http_req_duration{scenario:booking_flow", "unmatched"),
        ("http_req_duration}scenario:booking_flow{", "before the opening"),
        ("http_req_durationscenario:booking_flow}", "unmatched"),
        ("http_req_duration{scenario:booking_flow}x", "after the closing"),
        ("http_req_duration{}", "malformed tag"),
        ("http_req_duration{scenario}", "malformed tag"),
        ("http_req_duration{scenario:}", "malformed tag"),
        ("http_req_duration{:x}", "malformed tag"),
        ("http_req_duration{a:b,,c:d}", "malformed tag"),
        ("http_req_duration{a:b,a:c}", "given twice"),
        ("{a:b}", "no metric name"),
        ("m{a:{b}}", "nested"),
    ],
)
def test_malformed_selectors(key, message):
    with pytest.raises(ThresholdError, match=message) as info:
        parse_selector(key)
    assert info.value.location == f'thresholds["{key}"]'


def test_delay_abort_eval_is_a_k6_duration():
    """fixload.common.durations is the one parser (k6's rules: "10" is 10 ms); a delay must not be negative."""
    assert parse_delay("10s", "d") == 10
    assert parse_delay("1m30s", "d") == 90
    assert parse_delay("1.5m", "d") == 90
    assert parse_delay("0", "d") == 0
    assert parse_delay("10", "d") == 0.01
    assert parse_delay(2500, "d") == 2.5  # a JSON number is milliseconds, as k6
    for bad in ("ten seconds", "10 s", "-1s", "1h2d", "31d", True, None, [], -5):
        with pytest.raises(ThresholdError):
            parse_delay(bad, "d")


# ----------------------------------------------------------------------------- the thresholds block


def test_the_original_baseline_thresholds_parse_and_validate():
    config = json.loads(BASELINE.read_text())["thresholds"]
    ts = ThresholdSet.parse(config, flow_registry())
    assert len(ts) == 17
    assert "http_req_duration{scenario:booking_flow}" in set(ts.keys())
    assert ts.percentiles("booking_flow_duration") == [95]


def test_object_form():
    ts = ThresholdSet.parse(
        {
            "http_req_failed": [
                {"threshold": "rate<0.02", "abortOnFail": True, "delayAbortEval": "10s"},
                {"threshold": "rate<0.5"},
                "rate<0.9",
            ]
        },
        Registry(),
    )
    first, second, third = ts.thresholds
    assert (first.abort_on_fail, first.delay_abort_eval_s, first.expression.source) == (True, 10.0, "rate<0.02")
    assert (second.abort_on_fail, second.delay_abort_eval_s) == (False, None)
    assert third.location == 'thresholds["http_req_failed"][2]'


def test_two_tag_selector_threshold_evaluates_on_the_intersection():
    registry = Registry()
    registry.add("http_req_duration", 100, {"scenario": "booking_flow", "method": "POST"})
    registry.add("http_req_duration", 900, {"scenario": "booking_flow", "method": "GET"})
    registry.add("http_req_duration", 5000, {"scenario": "chat_flow", "method": "POST"})
    ts = ThresholdSet.parse(
        {
            "http_req_duration{scenario:booking_flow,method:POST}": ["max<200"],
            "http_req_duration{scenario:booking_flow}": ["max<200", "max<1000"],
        },
        registry,
    )
    results = {(r.key, r.expression): r for r in ts.evaluate(registry, 10)}
    assert results[("http_req_duration{scenario:booking_flow,method:POST}", "max<200")].ok
    assert results[("http_req_duration{scenario:booking_flow,method:POST}", "max<200")].observed == 100
    assert not results[("http_req_duration{scenario:booking_flow}", "max<200")].ok
    assert results[("http_req_duration{scenario:booking_flow}", "max<1000")].ok


def test_two_spellings_of_one_sub_metric_are_one_key():
    ts = ThresholdSet.parse(
        {"http_req_duration{scenario:booking_flow}": ["p(95)<1"], "http_req_duration{ scenario: booking_flow }": []},
        Registry(),
    )
    assert ts.keys() == ["http_req_duration{scenario:booking_flow}"]


@pytest.mark.parametrize(
    ("config", "location", "message"),
    [
        ({"http_req_duration": "p(95)<1"}, 'thresholds["http_req_duration"]', "must be an array"),
        ({"http_req_duration": {"threshold": "p(95)<1"}}, 'thresholds["http_req_duration"]', "must be an array"),
        ({"http_req_duration": ["p(95)<1", 5]}, 'thresholds["http_req_duration"][1]', "invalid threshold"),
        ({"http_req_duration": ["p95<1"]}, 'thresholds["http_req_duration"][0]', "unknown aggregation"),
        ({"http_req_duration": ["p(95)"]}, 'thresholds["http_req_duration"][0]', "no operator"),
        (
            {"http_req_duration{scenario:booking_flow}": ["avg<1", "count>1"]},
            'thresholds["http_req_duration{scenario:booking_flow}"][1]',
            "not supported by trend",
        ),
        ({"http_reqs": ["p(95)<1"]}, 'thresholds["http_reqs"][0]', "not supported by counter"),
        ({"http_req_failed": ["count<1"]}, 'thresholds["http_req_failed"][0]', "not supported by rate"),
        ({"vus": ["max<1"]}, 'thresholds["vus"][0]', "not supported by gauge"),
        ({"booking_flow_duraton": ["p(95)<1"]}, 'thresholds["booking_flow_duraton"]', "did you mean"),
        ({"nonexistent": []}, 'thresholds["nonexistent"]', 'no metric name "nonexistent" found'),
        ({"http_req_duration{scenario:x": ["p(95)<1"]}, 'thresholds["http_req_duration{scenario:x"]', "unmatched"),
        (
            {"http_req_failed": [{"threshold": "rate<0.02", "abortOnfail": True}]},
            'thresholds["http_req_failed"][0]',
            "did you mean 'abortOnFail'",
        ),
        ({"http_req_failed": [{"abortOnFail": True}]}, 'thresholds["http_req_failed"][0]', "without 'threshold'"),
        (
            {"http_req_failed": [{"threshold": "rate<0.02", "abortOnFail": "yes"}]},
            'thresholds["http_req_failed"][0].abortOnFail',
            "invalid value",
        ),
        (
            {"http_req_failed": [{"threshold": "rate<0.02", "delayAbortEval": "ten"}]},
            'thresholds["http_req_failed"][0].delayAbortEval',
            "invalid duration",
        ),
        (
            {"http_req_failed": [{"threshold": "rate<<0.02"}]},
            'thresholds["http_req_failed"][0].threshold',
            "malformed value",
        ),
    ],
)
def test_each_error_names_where_and_what(config, location, message):
    with pytest.raises(ThresholdError, match=message) as info:
        ThresholdSet.parse(config, flow_registry())
    assert info.value.location == location
    assert str(info.value).startswith(location)


def test_not_an_object():
    with pytest.raises(ThresholdError):
        ThresholdSet.parse(["p(95)<1"])  # type: ignore[arg-type]
    assert len(ThresholdSet.parse(None)) == 0


def test_parse_without_registry_defers_metric_checks():
    ts = ThresholdSet.parse({"later_defined": ["avg<1"]})
    with pytest.raises(ThresholdError, match="no metric name"):
        ts.validate(Registry())


# ------------------------------------------------------------------------------------------ evaluation


def test_evaluation_of_every_aggregation():
    registry = flow_registry()
    for v in (100, 200, 300, 400):
        registry.add("booking_flow_duration", v, {"scenario": "booking_flow"})
    for ok in (True, True, True, False):
        registry.add("booking_flow_success_rate", ok, {"scenario": "booking_flow"})
    registry.add("http_reqs", 1)
    registry.add("http_reqs", 1)
    registry.add("vus", 7)
    ts = ThresholdSet.parse(
        {
            "booking_flow_duration": ["avg==250", "min==100", "max==400", "med==250", "p(50)==250", "p(100)<400"],
            "booking_flow_success_rate": ["rate==0.75", "rate>0.98"],
            "http_reqs": ["count===2", "rate==0.2"],
            "vus": ["value!=7"],
        },
        registry,
    )
    results = [(r.key, r.expression, r.observed, r.ok) for r in ts.evaluate(registry, elapsed_s=10)]
    assert results == [
        ("booking_flow_duration", "avg==250", 250, True),
        ("booking_flow_duration", "min==100", 100, True),
        ("booking_flow_duration", "max==400", 400, True),
        ("booking_flow_duration", "med==250", 250, True),
        ("booking_flow_duration", "p(50)==250", 250, True),
        ("booking_flow_duration", "p(100)<400", 400, False),
        ("booking_flow_success_rate", "rate==0.75", 0.75, True),
        ("booking_flow_success_rate", "rate>0.98", 0.75, False),
        ("http_reqs", "count===2", 2, True),
        ("http_reqs", "rate==0.2", 0.2, True),
        ("vus", "value!=7", 7, False),
    ]


def test_no_samples_behaves_like_k6():
    """k6 v1.1.0: empty Trend/Counter/Gauge evaluate as 0; an empty Rate's thresholds are not failed."""
    registry = flow_registry()
    registry.define("queue_depth", "gauge")
    ts = ThresholdSet.parse(
        {
            "booking_flow_duration": ["p(95)<1200", "avg<1", "med==0", "max>0"],
            "booking_flow_success_rate": ["rate>0.98", "rate<0.02", "rate!=0.5"],
            "booking_flow_failures": ["count<1", "count>1", "rate<1"],
            "queue_depth": ["value<1", "value>1"],
            "http_req_duration{scenario:nonexistent}": ["p(95)<1200", "p(95)>1200"],
        },
        registry,
    )
    final = {(r.key, r.expression): r for r in ts.evaluate(registry, 3.0)}
    failed = sorted(k for k, r in final.items() if not r.ok)
    assert failed == [
        ("booking_flow_duration", "max>0"),
        ("booking_flow_failures", "count>1"),
        ("http_req_duration{scenario:nonexistent}", "p(95)>1200"),
        ("queue_depth", "value>1"),
    ]
    assert all(r.no_samples for r in final.values())
    rate = final[("booking_flow_success_rate", "rate>0.98")]
    assert rate.observed is None and rate.ok
    # during the run, nothing with no samples is evaluated at all (so nothing can abort)
    assert ts.evaluate(registry, 3.0, final=False) == []


def test_abort_on_fail_honours_delay_abort_eval():
    registry = Registry()
    registry.add("http_req_failed", True)
    ts = ThresholdSet.parse(
        {
            "http_req_failed": [
                {"threshold": "rate<0.02", "abortOnFail": True, "delayAbortEval": "10s"},
                "rate<0.01",
            ],
            "http_req_duration": [{"threshold": "p(95)<1", "abortOnFail": True}],
        },
        registry,
    )
    early = ts.evaluate(registry, 5.0, final=False)
    assert [r.key for r in early] == ["http_req_failed", "http_req_failed"]  # empty http_req_duration skipped
    assert not should_abort(early, 5.0)
    assert not should_abort(ts.evaluate(registry, 10.0, final=False), 10.0)  # k6: delay must be < elapsed
    late = ts.evaluate(registry, 10.5, final=False)
    triggers = abort_triggers(late, 10.5)
    assert [(t.expression, t.delay_abort_eval_s) for t in triggers] == [("rate<0.02", 10.0)]
    registry.add("http_req_duration", 50)
    now = ts.evaluate(registry, 1.0, final=False)
    assert [t.key for t in abort_triggers(now, 1.0)] == ["http_req_duration"]  # no delay: at once


def test_result_as_dict():
    registry = Registry()
    registry.add("http_req_failed", False)
    (result,) = ThresholdSet.parse({"http_req_failed": ["rate<0.02"]}, registry).evaluate(registry, 1)
    assert result.to_dict() == {
        "metric": "http_req_failed",
        "expression": "rate<0.02",
        "aggregation": "rate",
        "observed": 0.0,
        "ok": True,
        "abortOnFail": False,
        "delayAbortEval": None,
        "noSamples": False,
    }
