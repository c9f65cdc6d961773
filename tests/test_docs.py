"""The manual stays true: every page linked from the README, every link resolving, every command run.

The conventions (markers above fenced blocks) are in tests/docskit.py. All pages' commands start at once
in one fixture, each page in its own scratch directory (the checkout's folders linked in, `reports/`
empty, no K6_* variable), so the module takes about as long as its slowest page. `validate-only` commands
run in one process through `fixload.cli.main.main`, the function the `fixload` command calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import docskit
from tests.docskit import ROOT
from tests.support import free_port

PAGES = docskit.pages()
LINKED_DIRS = ("locustfiles", "profiles", "tests", "env", "deploy", "bench")
PAGE_TIMEOUT_S = 150.0
VALIDATE_ONLY = """
import contextlib, io, json, sys
from fixload.cli.main import main
results = []
for argv in json.load(sys.stdin):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    results.append([code, out.getvalue()])
print(json.dumps(results))
"""


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _runs_commands(page: Path) -> bool:
    return any(block.marker == "run" and "validate-only" not in block.options for block in docskit.blocks(page))


RUN_PAGES = [page for page in PAGES if _runs_commands(page)]


def _scratch(directory: Path) -> dict[str, str]:
    """The checkout's layout without its files: the folders commands name, linked; a `fixload` and a
    `locust` on PATH running this tree's code; the environment without K6_*/FIXLOAD_* settings."""
    for name in LINKED_DIRS:
        (directory / name).symlink_to(ROOT / name)
    (directory / "reports").mkdir()
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for program, module in (("fixload", "fixload"), ("locust", "locust")):
        shim = bin_dir / program
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "FIXLOAD_", "LOCUST_"))}
    env.update(PYTHONPATH=str(ROOT), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", COLUMNS="120")
    return env


class PageRun:
    """One page's `run` blocks as one shell script, started at once, judged when its test asks."""

    def __init__(self, page: Path, directory: Path) -> None:
        self.page = page
        self.directory = directory
        page_blocks = docskit.blocks(page)
        for block in page_blocks:
            if block.marker == "file":
                target = directory / block.argument
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.body, encoding="utf-8")
        script, self.commands = docskit.shell_script(page_blocks, free_port())
        (directory / "page.sh").write_text(script, encoding="utf-8")
        self.process = subprocess.Popen(
            ["bash", "page.sh"],
            cwd=directory,
            env=_scratch(directory),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.deadline = time.monotonic() + PAGE_TIMEOUT_S

    def finish(self) -> None:
        """Wait for the script, then end what it left running (its simulator): its own process group."""
        try:
            self.process.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def result(self, n: int) -> tuple[int | None, str]:
        rc = self.directory / ".docs" / f"{n}.rc"
        out = self.directory / ".docs" / f"{n}.out"
        code = int(rc.read_text().strip()) if rc.exists() else None
        return code, out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    runs: dict[str, Any] = {}
    try:
        validate_only = []
        for page in PAGES:
            for block in docskit.blocks(page):
                if "validate-only" in block.options:
                    validate_only += [(block, command) for command in block.commands()]
        directory = tmp_path_factory.mktemp("validate-only")
        argvs = directory / "argv.json"
        argvs.write_text(json.dumps([docskit.validate_only_argv(command) for _, command in validate_only]))
        with argvs.open() as stdin:
            runs["validate-only"] = (
                validate_only,
                subprocess.Popen(
                    [sys.executable, "-c", VALIDATE_ONLY],
                    cwd=directory,
                    env=_scratch(directory),
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        runs["scripts/docs"] = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "docs"), "--check"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for page in RUN_PAGES:
            runs[_name(page)] = PageRun(page, tmp_path_factory.mktemp(page.stem))
        yield runs
    finally:
        for run in runs.values():
            if isinstance(run, PageRun):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.finish()
            else:
                process = run if isinstance(run, subprocess.Popen) else run[1]
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------- structure
def test_the_readme_is_a_front_door_linking_every_page() -> None:
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 150
    linked = {(ROOT / target.split("#")[0]).resolve() for target in docskit.links(readme)}
    unlinked = [_name(page) for page in PAGES[1:] if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
    web_ui = {target.split("#")[0] for target in docskit.links(ROOT / "docs" / "web-ui.md")}
    assert "web-ui-security.md" in web_ui


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in docskit.links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in docskit.anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{_name(page)}: {broken}"


NOT_IN_THIS_REPOSITORY = {
    "scripts/run-load-tests.mjs": "the original k6 harness's wrapper, which `fixload run` replaces",
    "env/.env": "the copy of env/example.env a user fills in (git ignores it)",
}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_path_the_prose_names_exists(page: Path) -> None:
    """A module moved or renamed makes the page that names it fail here, not mislead a reader."""
    missing = [
        span
        for span, path in docskit.named_paths(page)
        if span not in NOT_IN_THIS_REPOSITORY and not (path.exists() or any(path.parent.glob(path.name)))
    ]
    assert not missing, f"{_name(page)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_command_block_is_run_or_says_why_not(page: Path) -> None:
    problems = []
    for block in docskit.blocks(page):
        if not block.is_command_block:
            continue
        if block.marker == "not-run" and not block.argument:
            problems.append(f"{block.where}: not-run without a reason")
        elif block.marker not in ("run", "not-run"):
            problems.append(f"{block.where}: no <!-- run --> or <!-- not-run: reason --> marker above the block")
        elif block.marker == "run" and not block.commands():
            problems.append(f"{block.where}: a run block without a command")
        elif any(o != "validate-only" and not re.fullmatch(r"exit=\d+(,\d+)*", o) for o in block.options):
            problems.append(f"{block.where}: unknown run option in {block.argument!r}")
    assert not problems, problems


def test_generated_sections_are_current(page_runs: dict[str, Any]) -> None:
    """docs/running.md's options are `fixload run --help`'s, docs/architecture.md's packages and lifecycle
    the code's: `scripts/docs --check` regenerates them and compares."""
    process = page_runs["scripts/docs"]
    _, stderr = process.communicate(timeout=PAGE_TIMEOUT_S)
    assert process.returncode == 0, stderr
    assert "`--html-report HTML_REPORT`" in (ROOT / "docs" / "running.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- commands
def test_validate_only_commands_pass_validation(page_runs: dict[str, Any]) -> None:
    commands, process = page_runs["validate-only"]
    assert commands, "no validate-only block found"
    stdout, stderr = process.communicate(timeout=PAGE_TIMEOUT_S)
    assert process.returncode == 0, stderr[-3000:]
    results = json.loads(stdout)
    failed = [
        f"{block.where}: {command.text} → exit {code}\n{output[-1500:]}"
        for (block, command), (code, output) in zip(commands, results, strict=True)
        if code != 0
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("page", RUN_PAGES, ids=_name)
def test_the_commands_of_each_page_run(page: Path, page_runs: dict[str, Any]) -> None:
    run: PageRun = page_runs[_name(page)]
    run.finish()
    for n, (block, command) in enumerate(run.commands, start=1):
        code, output = run.result(n)
        assert code is not None, f"{block.where}: not reached: {command.text} (an earlier command did not end)"
        allowed = {0} if command.background else block.exit_codes()  # a background server: 0 once it is ready
        assert code in allowed, f"{block.where}: `{command.text}` exited {code}:\n{output[-3000:]}"
        missing = [line for line in command.expected if not docskit.matches(line, output)]
        assert not missing, f"{block.where}: `{command.text}` did not print {missing}; it printed:\n{output[-3000:]}"
