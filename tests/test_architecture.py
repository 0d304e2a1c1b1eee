"""The package's layering, checked on the source with :mod:`ast` (no module is imported).

- model, training, dedup and storage know nothing of Flask, Werkzeug or click; service knows no Flask.
- Lower layers never import upper ones: model / dedup / storage < training, service < web, cli.
- No import cycle among moderator modules at import time (module-level imports outside ``if TYPE_CHECKING:``).
- The process environment is read in ``moderator/config.py`` only.

``PENDING`` lists the known violations still being fixed elsewhere; each entry is one exact finding, so a new
violation fails at once and a fixed one fails until its entry is removed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "moderator"

# Known violations, pending their fix in another branch: (check, finding) -> why it is still there.
# Empty this as the fixes land; a finding listed here that no longer occurs fails the test (stale entry).
PENDING: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in p.relative_to(PACKAGE).parts
    }


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``module``)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(name: str, *, module_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in module ``name``.

    With ``module_level_only``, imports inside functions and ``if TYPE_CHECKING:`` blocks are skipped: what
    remains is what runs when the module is imported. ``from pkg import x`` yields ``pkg.x`` when that is a
    module of the package, else ``pkg``.
    """
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(nodes: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, is_package, node)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    yield (sub if sub in MODULES else target), node.lineno
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if not module_level_only:
                    yield from visit(node.body)
            elif isinstance(node, ast.If) and _is_type_checking(node.test) and module_level_only:
                yield from visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from visit([c for c in children if isinstance(c, ast.stmt)])
                    for child in children or []:
                        if isinstance(child, ast.ExceptHandler | ast.match_case):
                            yield from visit(child.body)

    yield from visit(tree.body)


def _layer(module: str) -> str:
    if module == "moderator.__main__":
        return "cli"  # ``python -m moderator`` is the command line
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _matches(imported: str, prefix: str) -> bool:
    return imported == prefix or imported.startswith(prefix + ".") or (
        prefix.endswith("_") and imported.startswith(prefix)
    )


# layer -> third-party packages it must not import (at any point, function-level imports included)
FORBIDDEN_LIBS: dict[str, tuple[str, ...]] = {
    **{layer: ("flask", "flask_", "werkzeug", "click") for layer in ("model", "training", "dedup", "storage")},
    "service": ("flask", "flask_", "werkzeug"),
}

# layer -> moderator layers it must not import
FORBIDDEN_LAYERS: dict[str, tuple[str, ...]] = {
    "model": ("service", "web", "cli", "training"),
    "dedup": ("service", "web", "cli", "training"),
    "storage": ("service", "web", "cli", "training"),
    "training": ("service", "web", "cli"),
    "service": ("web", "cli"),
    "web": ("cli",),
    "config": ("model", "training", "dedup", "storage", "service", "web", "cli"),
    "": ("model", "training", "dedup", "storage", "service", "web", "cli"),  # moderator/__init__.py at import
}


def _findings(kind: str) -> list[str]:
    found: set[str] = set()
    for name in MODULES:
        layer = _layer(name)
        if kind == "lib":
            for imported, _line in _imports(name, module_level_only=False):
                for lib in FORBIDDEN_LIBS.get(layer, ()):
                    if _matches(imported, lib):
                        found.add(f"{name} -> {imported.split('.')[0]}")
        elif kind == "layer":
            # the package's __init__ may import lazily (inside functions); every other module may not.
            for imported, _line in _imports(name, module_level_only=(name == "moderator")):
                if not imported.startswith("moderator."):
                    continue
                target = _layer(imported)
                if target in FORBIDDEN_LAYERS.get(layer, ()) or (target == "cli" and layer != "cli"):
                    found.add(f"{name} -> {imported}")
    return sorted(found)


def _reads_environment(node: ast.AST) -> bool:
    """``os.environ`` used other than as an assignment target, ``os.getenv(...)``, or ``from os import environ``."""
    if isinstance(node, ast.ImportFrom) and node.module == "os":
        return any(a.name in {"environ", "getenv", "environb", "getenvb"} for a in node.names)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
        if node.attr in {"getenv", "getenvb", "environb"}:
            return True
        if node.attr == "environ":
            return not getattr(node, "_is_store", False)
    return False


def _mark_environ_writes(tree: ast.AST) -> None:
    """Flag ``os.environ[...] = ...`` targets: setting a child process's environment is not a read."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute):
                    t.value._is_store = True  # type: ignore[attr-defined]


def _env_findings() -> list[str]:
    found: set[str] = set()
    for name, path in MODULES.items():
        if name == "moderator.config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        _mark_environ_writes(tree)
        if any(_reads_environment(node) for node in ast.walk(tree)):
            found.add(name)
    return sorted(found)


def _check(kind: str, findings: list[str]) -> None:
    pending = {finding for (k, finding) in PENDING if k == kind}
    new = [f for f in findings if f not in pending]
    stale = sorted(pending - set(findings))
    assert not new, f"{kind} violations:\n  " + "\n  ".join(new)
    assert not stale, f"fixed, remove from PENDING: {stale}"


def test_lower_layers_know_no_web_framework_or_cli() -> None:
    _check("lib", _findings("lib"))


def test_layers_import_downwards_only() -> None:
    _check("layer", _findings("layer"))


def test_environment_is_read_in_config_only() -> None:
    _check("env", _env_findings())


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for imported, _line in _imports(name, module_level_only=True):
            # importing a.b.c runs a and a.b first: the deepest moderator module named is the edge's end
            while imported and imported not in MODULES:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported.startswith("moderator"):
                graph[name].add(imported)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete cycle through the component's first module (breadth-first: the shortest)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def test_no_import_cycles() -> None:
    graph = _import_graph()
    cycles = [" -> ".join(_cycle_in(c, graph)) for c in _strongly_connected(graph)]
    _check("cycle", cycles)


def test_checks_see_the_package() -> None:
    """Guard against a vacuous pass: the walkers find the modules and their imports."""
    assert "moderator.model.classifier" in MODULES and "moderator.cli" in MODULES
    assert "moderator.web.app" in MODULES
    graph = _import_graph()
    assert any(targets for targets in graph.values())
    assert ("flask" in {i.split(".")[0] for i, _ in _imports("moderator.web.app", module_level_only=False)})


@pytest.mark.parametrize("source, expected", [
    ("import os\nx = os.environ.get('A')", True),
    ("import os\nos.environ['A'] = 'b'", False),
    ("import os\nx = os.getenv('A')", True),
    ("from os import environ", True),
])
def test_environment_read_detection(source: str, expected: bool) -> None:
    tree = ast.parse(source)
    _mark_environ_writes(tree)
    assert any(_reads_environment(n) for n in ast.walk(tree)) is expected
