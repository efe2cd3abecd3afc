"""The dependency direction of docs/architecture.md, checked by rule over every module.

``defs -> cataloging -> adapters -> core``, never back: each module's source is parsed and every
import in it (at the top, inside functions, under ``if TYPE_CHECKING``) is checked against the
rules of its layer. A second test imports every module outside the Dagster wiring in a fresh
interpreter and checks that dagster never gets loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import astrocat_pipeline

PACKAGE = "astrocat_pipeline"
PACKAGE_DIR = Path(astrocat_pipeline.__file__).parent

DAGSTER = ("dagster*",)  # dagster and its integrations (dagster_postgres, dagster_celery, ...)
DATABASE = ("sqlalchemy", "alembic", "psycopg*")  # psycopg (3), psycopg2, psycopg_pool
NETWORK = ("requests", "urllib.request", "http.client", "socket")
DEFINITIONS = f"{PACKAGE}.definitions"


def _inner(*layers: str) -> tuple[str, ...]:
    return tuple(f"{PACKAGE}.{layer}" for layer in layers)


# What each layer must not import, by name prefix ("x*": any top-level package starting with x).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": _inner("adapters", "cataloging", "defs", "demo") + DAGSTER + DATABASE + NETWORK,
    "adapters": _inner("cataloging", "defs") + DAGSTER,
    "cataloging": _inner("defs") + DAGSTER,
    "demo": _inner("defs") + DAGSTER,
    # The web gallery is an interface like cli.py: it reads through the application layer and
    # the adapters (the catalog store, the thumbnail cache), never through Dagster's wiring.
    "gallery": _inner("defs") + DAGSTER + DATABASE,
    # No SQL in the wiring: the database is the adapters' (adapters/catalog) business.
    # No SQL and no file access in the wiring: the adapters and the application layer do both.
    "defs": ("sqlalchemy", "psycopg*", "os", "shutil", "pathlib"),
}
# The one Definitions object is loaded by Dagster (workspace.yaml, pyproject.toml) and built in
# definitions.py itself. The CLI's `index` runs the job in-process and takes it from there; no
# other module reaches for it (they are parts of it).
MAY_IMPORT_DEFINITIONS = frozenset({DEFINITIONS, f"{PACKAGE}.cli"})

# Lasting exceptions to the rules, each with its reason (test_every_exemption_is_still_needed
# says when one is no longer needed).
ALLOWED: dict[tuple[str, str], str] = {
    ("astrocat_pipeline.defs.instance_storage", "sqlalchemy"): (
        "the Dagster instance's own storage plug-in, not asset wiring: it reads the instance's "
        "database URL with make_url (dagster-postgres is built on SQLAlchemy) and runs no SQL"
    ),
    ("astrocat_pipeline.defs.sqlite_storage", "sqlalchemy"): (
        "the embedded Dagster instance's storage plug-in, not asset wiring: Dagster's SQLite "
        "storages run on SQLAlchemy engines, and it keeps one per database file"
    ),
    ("astrocat_pipeline.defs.sqlite_storage", "os"): (
        "the same plug-in: a process id tells a forked child from its parent (whose kept "
        "connections it must not use), and the home's path goes into dagster.yaml absolute"
    ),
}


@dataclass(frozen=True)
class Import:
    name: str  # absolute dotted name; ``from a import b`` gives both ``a`` and ``a.b``
    line: int
    statement: str


@dataclass(frozen=True)
class Violation:
    module: str
    rule: str  # the forbidden prefix, or DEFINITIONS
    imported: Import

    @property
    def key(self) -> tuple[str, str]:
        return self.module, self.rule

    def __str__(self) -> str:
        return (
            f"{self.module} (line {self.imported.line}) must not import {self.rule}: "
            f"{self.imported.statement}"
        )


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> Iterator[tuple[str, Path]]:
    """Every Python file of the package, with its dotted name (migrations included: alembic
    loads them by path, but they are the package's code all the same)."""
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield module_name(path), path


def imports(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in ``source``, wherever it is, with relative ones made absolute."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        statement = ast.unparse(node) if isinstance(node, ast.Import | ast.ImportFrom) else ""
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, statement) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(base, node.lineno, statement))
            found += [
                Import(f"{base}.{alias.name}", node.lineno, statement)
                for alias in node.names
                if alias.name != "*"
            ]
    return found


def _matches(name: str, prefix: str) -> bool:
    if prefix.endswith("*"):
        return name.split(".")[0].startswith(prefix[:-1])
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, found: list[Import]) -> list[Violation]:
    """The rules ``module`` breaks, one per rule (at its first offending import)."""
    parts = module.split(".")  # astrocat_pipeline.<layer>[.<module>]
    rules = list(FORBIDDEN.get(parts[1], ())) if len(parts) > 1 else []
    if module not in MAY_IMPORT_DEFINITIONS:
        rules.append(DEFINITIONS)
    broken: dict[str, Violation] = {}
    for item in found:
        for rule in rules:
            if rule not in broken and _matches(item.name, rule):
                broken[rule] = Violation(module, rule, item)
    return list(broken.values())


def all_violations() -> list[Violation]:
    found = []
    for module, path in package_modules():
        source = path.read_text(encoding="utf-8")
        found += violations(module, imports(source, module, path.name == "__init__.py"))
    return found


def test_every_module_keeps_the_dependency_direction():
    exempt = ALLOWED.keys()
    broken = [str(v) for v in all_violations() if v.key not in exempt]
    assert not broken, "layout rules broken (docs/architecture.md):\n" + "\n".join(broken)


def test_every_exemption_is_still_needed():
    current = {v.key for v in all_violations()}
    stale = sorted(ALLOWED.keys() - current)
    assert not stale, f"no longer needed, remove from test_layout.py's exemptions: {stale}"


def test_the_rules_catch_imports_wherever_they_are():
    """The checker itself, on a core module that breaks every rule in every way."""
    source = """
import numpy as np
from . import records
from ..adapters import catalog
import urllib.parse
from urllib import request

def solve():
    import dagster_postgres.utils
    from http.client import HTTPConnection
    from astrocat_pipeline.definitions import defs

class Store:
    def open(self):
        import psycopg2
"""
    module = f"{PACKAGE}.core.example"
    found = imports(source, module)
    assert f"{PACKAGE}.core.records" in {i.name for i in found}
    assert {v.rule: v.imported.line for v in violations(module, found)} == {
        f"{PACKAGE}.adapters": 4,
        "urllib.request": 6,
        "dagster*": 9,
        "http.client": 10,
        DEFINITIONS: 11,
        "psycopg*": 15,
    }
    assert violations(f"{PACKAGE}.cli", found) == []  # no layer rules, may load definitions
    assert {v.rule for v in violations(f"{PACKAGE}.defs.assets", found)} == {
        "psycopg*",
        DEFINITIONS,
    }
    assert {v.rule for v in violations(f"{PACKAGE}.core", found)} >= {"dagster*"}  # __init__


def _importable(path: Path) -> bool:
    """A module Python can import by name: every folder up to the package has __init__.py."""
    return all((d / "__init__.py").exists() for d in path.parents if d.is_relative_to(PACKAGE_DIR))


def test_nothing_outside_the_dagster_wiring_loads_dagster():
    """Importing the CLI, core, adapters, cataloging, demo (anything but defs/ and
    definitions.py) in a fresh interpreter leaves dagster unloaded: the CLI stays quick and the
    pure layers stay usable without it."""
    modules = [
        name
        for name, path in package_modules()
        if _importable(path)
        and not _matches(name, f"{PACKAGE}.defs")
        and not _matches(name, DEFINITIONS)
    ]
    assert {f"{PACKAGE}.cli", f"{PACKAGE}.core.records", f"{PACKAGE}.demo.library"} <= set(modules)
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "    if any(m.split('.')[0].startswith('dagster') for m in sys.modules):\n"
        "        sys.exit(f'importing {name} loads dagster')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *modules], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
