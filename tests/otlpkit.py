"""A loopback OTLP/HTTP receiver for tests: it answers every export with 200 and keeps what arrived, decoded with
`opentelemetry-proto` (protobuf, gzip or not), so a test reads metrics and spans as the collector would.

    with OtlpReceiver() as otlp:
        ... --otel-endpoint otlp.url ...
        otlp.metric_names(), otlp.spans(), otlp.resources()
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpReceiver:
    def __init__(self) -> None:
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.traces: list[ExportTraceServiceRequest] = []
        self.raw: list[bytes] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.lock:
                    receiver.raw.append(body)
                    if self.path == "/v1/metrics":
                        receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
                    elif self.path == "/v1/traces":
                        receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def metric_points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's data points, with their attributes as a dict, over every export."""
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        with self.lock:
            for request in self.metrics:
                for resource in request.resource_metrics:
                    for scope in resource.scope_metrics:
                        for metric in scope.metrics:
                            data = getattr(metric, metric.WhichOneof("data"))
                            for point in data.data_points:
                                out.setdefault(metric.name, []).append((attributes(point.attributes), point))
        return out

    def units(self) -> dict[str, str]:
        with self.lock:
            return {
                m.name: m.unit
                for r in self.metrics
                for res in r.resource_metrics
                for s in res.scope_metrics
                for m in s.metrics
            }

    def resources(self) -> list[dict[str, Any]]:
        with self.lock:
            return [attributes(r.resource.attributes) for q in self.metrics for r in q.resource_metrics] + [
                attributes(r.resource.attributes) for q in self.traces for r in q.resource_spans
            ]

    def spans(self) -> list[Any]:
        with self.lock:
            return [span for q in self.traces for r in q.resource_spans for s in r.scope_spans for span in s.spans]


def value_of(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in items}
