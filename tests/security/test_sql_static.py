"""SQL only with bound parameters: every f-string / %-format / .format() that builds SQL text in the application
packages is found by walking the syntax tree, and each interpolated expression must be a reviewed identifier
(a table, staging-table or column name from our own specs; placeholder lists) — never a value. A new site fails this
test until it binds its values (``text(...)`` with ``:name`` parameters) or is reviewed and added below."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.security
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("data", "surveys", "reports", "dashboard", "metrics", "demo")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|CREATE|DROP|ALTER|COPY|SET|VALUES|JOIN)\b")

# Reviewed: file -> interpolated expressions that are identifiers or placeholder lists we generate ourselves.
REVIEWED: dict[str, set[str]] = {
    "demo/run.py": {"table"},  # World.TABLES and the delete order of data.models
    "demo/world.py": {"', '.join('?' * len(cols))", "', '.join(cols)", "table", "name"},
    # the XL loader's DDL: table / column names from demo.world.World.TABLES and demo.world.COLUMNS, constraint and index names
    # and definitions read back from PostgreSQL's own catalogue for those tables
    "demo/xl.py": {"', '.join(cols)", "table", "tbl", "name", "definition"},
    "data/io/bench.py": {"', '.join((c + ' TEXT' for c in cols))", "', '.join('?' * len(cols))", "', '.join(cols)"},
    "data/io/exporter.py": {"', '.join((f'{expr} AS {name}' for name, expr in cols))",
                            "'WHERE ' + ' AND '.join(where) if where else ''", "table", "seq", "table.name"},
    "data/io/importer.py": {"marks", "stg", "idcol", "kcol", "keycol", "t", "table", "defs", "seq", "changed_st",
                            "target", "upd_set", "', '.join(all_cols)", "select_list_s", "', '.join(cols)",
                            "'true' if pg else '1'", "changed_sj"},
    # the freshness hook re-uses spans of the writer's own statement (its target, FROM list, WHERE clause and SET
    # expressions, whose values stay placeholders bound to the writer's parameters) plus our table / column names
    "data/snapshot.py": {"col", "table", "select_list", "frm", "where", "st.table", "ids", "dep", "cond", "inner",
                         "_month_expr(d, 'x.' + dep_period)", "_month_expr(d, 'r.submitted_at')",
                         "_month_expr(d, col or '')", "int(above)"},
}


def _sql_fstrings() -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    consts = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                    if SQL.search(consts):
                        for v in node.values:
                            if isinstance(v, ast.FormattedValue):
                                found.append((rel, node.lineno, ast.unparse(v.value)))
                elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and \
                        isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) and \
                        SQL.search(node.left.value) and "%s" in node.left.value:
                    found.append((rel, node.lineno, "%-format"))
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr == "format" and isinstance(node.func.value, ast.Constant) and \
                        isinstance(node.func.value.value, str) and SQL.search(node.func.value.value):
                    found.append((rel, node.lineno, ".format()"))
    return found


def test_sql_text_interpolates_only_reviewed_identifiers() -> None:
    unreviewed = [f"{f}:{line}: {expr}" for f, line, expr in _sql_fstrings() if expr not in REVIEWED.get(f, set())]
    assert unreviewed == [], "SQL built from interpolated values; bind them instead:\n" + "\n".join(unreviewed)


def test_the_scanner_catches_value_interpolation(tmp_path: Path) -> None:
    code = 'def f(conn, name):\n    conn.execute(text(f"SELECT * FROM customer WHERE name = \'{name}\'"))\n'
    tree = ast.parse(code)
    hits = [ast.unparse(v.value) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
            for v in n.values if isinstance(v, ast.FormattedValue)]
    assert hits == ["name"] and "name" not in REVIEWED["data/io/importer.py"]


def test_secrets_come_only_from_the_environment_or_secrets_toml() -> None:
    """No connection string with a password, API key or token literal in the code; secrets.toml is git-ignored."""
    pattern = re.compile(r"(postgres(ql)?(\+\w+)?://[^:/\s'\"]+:[^@\s'\"]+@)|((api[_-]?key|secret|client_secret)"
                         r"\s*=\s*['\"][A-Za-z0-9_\-]{8,}['\"])", re.I)
    hits = []
    for pkg in (*PACKAGES, "streamlit_app.py"):
        paths = [ROOT / pkg] if pkg.endswith(".py") else sorted((ROOT / pkg).rglob("*.py"))
        for path in paths:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and "user:pass@" not in line:  # the engine's documented example
                    hits.append(f"{path.relative_to(ROOT)}:{n}")
    assert hits == []
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "secrets.toml" in ignored
