"""Rules of the layout: imports run downward, the machinery never imports the domain, queries exist."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from worker import queries

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


#: The layers of ``worker``, bottom first. A module may import modules of its own layer or of a lower
#: one, never of a higher one; a package stands for all its modules. Beside the layers: ``worker.sync``
#: and ``worker.outbox`` never import each other (the tests below), and the emulator imports nothing
#: of credsync but ``worker.errors``.
LAYERS: tuple[tuple[str, ...], ...] = (
    # the root package (its docstring, the map of the house), and what everything stands on
    (
        "worker",
        "worker.errors",
        "worker.settings",
        "worker.db",
        "worker.queries",
        "worker.logs",
        "worker.outcomes",
        "worker.migrate",
    ),
    ("worker.clients",),  # the HTTP clients
    ("worker.sync", "worker.outbox"),  # the domain, and the generic machinery
    ("worker.broker", "worker.metrics", "worker.tasks"),  # the parts composition puts together
    # composition, the processes and commands, the operators' and developers' tools
    (
        "worker.composition",
        "worker.app",
        "worker.cli",
        "worker.__main__",
        "worker.scheduler",
        "worker.ops",
        "worker.emulator",
        "worker.web",
    ),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in (ROOT / "worker").rglob("*.py")}


def _runtime_imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``nodes``, in functions too, but not under ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            yield from _runtime_imports(ast.iter_child_nodes(node))


def _worker_imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """The ``worker`` modules ``path`` imports (``from worker.x import y``: ``worker.x.y`` if a module)."""
    tree = ast.parse(path.read_text())
    statements = _runtime_imports([tree]) if runtime_only else ast.walk(tree)
    found: set[str] = set()
    for node in statements:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in MODULES else node.module for name in names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(_module_name(path))
    return found


def _layer(module: str) -> int:
    """The index in ``LAYERS`` of the longest entry that is ``module`` or a package holding it."""
    matches = [
        (len(entry), index)
        for index, entries in enumerate(LAYERS)
        for entry in entries
        if module == entry or module.startswith(entry + ".")
    ]
    assert matches, f"{module} is in no layer of LAYERS: add it where it belongs"
    return max(matches)[1]


def test_imports_run_downward_only() -> None:
    upward = {
        f"{module} (layer {_layer(module)}) imports {imported} (layer {_layer(imported)})"
        for module, path in MODULES.items()
        for imported in _worker_imports(path)
        if _layer(imported) > _layer(module)
    }
    assert upward == set()


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (its modules in import order, the first one again at the end), or []."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for imported in sorted(graph[module]):
            if found := visit(imported):
                return found
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        if found := visit(module):
            return found
    return []


def test_no_worker_modules_import_each_other_in_a_cycle() -> None:
    # Imports inside functions count (one "to avoid a cycle" is still a cycle); TYPE_CHECKING ones do not.
    graph = {module: _worker_imports(path, runtime_only=True) for module, path in MODULES.items()}
    assert _cycle(graph) == []


def test_the_cycle_finder_names_the_modules_of_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_building_a_broker_brings_in_neither_the_outbox_machinery_nor_the_scanners_metrics() -> None:
    # (the worker processes' metrics only: the broker's Prometheus middleware)
    reached: set[str] = set()
    todo = ["worker.broker"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(_worker_imports(MODULES[module], runtime_only=True))
    assert {m for m in reached if m.startswith(("worker.outbox", "worker.metrics.scanning"))} == set()
    assert "worker.metrics.workers" in reached


def test_the_emulator_imports_nothing_of_credsync_but_its_errors() -> None:
    for module, path in MODULES.items():
        if module.startswith("worker.emulator"):
            outside = {m for m in _worker_imports(path) if not m.startswith("worker.emulator")}
            assert outside <= {"worker.errors"}, f"{module} imports {outside}"


def test_the_outbox_machinery_imports_nothing_from_the_sync_rules_or_the_http_client() -> None:
    for path in (ROOT / "worker" / "outbox").glob("*.py"):
        forbidden = {
            m
            for m in _imports(path)
            if m.startswith(("worker.sync", "worker.clients", "worker.app", "worker.composition"))
        }
        assert forbidden == set(), f"{path.name} imports {forbidden}"


def test_the_sync_rules_know_neither_dramatiq_nor_the_outbox() -> None:
    for path in (ROOT / "worker" / "sync").glob("*.py"):
        forbidden = {m for m in _imports(path) if m.startswith(("dramatiq", "periodiq", "worker.outbox"))}
        assert forbidden == set(), f"{path.name} imports {forbidden}"


def test_every_query_named_in_the_code_exists_and_every_query_is_used() -> None:
    used: set[str] = set()
    for path in (ROOT / "worker").rglob("*.py"):
        used.update(
            re.findall(
                r'(?:fetch_one|fetch_all|execute|queries\.get)\(\s*(?:cur,\s*)?"([a-z_]+)"', path.read_text()
            )
        )
        used.update(re.findall(r'_(?:one|all)\(\s*"([a-z_]+)"', path.read_text()))
    defined = set(queries.names())
    assert used - defined == set()
    assert defined - used == set()


def test_the_map_of_a_rows_life_names_only_modules_that_exist() -> None:
    import worker

    named = set(re.findall(r"``(worker(?:\.[a-z_]+)+)", worker.__doc__ or ""))
    assert len(named) > 10
    for dotted in named:
        parts = dotted.split(".")
        # The longest prefix that is a module or a package; what follows is a name inside it.
        found = any(
            (ROOT.joinpath(*parts[:n]).with_suffix(".py")).is_file()
            or (ROOT.joinpath(*parts[:n]) / "__init__.py").is_file()
            for n in range(len(parts), 1, -1)
        )
        assert found, f"worker/__init__.py names {dotted}, which does not exist"
