"""No SQL is built from user strings: every f-string, `.format()` or `+`/`%` that assembles SQL in
the shipped code interpolates only values reviewed below (constants, `?` placeholder lists,
column names picked from constant tuples, integers). A new interpolation fails this test until
someone reviews it and adds it here with the reason it is safe."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["core", "plugins", "receivers_stub", "receivers_external", "receivers_teamspace"]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA|ALTER|CREATE|DROP|WHERE|VALUES|FROM)\b")
PLACEHOLDERS = "`?, ?, ...`: ','.join('?' * n), never a value"
CONSTANT = "a module constant holding SQL text or column names"

# (file relative to the repo, interpolated expression) -> why it is safe
OQ = "core/eventsync/queue/offline_queue.py"
REVIEWED: dict[tuple[str, str], str] = {
    ("core/eventsync/journal/journal.py", "marks"): PLACEHOLDERS,
    ("core/eventsync/delivery/ledger.py", "marks"): PLACEHOLDERS,
    ("core/eventsync/delivery/ledger.py", "_LIVE"): CONSTANT,
    ("core/eventsync/delivery/ledger.py", "format:live"):
        "_SELECT_NEW.format(live=_LIVE): constants",
    ("core/eventsync/delivery/ledger.py", "format:scope"):
        "_SELECT_NEW.format(scope=_SCOPE_RULE): constants",
    ("core/eventsync/delivery/ledger.py", "_SCOPE_RULE"): CONSTANT,
    ("core/eventsync/journal/lifecycle.py", "marks"): PLACEHOLDERS,
    ("core/eventsync/maintenance/migrate.py", "columns"): "a local literal list of column names",
    (OQ, "marks"): PLACEHOLDERS,
    ("core/eventsync/queue/queue_file.py", "_EARLIER"): CONSTANT,
    ("core/eventsync/queue/queue_file.py", "', '.join(wanted)"):
        "column names from a literal tuple, filtered by the file's columns",
    (OQ, "QUEUE_FORMAT"): "an int constant (user_version)",
    (OQ, "name"): "column name from the constant _ADDED_COLUMNS",
    (OQ, "declaration"): "type from the constant _ADDED_COLUMNS",
    ("core/eventsync/store.py", "int(busy_timeout_ms)"): "int() of a number: digits only",
    ("core/eventsync/store.py", "STORE_FORMAT"): "an int constant (user_version)",
    ("core/eventsync/delivery/targets.py", "_COLUMNS"): CONSTANT,
    ("core/eventsync/work/queue.py", "_COLUMNS"): CONSTANT,
    ("core/eventsync/work/queue.py", "_AVAILABLE"): CONSTANT,
    ("core/eventsync/work/queue.py", "_EXPIRED"): CONSTANT,
    ("core/eventsync/work/queue.py", "assignments"):
        "a SET clause; every caller of _fenced passes a literal (checked below)",
    ("plugins/eventsync_builtins/migration.py", "order"): "'id' or 'rowid', chosen in code",
    ("plugins/eventsync_builtins/migration.py", "', '.join(wanted)"):
        "column names from the constants _REQUIRED/_OPTIONAL, filtered by the file's columns",
}
# functions whose string argument is spliced into SQL: every call must pass a literal
SQL_FRAGMENT_PARAMETERS = {"_fenced": 1}


def shipped_files() -> Iterator[Path]:
    for root in SHIPPED:
        yield from sorted((ROOT / root).rglob("*.py"))


def interpolations(tree: ast.AST) -> Iterator[str]:
    """Every expression spliced into a string that reads as SQL."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if SQL.search(text):
                yield from (ast.unparse(v.value) for v in node.values
                            if isinstance(v, ast.FormattedValue))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format" and _reads_as_sql(node.func.value)):
            yield from (f"format:{kw.arg}" for kw in node.keywords)
            yield from (ast.unparse(arg) for arg in node.args)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            sides = (node.left, node.right)
            if any(isinstance(s, ast.Constant) and isinstance(s.value, str) and SQL.search(s.value)
                   for s in sides):
                yield from (ast.unparse(s) for s in sides if not isinstance(s, ast.Constant))


def _reads_as_sql(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(SQL.search(node.value))
    return (isinstance(node, ast.Name) and node.id.isupper()) or (
        isinstance(node, ast.Name) and node.id.startswith("_") and node.id[1:].isupper())


def test_every_sql_interpolation_is_reviewed() -> None:
    unreviewed = []
    for path in shipped_files():
        relative = path.relative_to(ROOT).as_posix()
        for expression in interpolations(ast.parse(path.read_text(encoding="utf-8"))):
            if (relative, expression) not in REVIEWED:
                unreviewed.append(f"{relative}: {{{expression}}}")
    assert unreviewed == [], ("SQL built with unreviewed values; use ? parameters, or review "
                              "and add to REVIEWED: " + "; ".join(unreviewed))


def test_sql_fragments_passed_to_helpers_are_literals() -> None:
    offenders = []
    for path in shipped_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            position = SQL_FRAGMENT_PARAMETERS.get(node.func.attr)
            if position is None or len(node.args) <= position:
                continue
            if not _is_literal(node.args[position]):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def _is_literal(node: ast.expr) -> bool:
    """A string constant, or constants joined by implicit concatenation or `+`."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            and _is_literal(node.left) and _is_literal(node.right))


def test_the_scan_would_catch_a_value_spliced_into_sql() -> None:
    """The scanner itself, on the mistakes it exists to catch."""
    bad = ('conn.execute(f"SELECT * FROM t WHERE name = \'{name}\'")\n'
           'conn.execute("DELETE FROM t WHERE id = " + user_id)\n'
           'conn.execute("SELECT * FROM t WHERE x = {}".format(x))\n'
           'conn.execute("UPDATE t SET a = %s" % value)\n')
    assert list(interpolations(ast.parse(bad))) == ["name", "user_id", "x", "value"]
