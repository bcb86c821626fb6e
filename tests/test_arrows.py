"""Arrows only point down: the store imports no module above it (DESIGN.md, Architecture)."""

import ast
from pathlib import Path

import pytest

from geo.settings import PROJECT_ROOT

# the orchestration, service, interface and demo modules above the store
ABOVE_THE_STORE = ("geo.ingest", "geo.bulk", "geo.api", "geo.app", "geo.escalation",
                   "geo.cli", "geo.__main__", "geo.demo")


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the Python file ``path`` of the package tree at
    ``root``, at any depth (imports inside functions too); ``from geo import ingest`` and
    ``from .. import ingest`` in ``geo/store/`` count as ``geo.ingest``."""
    package = path.relative_to(root).parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = (*package[:len(package) - node.level + 1], node.module) if node.level \
                else (node.module,)
            base = ".".join(p for p in parts if p)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def upward_imports(folder: Path, root: Path = PROJECT_ROOT) -> list[str]:
    """Imports of `ABOVE_THE_STORE` modules in the Python files under ``folder``."""
    return [f"{path.relative_to(root).as_posix()}:{line} imports {module}"
            for path in sorted(folder.rglob("*.py"))
            for line, module in imported_modules(path, root)
            if any(module == m or module.startswith(m + ".") for m in ABOVE_THE_STORE)]


def test_the_store_imports_nothing_above_it():
    store = PROJECT_ROOT / "geo" / "store"
    assert len(list(store.rglob("*.py"))) > 10, "the store's modules were not found"
    assert upward_imports(store) == []


@pytest.mark.parametrize(("source", "module"), [
    ("from geo.ingest import ingest_records", "geo.ingest"),
    ("import geo.bulk", "geo.bulk"),
    ("from geo import api", "geo.api"),
    ("from geo.app.labels import t", "geo.app.labels"),
    ("def f():\n    from geo.escalation import escalate_unfixed", "geo.escalation"),
    ("from .. import ingest", "geo.ingest"),
    ("from ..demo.users import DEMO_USERS", "geo.demo.users"),
])
def test_an_upward_import_is_caught_wherever_it_is(tmp_path, source, module):
    store = tmp_path / "geo" / "store"
    store.mkdir(parents=True)
    (store / "fine.py").write_text("from geo.access import Scope\nfrom . import models\n"
                                   "from ..inspections import rectification_plan\n")
    (store / "bad.py").write_text(f"import datetime\n{source}\n", encoding="utf-8")
    found = upward_imports(store, tmp_path)
    line = source.count("\n") + 2
    assert found and found[0] == f"geo/store/bad.py:{line} imports {module}"
    assert not [f for f in found if f.startswith("geo/store/fine.py")]
