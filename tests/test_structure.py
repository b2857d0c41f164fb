"""The shape of the code: package boundaries, no import circles, migrations that are history, modules
that read in one sitting. Read from the source (``ast``), so a function-level import counts too."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "telemetry", "billing", "regie_chaleur")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines of the ``if TYPE_CHECKING:`` blocks (imports for annotations only, never executed)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(module: str) -> Iterator[str]:
    """The project modules ``module`` imports, wherever in the file (explicit imports only: importing
    ``a.b.c`` is an edge to ``a.b.c``, not to the packages ``a`` and ``a.b``)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:
                    yield full
                elif base in MODULES:
                    yield base


GRAPH = {m: sorted(set(_imports(m)) - {m}) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize(("package", "allowed"), [
    ("models", {"models"}),
    ("telemetry", {"telemetry"}),
    ("billing", {"billing", "models"}),
])
def test_packages_import_only_what_the_design_allows(package: str, allowed: set[str]) -> None:
    wrong = {(m, target) for m, targets in GRAPH.items() if m.split(".")[0] == package
             for target in targets if target.split(".")[0] not in allowed}
    assert wrong == set()


def test_migrations_import_nothing_of_the_project_but_the_database_helpers() -> None:
    wrong = {(m, target) for m, targets in GRAPH.items() if m.startswith("regie_chaleur.migrations.")
             for target in targets if not target.startswith("regie_chaleur.db.")}
    assert wrong == set()


def test_web_views_do_not_import_the_api() -> None:
    wrong = {(m, target) for m, targets in GRAPH.items() if m.startswith("regie_chaleur.web.")
             for target in targets if target.startswith("regie_chaleur.api")}
    assert wrong == set()


def test_the_application_root_holds_no_domain_wiring() -> None:
    """The root of ``regie_chaleur`` keeps only what every wing shares; a domain's wiring lives in
    ``services/``, the demonstration in ``demo/``, the command line in ``cli/``."""
    root = sorted(p.name for p in (ROOT / "regie_chaleur").glob("*.py"))
    assert root == ["__init__.py", "deps.py", "errors.py", "server.py", "settings.py"]


def test_services_say_what_they_wire() -> None:
    for path in sorted((ROOT / "regie_chaleur" / "services").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert path.name == "__init__.py" or doc.startswith("Wires "), path.name


def test_modules_read_in_one_sitting() -> None:
    long = {str(path.relative_to(ROOT)): n for m, path in MODULES.items()
            if ".migrations." not in m and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_plants_check_constraint_lists_the_registry_kinds() -> None:
    from regie_chaleur.registry.records import PLANT_KINDS

    migration = importlib.import_module("regie_chaleur.migrations.m0002_registry")
    assert migration.PLANT_KINDS == PLANT_KINDS
