"""The tree shows the architecture: imports point down the layers, never up, and never in a circle.

Layers, bottom to top: the shared modules, `journal`, `queue`, `delivery`, `maintenance`, `cli`,
then the public face (`eventsync/__init__.py`, `testing.py`). `work` stands beside the shared
modules and imports nothing but them. Receiver distributions and built-in plugins import only the
public face `eventsync`. Reproduce the check by hand with
`python -m pytest tests/shared/test_import_layers.py -v`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "eventsync"
SHARED = {"errors", "home", "store", "config", "audit", "events", "receivers", "hookspecs",
          "plugins", "version"}
RANK = {"shared": 0, "work": 0, "journal": 1, "queue": 2, "delivery": 3, "maintenance": 4,
        "cli": 5, "face": 6}
DOMAINS = ("journal", "queue", "delivery", "work", "maintenance", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "face"
    head = parts[1]
    if head in DOMAINS:
        return head
    if head == "testing":
        return "face"
    assert head in SHARED, f"{module} is outside every domain and not a shared module"
    return "shared"


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every `eventsync...` module a file imports, lazily inside functions included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "eventsync":
                yield node.lineno, node.module
                continue
            # `from eventsync import hookspecs` is an import of the submodule, not of the face
            for alias in node.names:
                is_module = (CORE / f"{alias.name}.py").exists() or (CORE / alias.name).is_dir()
                yield node.lineno, f"eventsync.{alias.name}" if is_module else "eventsync"


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def allowed(importer: str, target: str) -> bool:
    low, high = layer(target), layer(importer)
    if target == "eventsync":
        return high == "face" or importer.startswith("eventsync.cli")
    if high == "work":
        return low in ("shared", "work")
    return RANK[low] <= RANK[high] and not (low == "work" and RANK[high] < RANK["delivery"])


def test_every_module_sits_in_a_domain_or_is_shared() -> None:
    stray = [module_name(p) for p in core_files()
             if len(module_name(p).split(".")) == 2 and layer(module_name(p)) == "shared"
             and module_name(p).split(".")[1] not in SHARED]
    assert stray == []
    top = {p.stem for p in CORE.glob("*.py")} - {"__init__", "testing"}
    assert top == SHARED, "a top-level module that is not shared belongs in a domain"


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_imports_point_down_only(path: Path) -> None:
    importer = module_name(path)
    upward = [f"line {line}: {importer} ({layer(importer)}) imports {name} ({layer(name)})"
              for line, name in imported(ast.parse(path.read_text(encoding="utf-8")))
              if (name == "eventsync" or name.startswith("eventsync."))
              and not allowed(importer, name)]
    assert upward == []


def plugin_files() -> list[Path]:
    roots = [ROOT / "plugins", *sorted(ROOT.glob("receivers_*"))]
    return sorted(p for root in roots for p in root.rglob("*.py")
                  if "build" not in p.parts and ".egg-info" not in str(p))


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_and_receivers_import_only_the_public_face(path: Path) -> None:
    deep = [f"line {line}: {name}"
            for line, name in imported(ast.parse(path.read_text(encoding="utf-8")))
            if name.startswith("eventsync.")]
    assert deep == [], f"{path.relative_to(ROOT)} must import only `eventsync`"


def top_level_imports(path: Path) -> set[str]:
    """Imports executed when the module loads (not those deferred into functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update(name for _, name in imported(node))
    return {n for n in names if n.startswith("eventsync.") and n != module_name(path)}


def test_no_import_cycles_at_load_time() -> None:
    graph = {module_name(p): top_level_imports(p) for p in core_files()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2 or node not in graph:
            return
        assert state.get(node) != 1, "import cycle: " + " -> ".join([*trail, node])
        state[node] = 1
        for nxt in sorted(graph[node]):
            visit(nxt, [*trail, node])
        state[node] = 2

    for module in sorted(graph):
        visit(module, [])


def test_the_check_catches_an_upward_import() -> None:
    """The rule itself can fail: a journal module importing the ledger is refused."""
    assert not allowed("eventsync.journal.coalesce", "eventsync.delivery.ledger")
    assert not allowed("eventsync.queue.offline_queue", "eventsync.delivery.targets")
    assert not allowed("eventsync.work.queue", "eventsync.journal.journal")
    assert not allowed("eventsync.delivery.batch_http", "eventsync")
    assert allowed("eventsync.maintenance.migrate", "eventsync.queue.scope")
    assert allowed("eventsync.delivery.drain_runner", "eventsync.work.scheduler")
