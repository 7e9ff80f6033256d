"""Rules of the layout: the machinery never imports the domain; every query named in code exists."""

from __future__ import annotations

import ast
import re
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


def test_the_outbox_machinery_imports_nothing_from_the_sync_rules_or_the_http_client() -> None:
    for path in (ROOT / "worker" / "outbox").glob("*.py"):
        forbidden = {
            m for m in _imports(path) if m.startswith(("worker.sync", "worker.clients", "worker.app"))
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
