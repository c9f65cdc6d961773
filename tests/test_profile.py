"""The profile model: every executor with k6's defaults, and malformed profiles reported by JSON path (exit 104)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixload.cli import main as cli
from fixload.engine.constant_arrival_rate import ConstantArrivalRate
from fixload.engine.constant_vus import ConstantVUs
from fixload.engine.per_vu_iterations import PerVUIterations
from fixload.engine.ramping_arrival_rate import RampingArrivalRate
from fixload.engine.ramping_vus import RampingVUs
from fixload.engine.shared_iterations import SharedIterations
from fixload.profile.schema import ProfileError, load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PATH = ROOT / "profiles" / "baseline.json"
REFERENCE = Path("/work/shared/reference/baseline.json")
BASELINE: dict = json.loads(BASELINE_PATH.read_text(encoding="utf-8"))


def with_scenario(options: dict, name: str = "chat_flow") -> dict:
    return {"scenarios": {name: options}}


def only(options: dict):
    return parse_profile(with_scenario(options)).scenarios["chat_flow"]


# --- the original profile -------------------------------------------------------------------------


def test_baseline_is_byte_for_byte_the_original():
    if not REFERENCE.is_file():
        pytest.skip("the shared reference copy is not available here")
    assert BASELINE_PATH.read_bytes() == REFERENCE.read_bytes()


def test_baseline_loads_unchanged():
    profile = load_profile(BASELINE_PATH)
    assert profile.profile == "Baseline Performance Envelope v1"
    assert profile.required_env == [
        "K6_COMPANY_ID",
        "K6_PROVIDER_ID",
        "K6_CUSTOMER_ID",
        "K6_USER_TOKEN",
        "K6_PROVIDER_TOKEN",
        "K6_ADMIN_TOKEN",
    ]
    assert list(profile.scenarios) == ["booking_flow", "chat_flow", "payments_flow", "analytics_flow", "ads_flow"]
    booking = profile.scenarios["booking_flow"]
    assert isinstance(booking, RampingArrivalRate)
    assert (booking.start_rate, booking.time_unit, booking.pre_allocated_vus, booking.max_vus) == (5, 1, 25, 60)
    assert [(s.duration, s.target) for s in booking.stages] == [(120, 18), (180, 36), (60, 0)]
    payments = profile.scenarios["payments_flow"]
    assert isinstance(payments, ConstantArrivalRate)
    assert (payments.rate, payments.duration, payments.pre_allocated_vus, payments.max_vus) == (6, 360, 18, 30)
    analytics = profile.scenarios["analytics_flow"]
    assert isinstance(analytics, ConstantVUs)
    assert (analytics.vus, analytics.duration) == (10, 360)
    settings = profile.settings
    assert settings.default_multiplier == 1
    assert settings.base_url == "http://localhost:4000"
    assert settings.booking.scheduled_share == 0.4
    assert settings.communications.message_seeds[2] == "Need tooling checklist before dispatch."
    assert settings.analytics.timezone == "Europe/London"
    assert settings.sleep_seconds("ads") == 0.5
    assert profile.thresholds["booking_flow_duration"] == ["p(95)<1400", "avg<700"]
    assert profile.thresholds["http_req_duration{scenario:booking_flow}"] == ["p(95)<1200"]


def test_sleep_falls_back_to_default_sleep_seconds():
    scenario = with_scenario({"executor": "constant-vus", "duration": "1m"})
    profile = parse_profile({"settings": {"defaultSleepSeconds": 0.7}, **scenario})
    assert profile.settings.sleep_seconds("payments") == 0.7


# --- every executor, with k6's defaults ------------------------------------------------------------


def _common_defaults(scenario) -> None:
    assert scenario.start_time == 0
    assert scenario.graceful_stop == 30
    assert scenario.tags == {}
    assert scenario.env == {}
    assert scenario.exec is None


def test_constant_arrival_rate_defaults():
    s = only({"executor": "constant-arrival-rate", "rate": 6, "duration": "6m", "preAllocatedVUs": 18})
    assert isinstance(s, ConstantArrivalRate)
    _common_defaults(s)
    assert s.time_unit == 1
    assert s.max_vus is None
    assert s.vus_max == 18  # k6: maxVUs defaults to preAllocatedVUs


def test_ramping_arrival_rate_defaults():
    s = only({"executor": "ramping-arrival-rate", "preAllocatedVUs": 2, "stages": [{"duration": "1m", "target": 4}]})
    assert isinstance(s, RampingArrivalRate)
    _common_defaults(s)
    assert s.time_unit == 1
    assert s.start_rate == 0
    assert s.vus_max == 2


def test_constant_vus_defaults():
    s = only({"executor": "constant-vus", "duration": "10s"})
    assert isinstance(s, ConstantVUs)
    _common_defaults(s)
    assert s.vus == 1


def test_ramping_vus_defaults():
    s = only({"executor": "ramping-vus", "stages": [{"duration": "30s", "target": 3}]})
    assert isinstance(s, RampingVUs)
    _common_defaults(s)
    assert s.start_vus == 1
    assert s.graceful_ramp_down == 30


def test_per_vu_iterations_defaults():
    s = only({"executor": "per-vu-iterations"})
    assert isinstance(s, PerVUIterations)
    _common_defaults(s)
    assert (s.vus, s.iterations, s.max_duration) == (1, 1, 600)


def test_shared_iterations_defaults():
    s = only({"executor": "shared-iterations"})
    assert isinstance(s, SharedIterations)
    _common_defaults(s)
    assert (s.vus, s.iterations, s.max_duration) == (1, 1, 600)


def test_common_options_are_read():
    s = only(
        {
            "executor": "constant-vus",
            "vus": 3,
            "duration": "1m30s",
            "startTime": "10s",
            "gracefulStop": "5s",
            "tags": {"team": "core"},
            "env": {"MODE": "fast"},
            "exec": "payments_flow",
        }
    )
    assert (s.vus, s.duration, s.start_time, s.graceful_stop) == (3, 90, 10, 5)
    assert s.tags == {"team": "core"}
    assert s.env == {"MODE": "fast"}
    profile = parse_profile(
        with_scenario({"executor": "constant-vus", "duration": "1m", "exec": "payments_flow"}, "extra_payments")
    )
    assert profile.flow_of("extra_payments") == "payments_flow"


def test_k6_reads_whole_floats_and_milliseconds():
    s = only({"executor": "per-vu-iterations", "vus": 2.0, "iterations": 3.0, "maxDuration": 90000})
    assert (s.vus, s.iterations, s.max_duration) == (2, 3, 90)
    assert isinstance(s.vus, int)


def test_time_unit_and_graceful_ramp_down():
    s = only(
        {
            "executor": "ramping-vus",
            "startVUs": 0,
            "gracefulRampDown": "0s",
            "stages": [{"duration": "1m", "target": 5}, {"duration": "0s", "target": 5}],
        }
    )
    assert (s.start_vus, s.graceful_ramp_down) == (0, 0)
    r = only(
        {"executor": "constant-arrival-rate", "rate": 90, "timeUnit": "1m", "duration": "1s", "preAllocatedVUs": 1}
    )
    assert r.time_unit == 60


# --- malformed profiles ---------------------------------------------------------------------------

Mutation = Callable[[dict], None]


def _set(path: str, value) -> Mutation:
    """A mutation setting `a.b[0].c` (creating nothing: every parent must exist)."""

    def apply(data: dict) -> None:
        parts: list = []
        for chunk in path.split("."):
            name, _, rest = chunk.partition("[")
            parts.append(name)
            if rest:
                parts.extend(int(i) for i in rest.rstrip("]").split("]["))
        target = data
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value

    return apply


def _drop(path: str) -> Mutation:
    def apply(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        del target[last]

    return apply


def _scenario(name: str, options: dict) -> Mutation:
    return lambda data: data["scenarios"].__setitem__(name, options)


# (id, mutation of baseline.json, the JSON path the message must name, a phrase it must contain)
MALFORMED: list[tuple[str, Mutation, str, str]] = [
    ("stage-duration-bad-string", _set("scenarios.booking_flow.stages[1].duration", "3 minutes"),
     "scenarios.booking_flow.stages[1].duration", "k6 duration"),
    ("stage-duration-negative", _set("scenarios.booking_flow.stages[1].duration", "-3m"),
     "scenarios.booking_flow.stages[1].duration", "negative"),
    ("stage-duration-fractional-days", _set("scenarios.chat_flow.stages[0].duration", "1.5d"),
     "scenarios.chat_flow.stages[0].duration", "k6 duration"),
    ("duration-zero", _set("scenarios.analytics_flow.duration", "0s"),
     "scenarios.analytics_flow.duration", "at least 1s"),
    ("duration-under-a-second", _set("scenarios.payments_flow.duration", "500ms"),
     "scenarios.payments_flow.duration", "at least 1s"),
    ("duration-negative", _set("scenarios.analytics_flow.duration", "-6m"),
     "scenarios.analytics_flow.duration", "at least 1s"),
    ("time-unit-zero", _set("scenarios.payments_flow.timeUnit", "0s"),
     "scenarios.payments_flow.timeUnit", "greater than zero"),
    ("graceful-stop-negative", _set("scenarios.booking_flow.gracefulStop", "-1s"),
     "scenarios.booking_flow.gracefulStop", "negative"),
    ("start-time-bad", _set("scenarios.ads_flow.startTime", "soon"),
     "scenarios.ads_flow.startTime", "k6 duration"),
    ("max-vus-below-preallocated", _set("scenarios.booking_flow.maxVUs", 10),
     "scenarios.booking_flow", "maxVUs (10) must be at least preAllocatedVUs (25)"),
    ("preallocated-missing", _drop("scenarios.payments_flow.preAllocatedVUs"),
     "scenarios.payments_flow.preAllocatedVUs", "missing"),
    ("preallocated-negative", _set("scenarios.ads_flow.preAllocatedVUs", -1),
     "scenarios.ads_flow.preAllocatedVUs", "greater than or equal to 0"),
    ("empty-stages", _set("scenarios.chat_flow.stages", []),
     "scenarios.chat_flow.stages", "at least 1"),
    ("missing-stages", _drop("scenarios.ads_flow.stages"),
     "scenarios.ads_flow.stages", "missing"),
    ("stages-not-array", _set("scenarios.ads_flow.stages", {"duration": "1m", "target": 3}),
     "scenarios.ads_flow.stages", "valid list"),
    ("stage-target-missing", lambda d: d["scenarios"]["booking_flow"]["stages"][2].pop("target"),
     "scenarios.booking_flow.stages[2].target", "missing"),
    ("stage-target-negative", _set("scenarios.booking_flow.stages[2].target", -5),
     "scenarios.booking_flow.stages[2].target", "greater than or equal to 0"),
    ("stage-target-boolean", _set("scenarios.chat_flow.stages[0].target", True),
     "scenarios.chat_flow.stages[0].target", "valid number"),
    ("stage-unknown-key", _set("scenarios.chat_flow.stages[1].targt", 3),
     "scenarios.chat_flow.stages[1].targt", 'did you mean "target"'),
    ("unsupported-scenario-name", lambda d: d["scenarios"].__setitem__("search_flow", d["scenarios"].pop("ads_flow")),
     "scenarios.search_flow", 'Scenario "search_flow" is not supported'),
    ("unknown-executor", _set("scenarios.booking_flow.executor", "ramping-arival-rate"),
     "scenarios.booking_flow.executor", 'did you mean "ramping-arrival-rate"'),
    ("missing-executor", _drop("scenarios.analytics_flow.executor"),
     "scenarios.analytics_flow.executor", "missing"),
    ("unknown-scenario-key", _set("scenarios.payments_flow.maxVU", 30),
     "scenarios.payments_flow.maxVU", 'did you mean "maxVUs"'),
    ("key-of-another-executor", _set("scenarios.analytics_flow.stages", []),
     "scenarios.analytics_flow.stages", "unknown key"),
    ("unknown-top-level-key", _set("treshold", {}),
     "treshold", 'did you mean "thresholds"'),
    ("unknown-settings-key", _set("settings.booking.scheduledShar", 0.5),
     "settings.booking.scheduledShar", 'did you mean "scheduledShare"'),
    ("required-env-not-array", _set("requiredEnv", "K6_COMPANY_ID"),
     "requiredEnv", "an array of variable names"),
    ("required-env-not-strings", _set("requiredEnv", ["K6_COMPANY_ID", 7]),
     "requiredEnv[1]", "valid string"),
    ("thresholds-not-object", _set("thresholds", ["rate<0.02"]),
     "thresholds", "an object"),
    ("threshold-value-not-array", _set("thresholds.http_req_failed", "rate<0.02"),
     "thresholds.http_req_failed", "valid list"),
    ("threshold-entry-not-expression", _set("thresholds.booking_flow_duration", ["p(95)<1400", 700]),
     'thresholds.booking_flow_duration[1]', "threshold expression"),
    ("threshold-with-tag-selector", _set("thresholds.http_req_duration{scenario:chat_flow}", [None]),
     'thresholds["http_req_duration{scenario:chat_flow}"][0]', "threshold expression"),
    ("settings-not-object", _set("settings", "fast"),
     "settings", "expected an object"),
    ("no-scenarios", _drop("scenarios"),
     "scenarios", "missing"),
    ("empty-scenarios", _set("scenarios", {}),
     "scenarios", "at least one scenario"),
    ("scenarios-not-object", _set("scenarios", ["booking_flow"]),
     "scenarios", "an object keyed by scenario name"),
    ("scenario-not-object", _set("scenarios.chat_flow", "ramping-arrival-rate"),
     "scenarios.chat_flow", "dictionary"),
    ("bad-exec", _set("scenarios.payments_flow.exec", "payment_flow"),
     "scenarios.payments_flow.exec", 'did you mean "payments_flow"'),
    ("bad-timezone", _set("settings.analytics.timezone", "Europe/Londres"),
     "settings.analytics.timezone", "unknown IANA timezone"),
    ("scheduled-share-above-one", _set("settings.booking.scheduledShare", 1.4),
     "settings.booking.scheduledShare", "less than or equal to 1"),
    ("booking-min-above-max", _set("settings.booking.baseAmountMin", 300),
     "settings.booking", "baseAmountMin must not exceed baseAmountMax"),
    ("lead-minutes-min-above-max", _set("settings.booking.leadMinutesMax", 60),
     "settings.booking", "leadMinutesMin must not exceed leadMinutesMax"),
    ("message-seeds-empty", _set("settings.communications.messageSeeds", []),
     "settings.communications.messageSeeds", "at least 1"),
    ("default-multiplier-zero", _set("settings.defaultMultiplier", 0),
     "settings.defaultMultiplier", "greater than 0"),
    ("sleep-boolean", _set("settings.defaultSleepSeconds", True),
     "settings.defaultSleepSeconds", "valid number"),
    ("base-url-number", _set("settings.baseUrl", 4000),
     "settings.baseUrl", "valid string"),
    ("api-prefix-trailing-slash", _set("settings.apiPrefix", "/api/"),
     "settings.apiPrefix", 'must start with "/"'),
    ("vus-non-integer", _set("scenarios.analytics_flow.vus", 2.5),
     "scenarios.analytics_flow.vus", "valid integer"),
    ("vus-string", _set("scenarios.analytics_flow.vus", "10"),
     "scenarios.analytics_flow.vus", "valid integer"),
    ("vus-boolean", _set("scenarios.analytics_flow.vus", True),
     "scenarios.analytics_flow.vus", "valid integer"),
    ("vus-zero", _set("scenarios.analytics_flow.vus", 0),
     "scenarios.analytics_flow.vus", "greater than or equal to 1"),
    ("rate-zero", _set("scenarios.payments_flow.rate", 0),
     "scenarios.payments_flow.rate", "greater than 0"),
    ("rate-string", _set("scenarios.payments_flow.rate", "6/s"),
     "scenarios.payments_flow.rate", "valid number"),
    ("start-rate-negative", _set("scenarios.ads_flow.startRate", -3),
     "scenarios.ads_flow.startRate", "greater than or equal to 0"),
    ("tags-not-strings", _set("scenarios.ads_flow.tags", {"tier": 1}),
     "scenarios.ads_flow.tags.tier", "valid string"),
    ("shared-iterations-fewer-than-vus",
     _scenario("chat_flow", {"executor": "shared-iterations", "vus": 5, "iterations": 2}),
     "scenarios.chat_flow", "iterations (2) must be at least vus (5)"),
    ("ramping-vus-all-zero",
     _scenario("chat_flow", {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1m", "target": 0}]}),
     "scenarios.chat_flow", "startVUs or a stage's target"),
    ("per-vu-max-duration-short",
     _scenario("chat_flow", {"executor": "per-vu-iterations", "maxDuration": "100ms"}),
     "scenarios.chat_flow.maxDuration", "at least 1s"),
    ("arrival-rate-without-vus",
     _scenario("chat_flow", {"executor": "constant-arrival-rate", "rate": 1, "duration": "1m", "preAllocatedVUs": 0}),
     "scenarios.chat_flow", "at least 1"),
    ("description-not-string", _set("description", ["a", "b"]),
     "description", "valid string"),
]  # fmt: skip

assert len({case[0] for case in MALFORMED}) == len(MALFORMED) >= 30


@pytest.mark.parametrize(("mutate", "path", "phrase"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_profile_exits_104_naming_the_path(mutate, path, phrase, tmp_path, monkeypatch, capsys):
    data = copy.deepcopy(BASELINE)
    mutate(data)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(data, indent=2), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no stray .env
    code = cli.main(["validate", "--profile", str(profile)])
    out, err = capsys.readouterr()
    assert code == 104
    assert out == ""
    assert "Traceback" not in err
    problem_lines = [line.strip()[2:] for line in err.splitlines() if line.strip().startswith("- ")]
    assert any(line.startswith(f"{path}:") and phrase in line for line in problem_lines), err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "profile": "x",\n  "scenarios": {,}\n}\n', "line 3, column 17"),
        ('{"profile": "x"', "line 1, column 16"),
        ("", "line 1, column 1"),
        ('{\n  "description": "é café",\n  "x": tru\n}', "line 3, column 8"),
    ],
)
def test_malformed_json_reports_line_and_column(text, expected, tmp_path, monkeypatch, capsys):
    profile = tmp_path / "broken.json"
    profile.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "--profile", str(profile)]) == 104
    err = capsys.readouterr().err
    assert f"malformed JSON at {expected}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "kind"), [("[]", "list"), ('"profile"', "str"), ("42", "int"), ("null", "NoneType")])
def test_top_level_must_be_an_object(text, kind, tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(profile)
    assert info.value.problems == [f"(profile): expected a JSON object at the top level, got {kind}"]


def test_missing_file_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "nope.json")


def test_every_problem_is_listed_at_once():
    data = copy.deepcopy(BASELINE)
    data["scenarios"]["booking_flow"]["stages"][1]["duration"] = "3 minutes"
    data["scenarios"]["payments_flow"]["rate"] = 0
    data["settings"]["booking"]["scheduledShare"] = 2
    with pytest.raises(ProfileError) as info:
        parse_profile(data)
    paths = sorted(p.split(":")[0] for p in info.value.problems)
    assert paths == [
        "scenarios.booking_flow.stages[1].duration",
        "scenarios.payments_flow.rate",
        "settings.booking.scheduledShare",
    ]


def test_constant_vus_needs_a_duration():
    with pytest.raises(ProfileError) as info:
        parse_profile(with_scenario({"executor": "constant-vus"}))
    assert info.value.problems == ["scenarios.chat_flow.duration: required field is missing"]


def test_threshold_object_form_is_accepted():
    profile = parse_profile(
        {
            **with_scenario({"executor": "constant-vus", "duration": "1m"}),
            "thresholds": {"http_req_failed": [{"threshold": "rate<0.01", "abortOnFail": True}]},
        }
    )
    assert profile.thresholds["http_req_failed"][0]["abortOnFail"] is True
