"""The dependency rules of ARCHITECTURE.md, enforced: who may import whom, and only dashboard/ imports streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"dashboard", "reports", "surveys", "metrics", "data", "demo"}
# Nothing imports demo/ (the demo-world generator) but tests, the benchmark and command lines (EXCEPTIONS).
ALLOWED = {
    "dashboard": {"reports", "surveys", "metrics", "data"},
    "reports": {"metrics", "data"},
    "surveys": {"data", "metrics"},
    "metrics": set(),
    "data": set(),
    "demo": {"data", "surveys", "metrics"},
}
# Files allowed one extra project import, each with its reason.
EXCEPTIONS = {
    # the metrics command line is the composition root that reads frames for the pure functions
    "metrics/__main__.py": {"data"},
    # `python -m data demo` / `init --demo-if-empty` delegate to `python -m demo` (a lazy import in the command only)
    "data/__main__.py": {"demo"},
}
# Third-party packages that would break a layer's purity.
FORBIDDEN_THIRD_PARTY = {
    "metrics": {"sqlalchemy", "streamlit", "psycopg", "alembic"},
    "data": {"streamlit"},
    "surveys": {"streamlit"},
    "reports": {"streamlit"},
    "demo": {"streamlit"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(package: str) -> None:
    pkg_dir = ROOT / package
    if not pkg_dir.exists():
        pytest.skip(f"{package}/ does not exist yet")
    bad: list[str] = []
    for path in pkg_dir.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        imported = _imports(path)
        extra = EXCEPTIONS.get(path.relative_to(ROOT).as_posix(), set())
        for name in imported & PROJECT - {package} - ALLOWED[package] - extra:
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
        for name in imported & FORBIDDEN_THIRD_PARTY.get(package, set()):
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)
