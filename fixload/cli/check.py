"""`fixload check`: a contract preflight. Setup, then exactly one iteration of every scenario's flow.

A load run that fails tells you that a rate dropped; it takes thousands of identical lines to find the
one request the product refused and why. `fixload check` sends the profile's setup and then one iteration
of each scenario's flow, one after another, with the same profile, environment and target as `fixload
run`, and prints a table per flow (step, method, route template, status, latency, check) with, for a
failed step, the response body (redacted, cut) and what it most likely means: an identity the product
does not know (`K6_COMPANY_ID` is not a `Company.id`, a token of the wrong user type), a deployment
setting, or a 500 that says nothing ("the server gave no cause; its own log has it").

Exit codes as `fixload run`: 0 every step passed, 99 a flow failed, 104 bad input (nothing sent), 107
setup failed. `fixload run --check-first` runs this first and starts no load when it does not pass.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import orjson

from fixload.common.exitcodes import ExitCode
from fixload.common.secrets import redact
from fixload.flows.flow import BODY_LOG_LIMIT, FlowUser, StepResult
from fixload.flows.tracing import Tracing
from fixload.profile.binding import import_flows, needs_fixtures
from fixload.profile.config import ConfigError, RunConfig
from fixload.profile.environment import EnvError, load_environment
from fixload.profile.validation import load_run_config

NO_CAUSE = "the server gave no cause; its own log has it"
EMPTY_500_MESSAGES = frozenset({"", "internal server error", "internal error", "server error"})
"""What a 500 body says when it says nothing (the product's errorHandler writes the first)."""


@dataclass
class FlowCheck:
    """One section of the report: the setup, or one scenario's single iteration."""

    title: str
    steps: list[StepResult] = field(default_factory=list)
    error: str = ""
    """A failure that is no step of its own (setup could not start, the flow is not loaded)."""

    @property
    def ok(self) -> bool:
        return not self.error and all(step.ok for step in self.steps)

    def first_failure(self) -> StepResult | None:
        return next((step for step in self.steps if not step.ok), None)


# --------------------------------------------------------------------------------------------- hints


def _message(body: str) -> tuple[str, bool]:
    """The body's `message` (or `error`) and whether it carries anything more (an `errors` array, ...)."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = " ".join(body.split())
        return text, False
    if not isinstance(data, dict):
        return "", data not in (None, [], "")
    message = data.get("message") or data.get("error") or ""
    more = any(value not in (None, "", [], {}) for key, value in data.items() if key not in ("message", "error"))
    return str(message), more


def _says_nothing(body: str) -> bool:
    message, more = _message(body)
    return not more and message.strip().strip(".").lower() in EMPTY_500_MESSAGES | {"<html>"}


ROUTE_TOKENS: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/services"): ("K6_PROVIDER_TOKEN", "servicemen or company"),
    ("POST", "/services/{id}/purchase"): ("K6_USER_TOKEN", "user or company"),
}
"""The only flow routes the product checks a token on, the variable that carries it there and the user
types the product lets through (FIXNADO-API.md §1: `authorize([...])` on the `User.type`)."""

NOT_FOUND_IDENTITIES: dict[str, str] = {
    "company not found": (
        "K6_COMPANY_ID is not a Company.id of this server: the product looks the company up. A user id is "
        "not a company id; GET /api/auth/me with the company user's token shows its Company.id"
    ),
    "service not found": "the service (K6_SERVICE_ID, or the one setup found) does not exist on this server",
    "campaign not found": "the campaign (K6_CAMPAIGN_ID, or the one setup found) does not exist on this server",
    "zone not found": "the zone (K6_ZONE_ID, or the one setup found) does not exist on this server",
}


FOREIGN_KEY_HINT = (
    "an identity is unknown to this server (a foreign key failed): K6_COMPANY_ID must be a Company.id "
    "(GET /api/auth/me shows it), K6_CUSTOMER_ID a User.id"
)
FOREIGN_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("companyid", "company_id"),
        "K6_COMPANY_ID is not a Company.id of this server (a foreign key failed): "
        "a user id is not a company id; GET /api/auth/me with the company user's token shows its Company.id",
    ),
    (("customerid", "customer_id"), "K6_CUSTOMER_ID is not a User.id of this server (a foreign key failed)"),
    (("zoneid", "zone_id"), "the zone (K6_ZONE_ID, or the one setup found) is not on this server"),
    (("serviceid", "service_id"), "the service (K6_SERVICE_ID, or the one setup found) is not on this server"),
)
"""The columns the product's foreign keys guard (FIXNADO-API.md §1), the variable each comes from."""


def _route_key(result: StepResult, prefix: str) -> tuple[str, str]:
    route = result.route[len(prefix) :] if prefix and result.route.startswith(prefix) else result.route
    return result.method, route


def hints(result: StepResult, prefix: str = "/api") -> list[str]:
    """What a failed step most likely means, from the product's answer alone (FIXNADO-API.md)."""
    if not result.answered_badly:
        return []
    message, _ = _message(result.body)
    said = message.lower()
    body = result.body.lower()
    out: list[str] = []
    token_var, types = ROUTE_TOKENS.get(_route_key(result, prefix), (result.token, ""))
    if result.status == 401:
        if "missing" in said or not result.token:
            out.append(f"the request carried no token: set {token_var or 'the token this route needs'}")
        else:
            out.append(
                f"{result.token} is not a token of this server: log in on this deployment (POST /api/auth/login "
                "→ token; signed with its JWT_SECRET, for a user that exists there; tokens expire after 12 h)"
            )
    elif result.status == 403 and said == "forbidden":
        need = f" of type {types}" if types else " of a type this route allows"
        out.append(f"{token_var or 'the token'} must belong to a user{need} (the product checks User.type)")
    elif result.status == 404:
        for key, hint in NOT_FOUND_IDENTITIES.items():
            if key in said:
                out.append(hint)
    elif result.status == 503 and "agora" in said:
        out.append("the server needs AGORA_APP_ID and AGORA_APP_CERTIFICATE set for video sessions")
    if result.status == 500:
        if "foreign key" in body:
            named = [hint for keys, hint in FOREIGN_KEYS if any(key in body for key in keys)]
            out.extend(named or [FOREIGN_KEY_HINT])
        elif "invalid input syntax for type uuid" in body:
            out.append("an id is not a UUID: every id of the product is one (K6_*_ID, the fixtures)")
        elif _says_nothing(result.body):
            out.append(NO_CAUSE)
    return out


# ------------------------------------------------------------------------------------------ running


def check_setup(config: RunConfig) -> tuple[FlowCheck, dict[str, str] | None]:
    """Setup as a run does it, each request a row; the fixtures, or None when setup failed."""
    from fixload.flows.fixtures import SetupError, provision

    section = FlowCheck("setup")
    try:
        return section, provision(config, trace=section.steps)
    except SetupError as exc:
        if section.ok:  # no step failed (a token was missing before the request): the error says why
            section.error = redact(str(exc))
        return section, None


def check_flow(config: RunConfig, fixtures: Mapping[str, str], scenario: str, flow: type[FlowUser]) -> FlowCheck:
    """One iteration of `flow`, in this greenlet, on an Environment of its own (its own events and
    metrics: nothing of this reaches a run's registry)."""
    from locust.env import Environment

    from fixload.runtime.state import Runtime

    environment = Environment(user_classes=[flow])
    Runtime.standalone(environment, config, fixtures)
    user = flow(environment)
    user.trace = []
    section = FlowCheck(f"{scenario}" + (f" (flow {flow.flow})" if flow.flow != scenario else ""))
    try:
        for task in type(user).tasks:
            task(user)
    finally:
        section.steps = list(user.trace)
    if not section.steps and section.ok:
        section.error = "the iteration sent no request"
    return section


@dataclass(frozen=True)
class CheckReport:
    code: ExitCode
    verdict: str
    """The report's last line: every step passed, or which flow failed at which step."""
    sections: tuple[FlowCheck, ...] = ()


def check_config(
    config: RunConfig, out: TextIO | None = None, flows: Mapping[str, type[FlowUser]] | None = None
) -> CheckReport:
    """Setup (when a scenario's flow needs fixtures), then one iteration of each scenario's flow, one after
    another; print a table per section. `flows`: the loaded flows (default: those `locustfiles/` defines).

    The flows' own failure lines are held back meanwhile: the table shows each failure with its body."""
    flows_log = logging.getLogger("fixload.flows")
    level = flows_log.level
    flows_log.setLevel(logging.CRITICAL)
    try:
        return _check(config, out or sys.stdout, import_flows() if flows is None else flows)
    finally:
        flows_log.setLevel(level)


def _check(config: RunConfig, out: TextIO, classes: Mapping[str, type[FlowUser]]) -> CheckReport:
    sections: list[FlowCheck] = []
    fixtures: dict[str, str] | None = {}
    if needs_fixtures(classes, (scenario.flow for scenario in config.plan.scenarios.values())):
        setup, fixtures = check_setup(config)
        sections.append(setup)
        print_section(setup, config, out)
        if fixtures is None:
            step = setup.first_failure()
            where = f"{step.step} ({step.method} {step.route}) → {step.status}" if step else setup.error
            return _report(ExitCode.SETUP_FAILED, f"setup failed at {where}; no flow was run", sections, out)
    for name, scenario in config.plan.scenarios.items():
        flow = classes.get(scenario.flow)
        if flow is None:
            section = FlowCheck(name, error=f"no locustfile defines the flow {scenario.flow!r}")
        else:
            section = check_flow(config, fixtures, name, flow)
        sections.append(section)
        print_section(section, config, out)
    ran = sections[len(sections) - len(config.plan.scenarios) :]
    failed = [s for s in ran if not s.ok]
    if not failed:
        return _report(ExitCode.OK, f"every step of {len(ran)} flow(s) passed", sections, out)
    verdict = f"{len(failed)} of {len(ran)} flow(s) failed: {describe_failures(failed)}"
    return _report(ExitCode.THRESHOLDS_FAILED, verdict, sections, out)


def _report(code: ExitCode, verdict: str, sections: list[FlowCheck], out: TextIO) -> CheckReport:
    print(f"\ncheck: {verdict}", file=out)
    return CheckReport(code, verdict, tuple(sections))


def describe_failures(failed: list[FlowCheck]) -> str:
    """`ads_flow (Campaign metric ingestion: 500), ...`: which flow failed at which step."""
    parts = []
    for section in failed:
        step = section.first_failure()
        where = f"{step.step}: {step.status if step.status is not None else 'n/a'}" if step else section.error
        parts.append(f"{section.title} ({where})")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------ printing


def _cut(text: str, limit: int = BODY_LOG_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


def _rows(section: FlowCheck) -> Iterator[tuple[str, ...]]:
    for step in section.steps:
        status = "n/a" if step.status is None else str(step.status)
        latency = "" if step.latency_ms is None else f"{step.latency_ms:.1f}ms"
        if step.check is None:
            verdict = "sent (not checked)" if step.ok else "✗ failed"
        else:
            verdict = f"{'✓' if step.ok else '✗'} {step.check}"
        yield step.step, step.method, step.route, status, latency, verdict


HEADER = ("step", "method", "route", "status", "latency", "check")


def print_section(section: FlowCheck, config: RunConfig, out: TextIO) -> None:
    rows = [HEADER, *_rows(section)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    mark = "✓" if section.ok else "✗"
    print(f"\n{mark} {section.title}", file=out)
    for index, row in enumerate(rows):
        cells = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        print(f"    {cells}  {row[-1]}", file=out)
        step = section.steps[index - 1] if index else None
        if step is not None and step.answered_badly:
            print(f"      body: {_cut(step.body) or '(empty)'}", file=out)
            if step.request_id or step.trace_id:
                print(f"      {_grep_line(step, config)}", file=out)
            for hint in hints(step, config.target.api_prefix):
                print(f"      hint: {hint}", file=out)
    if section.error:
        print(f"    ✗ {section.error}", file=out)


def _grep_line(step: StepResult, config: RunConfig) -> str:
    """`request: grep the backend's log for X-Request-Id <id> (trace <id>)`: the failed request, as its backend
    logged it (fixload.flows.tracing)."""
    header = Tracing.from_env(config.env).header or "X-Request-Id"
    said = f"grep the backend's log for {header} {step.request_id}" if step.request_id else "no request id sent"
    return f"request: {said}" + (f" (trace {step.trace_id})" if step.trace_id else "")


# ------------------------------------------------------------------------------------- command line


def load_config(args: argparse.Namespace, process_env: Mapping[str, str] | None = None) -> RunConfig:
    locustfile = getattr(args, "locustfiles", None)
    return load_run_config(args.profile, args.multiplier, args.env_file, process_env=process_env, locustfile=locustfile)


def run(args: argparse.Namespace) -> int:
    """`fixload check`: against K6_BASE_URL, or (unset) the embedded simulator, as `fixload run` does."""
    try:
        env = load_environment(args.env_file)
        if env.get("K6_BASE_URL", "").strip():
            return check_config(load_config(args), flows=import_flows(getattr(args, "locustfiles", None))).code
        # validate what does not depend on the target before starting anything
        load_run_config(
            args.profile, args.multiplier, args.env_file, check_env=False, locustfile=getattr(args, "locustfiles", None)
        )
    except (ConfigError, EnvError) as exc:
        print(f"fixload: {exc}", file=sys.stderr)
        return ExitCode.INVALID_CONFIG

    from fixload.simulator.process import SimulatorProcess

    with SimulatorProcess() as simulator:
        print(f"fixload: no K6_BASE_URL set: checking against the embedded simulator at {simulator.base_url}")
        try:
            config = load_config(args, {**os.environ, **simulator.env})
        except ConfigError as exc:
            print(f"fixload: {exc}", file=sys.stderr)
            return ExitCode.INVALID_CONFIG
        return check_config(config, flows=import_flows(getattr(args, "locustfiles", None))).code
