"""No import cycle between fixload's modules, and no module reaching into another package's private names.

The import contract (`lint-imports`) checks packages; these check modules, counting every import: those
inside functions and those under `TYPE_CHECKING` (a cycle hidden there is still a cycle a reader follows).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent / "fixload"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("fixload", exclude_type_checking_imports=False, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, iterative)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            for child in children:
                if child in on_stack and child in low:
                    low[node] = min(low[node], low[child])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(graph: grimp.ImportGraph) -> None:
    """The check above can fail: an import added against the direction makes a cycle it reports."""
    graph.add_import(importer="fixload.profile.limits", imported="fixload.profile.plan")
    try:
        assert any({"fixload.profile.limits", "fixload.profile.plan"} <= set(c) for c in _cycles(graph))
    finally:
        graph.remove_import(importer="fixload.profile.limits", imported="fixload.profile.plan")


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _private_imports(path: Path, module: str) -> list[str]:
    """`from fixload.<other package>... import _name` in one source file (any depth: functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("fixload"):
            continue
        imported = node.module or ""
        if _package(imported) == _package(module):
            continue
        private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        found += [f"{module} imports {imported}.{name}" for name in private]
        if any(part.startswith("_") and not part.startswith("__") for part in imported.split(".")):
            found.append(f"{module} imports the private module {imported}")
    return found


def test_no_module_imports_a_private_name_of_another_package() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(("fixload", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
        found += _private_imports(path, module)
    assert found == []


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from fixload.metrics.registry import _hidden\n", encoding="utf-8")
    assert _private_imports(source, "fixload.report.x") == ["fixload.report.x imports fixload.metrics.registry._hidden"]
