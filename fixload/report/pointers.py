"""From the summary to the backend's own log: the request ids of each failure kind and of the slowest requests.

Read from the summary alone (`fixload.scenarios.<name>.failures[].requests`, `.slowest[]`, `fixload.tracing`),
so a summary rebuilt from its file says the same. The console lines end with what to run ("grep the backend's
log for X-Request-Id …"); with `--trace-url` each id also gets its link (docs/tracing.md).
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from typing import Any

CONSOLE_IDS = 3
"""Request ids a console failure line names (the summary JSON keeps more)."""


def _template(block: Mapping[str, Any]) -> tuple[str, str]:
    tracing = block.get("tracing") or {}
    return str(tracing.get("requestIdHeader") or "X-Request-Id"), str(tracing.get("traceUrl") or "")


def link(template: str, ids: Mapping[str, Any]) -> str:
    """`template` with `{trace_id}`/`{request_id}` filled ("" when there is no template or no id for it)."""
    trace_id, request_id = str(ids.get("traceId") or ""), str(ids.get("requestId") or "")
    if not template or ("{trace_id}" in template and not trace_id) or ("{request_id}" in template and not request_id):
        return ""
    return template.replace("{trace_id}", trace_id).replace("{request_id}", request_id)


def _ids(failure: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    requests = failure.get("requests") or {}
    return [*requests.get("first", ()), *requests.get("last", ())]


def console_lines(block: Mapping[str, Any]) -> list[str]:
    """The REQUESTS block: per scenario, each failure kind with its first and last request ids, and the
    slowest requests; [] when no scenario kept any."""
    header, template = _template(block)
    lines: list[str] = []
    for name, rollup in sorted((block.get("scenarios") or {}).items()):
        for failure in rollup.get("failures") or ():
            ids = [i for i in _ids(failure) if i.get("requestId") or i.get("traceId")]
            if not ids:
                continue
            shown = ids[:CONSOLE_IDS] + (ids[-1:] if len(ids) > CONSOLE_IDS else [])
            status = failure.get("status")
            lines.append(f"    {name}  ✗ {failure.get('step')} (status {status}) ×{failure.get('count')}")
            lines += [f"        {line}" for line in _grep(header, template, shown)]
        slowest = [s for s in rollup.get("slowest") or () if s.get("requestId") or s.get("traceId")]
        if slowest:
            top = slowest[0]
            lines.append(
                f"    {name}  slowest: {top.get('latencyMs'):.1f}ms at {top.get('step')} ({top.get('name')}, "
                f"status {top.get('status')}); {len(slowest)} kept in the summary"
            )
            lines += [f"        {line}" for line in _grep(header, template, [top])]
    return ["  REQUESTS (grep the backend's log for these ids)", "", *lines, ""] if lines else []


def _grep(header: str, template: str, ids: list[Mapping[str, Any]]) -> Iterator[str]:
    request_ids = [str(i["requestId"]) for i in ids if i.get("requestId")]
    if request_ids:
        pattern = "\\|".join(request_ids)
        yield f"grep the backend's log for {header}: grep '{pattern}' backend.log"
    for ids_of in ids:
        url = link(template, ids_of)
        if url:
            yield f"trace: {url}"
    if not request_ids:
        yield "trace ids: " + ", ".join(str(i.get("traceId")) for i in ids)


def html_section(summary: Mapping[str, Any]) -> str:
    """The HTML report's "Requests to look up" section ("" when the summary kept no ids)."""
    block = summary.get("fixload") or {}
    header, template = _template(block)
    e = html.escape
    rows: list[str] = []
    for name, rollup in sorted((block.get("scenarios") or {}).items()):
        for failure in rollup.get("failures") or ():
            for ids in _ids(failure):
                what = f"✗ {failure.get('step')} (status {failure.get('status')}, ×{failure.get('count')})"
                rows.append(_row(name, what, ids, template))
        for slow in rollup.get("slowest") or ():
            rows.append(_row(name, f"slow: {slow.get('latencyMs')} ms at {slow.get('step')}", slow, template))
    if not rows:
        return ""
    return (
        f"<h2>Requests to look up</h2><p>Grep the backend's log for the {e(header)} header's value, or open the "
        "trace.</p><table><tr><th>scenario</th><th>what</th><th>request id</th><th>trace id</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _row(scenario: str, what: str, ids: Mapping[str, Any], template: str) -> str:
    e = html.escape
    trace_id = str(ids.get("traceId") or "")
    url = link(template, ids)
    trace = f'<a href="{e(url)}"><code>{e(trace_id)}</code></a>' if url else f"<code>{e(trace_id)}</code>"
    return (
        f"<tr><td>{e(scenario)}</td><td>{e(what)}</td><td><code>{e(str(ids.get('requestId') or ''))}</code></td>"
        f"<td>{trace}</td></tr>"
    )
