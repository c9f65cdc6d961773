"""The run's request ids in its summary: which header carries them, and `--trace-url`'s link template.

Each request carries an `X-Request-Id` and a W3C `traceparent` (fixload.flows.tracing); the summary's
`failures[].requests` and `slowest[]` keep some of them (fixload.metrics.failures). This module adds the
`fixload.tracing` block that says how to look them up: `{"requestIdHeader", "traceContext", "traceUrl"}`.
"""

from __future__ import annotations

import argparse
from typing import Any

from fixload.flows.tracing import Tracing


def trace_url(value: str) -> str:
    """`--trace-url`: a URL with `{trace_id}` and/or `{request_id}` in it."""
    if value and "{trace_id}" not in value and "{request_id}" not in value:
        raise argparse.ArgumentTypeError(
            f"expected a URL template holding {{trace_id}} or {{request_id}}, e.g. "
            f"http://127.0.0.1:16686/trace/{{trace_id}} (got {value!r})"
        )
    return value


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--trace-url",
        default="",
        type=trace_url,
        metavar="TEMPLATE",
        help="a link per request id in the summary and reports: {trace_id} and {request_id} are filled in "
        "(e.g. a Jaeger or Tempo URL: http://127.0.0.1:16686/trace/{trace_id})",
    )


def summary_block(run: Any) -> dict[str, Any]:
    """The summary's `fixload.tracing`: the request-id header (or none), trace context on/off, the link template.
    `run`: the runtime (`fixload.runtime.state.Runtime`)."""
    environment = run.environment
    settings = Tracing.from_env(run.config.env if run.config is not None else {})
    options = environment.parsed_options
    return {
        "requestIdHeader": settings.header or None,
        "traceContext": settings.context,
        "traceUrl": (getattr(options, "trace_url", "") if options is not None else "") or None,
    }
