"""Reading the manual's pages as tests: their fenced blocks, their markers, the links between them.

A fenced `bash` or `console` block is a command block and carries a marker on the line just above it:

    <!-- run -->                  run as written (in a scratch copy of the checkout's layout), exit 0
    <!-- run: exit=0,99 -->       the same, accepting these exit codes
    <!-- run: validate-only -->   every line is a `fixload run ...`: run with --validate-only added
    <!-- not-run: REASON -->      not run, and the page says why (a real stack, a server that never ends)

In a `console` block, `$ ` lines are commands and the lines under one are its expected output: each must
match a line of what the command printed, `...` standing for anything. Any fenced block may instead carry
`<!-- file: PATH -->`: its text is written to PATH in the scratch directory before the page's commands run.
Commands of one page run in order in one shell, so a `fixload serve ... --env-out FILE &` started by one
serves the next (the shell waits for FILE, the simulator's readiness signal); `4000`, the port the pages
use, becomes a free port.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND_LANGUAGES = ("bash", "console")
PAGE_PORT = "4000"

_FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"^<!--\s*(run|not-run|file)\s*(?::\s*(.*?))?\s*-->$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_COMMENT = re.compile(r"\s+#\s.*$")


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)

    @property
    def background(self) -> bool:
        return _COMMENT.sub("", self.text).rstrip().endswith("&")


@dataclass
class Block:
    page: Path
    line: int
    language: str
    body: str
    marker: str = ""
    """run, not-run, file, or "" when the line above the fence is no marker."""
    argument: str = ""
    """The marker's text after the colon: run options, the not-run reason, the file's path."""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def is_command_block(self) -> bool:
        return self.language in COMMAND_LANGUAGES

    @property
    def options(self) -> set[str]:
        return set(self.argument.split()) if self.marker == "run" else set()

    def exit_codes(self) -> set[int]:
        for option in self.options:
            if option.startswith("exit="):
                return {int(code) for code in option[len("exit=") :].split(",")}
        return {0}

    def commands(self) -> list[Command]:
        """The block's commands: bash lines (comments and blanks skipped, `\\` continuations joined), or a
        console block's `$ ` lines with the lines under each as its expected output."""
        commands: list[Command] = []
        pending = ""
        for raw in self.body.splitlines():
            if self.language == "console":
                if raw.startswith("$ "):
                    commands.append(Command(raw[2:]))
                elif raw.strip() and commands:
                    commands[-1].expected.append(raw.strip())
                continue
            line = pending + raw
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if _open_quote(line):  # a quoted argument spanning lines (a JSON body)
                pending = line + "\n"
                continue
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(Command(line.strip()))
        return commands


def _open_quote(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return True
    return False


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        start = text.count("\n", 0, match.start())
        above = text.splitlines()[start - 1].strip() if start else ""
        marker = _MARKER.match(above)
        block = Block(page, start + 1, match.group(1), match.group(2))
        if marker:
            block.marker, block.argument = marker.group(1), (marker.group(2) or "").strip()
        found.append(block)
    return found


def links(page: Path) -> list[str]:
    """The targets of the page's markdown links, outside fenced blocks."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return _LINK.findall(text)


_CODE_SPAN = re.compile(r"`([^`\s]+)`")
_REPO_PATH = re.compile(r"^(fixload|tests|deploy|scripts|bench|profiles|locustfiles|env|docs|\.github)/")
_PACKAGE_PATH = re.compile(r"^(common|metrics|engine|profile|report|flows|runtime|surfaces|cli|simulator)/")


def named_paths(page: Path) -> list[tuple[str, Path]]:
    """The repository paths the page's prose names in backticks (`fixload/runtime/shape.py`, `tests/x.py::test`,
    `runtime/recorder.py` for a module of a package), each with the path it stands for."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found = []
    for span in _CODE_SPAN.findall(text):
        path = span.split("::")[0]
        if _REPO_PATH.match(path):
            found.append((span, ROOT / path))
        elif _PACKAGE_PATH.match(path):
            found.append((span, ROOT / "fixload" / path))
    return found


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    slugs = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*$", text, re.M):
        slugs.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return slugs


def validate_only_argv(command: Command) -> list[str]:
    """`fixload run ARGS` as the argv of `fixload run --validate-only ARGS` (without the program name)."""
    argv = shlex.split(command.text, comments=True)
    if argv[:2] != ["fixload", "run"]:
        raise ValueError(f"a validate-only block holds only `fixload run` commands, not {command.text!r}")
    return ["run", "--validate-only", *argv[2:]]


def shell_script(page_blocks: list[Block], port: int) -> tuple[str, list[tuple[Block, Command]]]:
    """One bash script running the page's `run` blocks in order; command N leaves `.docs/N.out` (stdout and
    stderr) and `.docs/N.rc`, and the script stops at the first exit code its block does not accept."""
    lines = ["set -u", "mkdir -p .docs"]
    numbered: list[tuple[Block, Command]] = []
    for block in page_blocks:
        if block.marker != "run" or "validate-only" in block.options:
            continue
        allowed = "|".join(str(code) for code in sorted(block.exit_codes()))
        for command in block.commands():
            command.text = _with_port(command.text, port)
            command.expected = [_with_port(line, port) for line in command.expected]
            numbered.append((block, command))
            n = len(numbered)
            if command.background:
                ready = re.search(r"--env-out\s+(\S+)", command.text)
                if ready is None:
                    raise ValueError(f"{block.where}: a background command needs --env-out FILE to wait on")
                text = _COMMENT.sub("", command.text).rstrip()[:-1]
                lines.append(f"{text} > .docs/{n}.out 2>&1 &")
                file = shlex.quote(ready.group(1))
                lines.append(f"for _ in $(seq 300); do [ -s {file} ] && break; sleep 0.1; done")
                lines.append(f"if [ -s {file} ]; then echo 0 > .docs/{n}.rc; else echo 1 > .docs/{n}.rc; exit 3; fi")
            else:
                lines.append(f"{{ {command.text}\n}} > .docs/{n}.out 2>&1 < /dev/null; echo $? > .docs/{n}.rc")
                lines.append(f'grep -qxE "{allowed}" .docs/{n}.rc || exit 3')
    return "\n".join(lines) + "\n", numbered


def _with_port(text: str, port: int) -> str:
    return re.sub(rf"\b{PAGE_PORT}\b", str(port), text)


def matches(expected: str, output: str) -> bool:
    """An expected line matches a printed line when its parts, `...` between them, appear in that order
    (runs of spaces count as one: a table's column widths follow its longest cell)."""
    pattern = ".*".join(re.escape(" ".join(part.split())) for part in expected.split("..."))
    return any(re.search(pattern, " ".join(line.split())) for line in output.splitlines())
