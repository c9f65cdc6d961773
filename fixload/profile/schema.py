"""The profile: the original harness's JSON file, as a typed model.

A profile written for the k6 harness must load unchanged, and a mistake in one must be caught before
any traffic is sent, with a message that names the JSON path and what was expected. So the schema is
strict (unknown keys are errors, with a did-you-mean) and every field keeps k6's camelCase name. A
scenario's model is its executor's own (fixload.engine.registry: one module per k6 executor).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from fixload.common.contract import DEFAULT_CAMPAIGN_TYPE, CampaignType
from fixload.common.files import MAX_PROFILE_BYTES, InputFileError, read_input
from fixload.engine.fields import START_GRID_S, K6Model, Number, PositiveDuration, Stage, StartGrid
from fixload.engine.registry import CONFIGS, NAMES, ScenarioOptions
from fixload.profile.limits import MAX_MULTIPLIER, MAX_SETTING_MINUTES, MAX_SETTING_SECONDS


class ProfileError(Exception):
    """A profile that cannot run. `problems` holds one "path: what was expected" line per problem."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid profile{where}:\n" + "\n".join(f"  - {p}" for p in problems))


Seconds = Annotated[float, Field(ge=0, le=MAX_SETTING_SECONDS)]
Minutes = Annotated[float, Field(ge=0, le=MAX_SETTING_MINUTES)]


class _FlowBlock(K6Model):
    sleep_seconds: Seconds | None = None


class BookingSettings(_FlowBlock):
    base_amount_min: Number = 85
    base_amount_max: Number = 260
    scheduled_share: Annotated[float, Field(ge=0, le=1)] = 0.4
    lead_minutes_min: Minutes = 120
    lead_minutes_max: Minutes = 720
    window_minutes_min: Minutes = 90
    window_minutes_max: Minutes = 360

    @model_validator(mode="after")
    def _ranges(self) -> BookingSettings:
        for low, high in (("base_amount", "Min/Max"), ("lead_minutes", "Min/Max"), ("window_minutes", "Min/Max")):
            if getattr(self, f"{low}_min") > getattr(self, f"{low}_max"):
                raise ValueError(f"{to_camel(low)}Min must not exceed {to_camel(low)}Max ({high})")
        return self


class CommunicationsSettings(_FlowBlock):
    session_ttl_seconds: Seconds = 1200
    message_seeds: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["Please confirm the on-site arrival window."]
    )


class AnalyticsSettings(_FlowBlock):
    timezone: str = "Europe/London"
    window_days: Annotated[float, Field(ge=0, le=3660)] = 7

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Europe/London')") from None
        return value


class AdsSettings(_FlowBlock):
    campaign_type: CampaignType = DEFAULT_CAMPAIGN_TYPE
    """The `campaignType` setup's campaign is created with: one of the product's (fixload.common.contract), not the
    original's `search`, which the product refuses."""


class Settings(K6Model):
    """The run's settings and the five flows' typed blocks. Any other key is a block of a flow of a locustfile
    (free-form, kept in `model_extra`): fixload.profile.binding accepts it only when a loaded flow reads it."""

    model_config = ConfigDict(**{**K6Model.model_config, "extra": "allow"})

    default_multiplier: Annotated[float, Field(gt=0, le=MAX_MULTIPLIER)] | None = None
    default_sleep_seconds: Seconds = 0.0
    setup_timeout: PositiveDuration = 60.0
    """k6's `setupTimeout`: how long setup (resolving the fixtures) may take before the run ends (exit 100)."""
    base_url: str | None = None
    discard_response_bodies: bool = False
    start_grid: StartGrid = START_GRID_S
    """How late (at most) an arrival-rate start begins so that it shares a wake-up of the generator with the
    starts due in the same cell of plan time: wider saves CPU per request, costs start lag (docs/sizing.md)."""
    analytics_persona: str | None = None
    # Additions of ours, so the same flows drive both API generations (/api and today's /api/v1).
    api_prefix: str = "/api"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)  # values may be API keys
    booking: BookingSettings = Field(default_factory=BookingSettings)
    communications: CommunicationsSettings = Field(default_factory=CommunicationsSettings)
    payments: _FlowBlock = Field(default_factory=_FlowBlock)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    ads: AdsSettings = Field(default_factory=AdsSettings)

    @field_validator("api_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError('must start with "/" and not end with one, e.g. "/api" or "/api/v1"')
        return value

    def sleep_seconds(self, block: str) -> float:
        """A flow's think time: its own block's `sleepSeconds`, else `defaultSleepSeconds`."""
        if block in type(self).model_fields:
            value = getattr(self, block).sleep_seconds
        else:
            value = ((self.model_extra or {}).get(block) or {}).get("sleepSeconds")
        return self.default_sleep_seconds if value is None else float(value)


ThresholdObject = dict[str, Any]


def _threshold_entry(value: object) -> object:
    """A k6 threshold: an expression string, or an object with a `threshold` expression (and abortOnFail...)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, dict) and isinstance(value.get("threshold"), str) and value["threshold"].strip():
        return value
    raise ValueError(
        'expected a threshold expression such as "p(95)<500" or an object {"threshold": "...", "abortOnFail": true}'
    )


ThresholdEntry = Annotated[Any, AfterValidator(_threshold_entry)]


class CompareSettings(K6Model):
    """`fixload compare`'s budget for runs of this profile (common.budget: `{"p95": "+5%", "success": "-0.2pp"}`)."""

    budget: dict[str, str] = Field(default_factory=dict)

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: dict[str, str]) -> dict[str, str]:
        from fixload.common.budget import BudgetError, parse_mapping

        try:
            parse_mapping(value, "")
        except BudgetError as exc:
            raise ValueError(str(exc).replace("\n", "; ")) from None
        return value


class Profile(K6Model):
    profile: str = "unnamed profile"
    description: str = ""
    required_env: list[str] = Field(default_factory=list)
    settings: Settings = Field(default_factory=Settings)
    scenarios: dict[str, ScenarioOptions]  # each the model of the executor it names
    thresholds: dict[str, list[ThresholdEntry]] = Field(default_factory=dict)
    compare: CompareSettings | None = None

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("a profile needs at least one scenario")
        return value

    def flow_of(self, scenario_name: str) -> str:
        """The flow a scenario runs: its `exec`, else the flow it is named after."""
        return self.scenarios[scenario_name].exec or scenario_name


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif index == 2 and loc[0] == "scenarios" and part in NAMES:
            continue  # pydantic puts the union's tag in the location; a user never wrote it
        elif any(ch in str(part) for ch in "{}. :\"'") or not str(part):
            path += f"[{orjson.dumps(part).decode()}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(profile)"


def settings_keys() -> list[str]:
    """The keys `settings` knows without a locustfile (its own and the five flows' blocks)."""
    return [field.alias or name for name, field in Settings.model_fields.items()]


def _known_keys() -> set[str]:
    keys: set[str] = set()
    for model in (
        Profile,
        CompareSettings,
        Settings,
        BookingSettings,
        CommunicationsSettings,
        AnalyticsSettings,
        AdsSettings,
        Stage,
        *CONFIGS.values(),
    ):
        keys.update(field.alias or name for name, field in model.model_fields.items())
    return keys


def _describe(error: Any) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    message = error["msg"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.6)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        return f"{_json_path(loc)}: unknown key {key!r}{hint}"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "")
        close = difflib.get_close_matches(str(tag), NAMES, n=1, cutoff=0.5)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        return f"{_json_path(loc)}.executor: unknown executor {tag!r}, expected one of {', '.join(NAMES)}{hint}"
    if kind == "union_tag_not_found":
        return f"{_json_path(loc)}.executor: missing; expected one of {', '.join(NAMES)}"
    if kind == "missing":
        return f"{_json_path(loc)}: required field is missing"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif message.startswith("Assertion failed, "):
        message = message[len("Assertion failed, ") :]
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or ", got " in message else f" (got {got!r})"
    return f"{_json_path(loc)}: {message}{shown}"


def _check_top_level_shape(data: object) -> list[str]:
    """The wrapper's own structural checks, phrased as the original's users know them."""
    if not isinstance(data, dict):
        return [f"(profile): expected a JSON object at the top level, got {type(data).__name__}"]
    problems = []
    expectations = {"requiredEnv": (list, "an array of variable names"), "settings": (dict, "an object")}
    expectations |= {"thresholds": (dict, "an object of metric → array of expressions")}
    expectations |= {"scenarios": (dict, "an object keyed by scenario name")}
    for key, (kind, expected) in expectations.items():
        if key in data and not isinstance(data[key], kind):
            problems.append(f"{key}: expected {expected}, got {_json_type(data[key])}")
    if "scenarios" not in data:
        problems.append("scenarios: required field is missing")
    return problems


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def parse_profile(data: object, source: str | None = None) -> Profile:
    """Validate decoded JSON; raise ProfileError listing every problem with its path. Which flow each
    scenario runs is checked against the loaded locustfiles (fixload.profile.binding), not here."""
    problems = _check_top_level_shape(data)
    if problems:
        raise ProfileError(problems, source)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError([_describe(e) for e in exc.errors(include_url=False)], source) from None
    return profile


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def read_profile_data(path: str | Path) -> object:
    """A profile file's decoded JSON; unreadable or malformed JSON is a ProfileError with line and column."""
    path = Path(path)
    try:
        text = read_input(path, "a profile file", MAX_PROFILE_BYTES).decode("utf-8")
    except InputFileError as exc:
        raise ProfileError([f"(profile): {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError([f"(profile): cannot read {path}: {exc}"]) from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        line, column = _line_column(text, exc.pos)
        problem = f"(profile): malformed JSON at line {line}, column {column}: {exc.msg}"
        raise ProfileError([problem], str(path)) from None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file; malformed JSON is reported with its line and column."""
    return parse_profile(read_profile_data(path), str(path))


def threshold_key_path(key: str) -> str:
    """The JSON path of one key of the thresholds block, as profile problems name it."""
    return _json_path(("thresholds", key))
