"""No import cycles among kraft's modules (kraft/, log/ as kraft.log, net/ as kraft.net).

The module graph is computed from the source with `ast`: every `import` and
`from ... import` anywhere in a module (function bodies included: they run
too), except those under `if TYPE_CHECKING:`, which never run. Importing
`a.b.c` also imports the packages `a` and `a.b`; that edge is counted unless
the package is one of the importing module's own ancestors (Python has
initialised those first). Modules a package discovers at run time
(importlib: kraft.broker.handlers, kraft.controller.apis) are not edges.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
    "package-dir"]


def modules() -> dict[str, Path]:
    """Every module name -> its file."""
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        root = ROOT / folder
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, name: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement in `tree` may load (TYPE_CHECKING skipped)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imported(ast.Module(body=[child], type_ignores=[]), name,
                                     is_package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)
        else:
            yield from _imported(node, name, is_package)


def import_graph() -> dict[str, set[str]]:
    """module -> the kraft modules it imports (see the module docstring)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for target in _imported(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                explicit = i == len(parts)
                ancestor = name.startswith(f"{candidate}.")
                if candidate in known and candidate != name and (explicit or not ancestor):
                    edges.add(candidate)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path back to its start) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        v = frontier.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                frontier.append(w)
    raise AssertionError("a strongly connected component without a cycle")


def test_no_import_cycles() -> None:
    """The module import graph of kraft, kraft.log and kraft.net has no cycle."""
    graph = import_graph()
    assert "kraft.broker.server" in graph and "kraft.net.server" in graph and (
        "kraft.log.segment" in graph)
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_check_sees_cycles() -> None:
    """The check finds a cycle, a self-import and one through a package's __init__,
    and skips imports that only run for type checkers."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"a"}}) == [["a", "a"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    import kraft.node\nelse:\n    import kraft.cli\n"
                     "def f():\n    from kraft.broker import server\n")
    assert set(_imported(tree, "kraft.x", False)) == {
        "typing", "typing.TYPE_CHECKING", "kraft.cli", "kraft.broker", "kraft.broker.server"}
