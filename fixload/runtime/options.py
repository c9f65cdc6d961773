"""fixload's command-line options (also in the web UI's start form where marked).

`--profile` is Locust's own option (a label grouping test runs, already in the web UI's start form);
fixload reads it as the profile file, so there is one `--profile` and it means what k6 users expect.
The surfaces add their own options (`--progress-interval`, `--prometheus-port`, `--junit`, ...) from
their modules; `fixload.plugin` registers them all, in one place.
"""

from __future__ import annotations

from typing import Any

from fixload.common.durations import DurationError, parse_duration
from fixload.profile.config import ConfigError


def add_arguments(parser: Any) -> None:
    parser.add_argument("--multiplier", default=None, include_in_web_ui=True, help="load multiplier (scales load only)")
    parser.add_argument("--env-file", default=None, help="a .env file to read instead of ./.env")
    parser.add_argument(
        "--summary",
        default="",
        include_in_web_ui=True,
        help="summary JSON path (default: reports/summary-<UTC timestamp>.json)",
    )
    parser.add_argument(
        "--setup-timeout",
        default=None,
        help="k6's setupTimeout: how long setup may take (a k6 duration, 60s, 2m; beats the profile's "
        "settings.setupTimeout, default 60s); past it the run ends, status setup_failed, exit 100",
    )


def automatic(environment: Any) -> bool:
    """A run Locust starts by itself (headless or --autostart): the only case where fixload owns the signals."""
    options = environment.parsed_options
    return bool(options is not None and (getattr(options, "headless", False) or getattr(options, "autostart", False)))


def headless(environment: Any) -> bool:
    options = environment.parsed_options
    return bool(options is not None and getattr(options, "headless", False))


def summary_path(environment: Any) -> str:
    """Where `--summary` asks the summary JSON to go ("" for the default)."""
    options = environment.parsed_options
    return (getattr(options, "summary", "") if options is not None else "") or ""


def setup_timeout(environment: Any, profile_value: float) -> float:
    """Seconds setup may take: `--setup-timeout`, else the profile's `settings.setupTimeout` (k6: 60s).
    ConfigError for a value that is not a positive k6 duration (checked at init, exit 104)."""
    raw = getattr(environment.parsed_options, "setup_timeout", None) if environment.parsed_options else None
    if raw in (None, ""):
        return profile_value
    try:
        seconds = parse_duration(raw)
    except DurationError as exc:
        raise ConfigError(f"--setup-timeout: expected a k6 duration such as 60s or 2m, got {raw!r} ({exc})") from None
    if seconds <= 0:
        raise ConfigError(f"--setup-timeout: expected a positive duration, got {raw!r}")
    return seconds
