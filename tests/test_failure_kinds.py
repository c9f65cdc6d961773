"""Issue 25 point 6: failures are counted by kind (scenario, step, status, reason without numbers, ids or
offsets), so random truncation or malformed bodies keep a bounded number of entries and log lines."""

from __future__ import annotations

import logging
import random

import pytest
from hostilekit import Hostile, Received, answer, cut
from test_hostile_targets import failures, iterate, user_of

from fixload.metrics.failures import MAX_KINDS, OTHER, FailureLog, normalised
from locustfiles.payments import PaymentsUser


def garbage(request: Received) -> bytes:
    """A complete 201 body that is not JSON, its error at a random offset (orjson names the offset)."""
    return b'{"id": "' + b"x" * random.randint(5, 400) + b'" oops'


def flow_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fixload.flows" and r.levelno >= logging.ERROR]


def test_malformed_bodies_at_random_offsets_are_one_kind(caplog: pytest.LogCaptureFixture) -> None:
    """Before: one entry and one ERROR line per offset ("line 1 column 152 (char 151)"), 172 of 176."""
    caplog.set_level(logging.ERROR, logger="fixload.flows")
    with Hostile(answer(201, garbage)) as server:
        user = user_of(PaymentsUser, server.url)
        for _ in range(30):
            iterate(user)
    [failure] = failures(user)
    assert failure["count"] == 30 and failure["status"] == 201 and "failed to parse JSON" in failure["step"]
    assert len(flow_errors(caplog)) == 1


def test_random_truncation_is_one_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="fixload.flows")
    lengths = iter(random.sample(range(100, 5000), 20))

    def serve(server: Hostile, conn: object, request: Received) -> None:
        declared = next(lengths)
        cut(random.randint(1, 50), declared, 201)(server, conn, request)  # type: ignore[arg-type]

    with Hostile(serve) as server:
        user = user_of(PaymentsUser, server.url)
        for _ in range(20):
            iterate(user)
    [failure] = failures(user)
    assert failure["count"] == 20 and failure["status"] == 0
    assert len(flow_errors(caplog)) == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("parse JSON (line 1 column 152 (char 151))", "parse JSON (line 1 column 11 (char 10))"),
        ("booking 3f2b8c1e-1111-2222-3333-444455556666 gone", "booking 0a2b8c1e-9999-2222-3333-444455556666 gone"),
        ("no zone z-8c1f2a3d", "no zone z-77aa01bb"),
        ("took 12.5 ms", "took 3 ms"),
    ],
)
def test_numbers_ids_and_offsets_do_not_make_a_kind(one: str, other: str) -> None:
    assert normalised(one) == normalised(other)


def test_different_reasons_stay_apart() -> None:
    log = FailureLog()
    assert log.record("s", "Service purchase failed", 503, "a")
    assert log.record("s", "Service purchase failed", 0, "b")  # another status, another kind
    assert log.record("s", "Service purchase — failed to parse JSON response (x)", 201, "c")
    assert not log.record("s", "Service purchase failed", 503, "d")
    assert [(f["step"], f["status"], f["count"]) for f in log.by_scenario()["s"]] == [
        ("Service purchase failed", 503, 2),
        ("Service purchase failed", 0, 1),
        ("Service purchase — failed to parse JSON response (x)", 201, 1),
    ]


def test_kinds_are_bounded_per_scenario_and_across_workers() -> None:
    worker, master = FailureLog(), FailureLog()
    for word in range(MAX_KINDS + 30):
        text = "".join(chr(97 + int(d)) for d in str(word))  # letters, so each is its own kind
        worker.record("s", f"step {text} failed", 500, "")
    master.merge(worker.snapshot())
    master.merge(worker.snapshot())  # nothing new
    for log in (worker, master):
        entries = log.by_scenario()["s"]
        assert len(entries) == MAX_KINDS + 1
        assert sum(f["count"] for f in entries) == MAX_KINDS + 30
        assert [f["count"] for f in entries if f["step"] == OTHER] == [30]
