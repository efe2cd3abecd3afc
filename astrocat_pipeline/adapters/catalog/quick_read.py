"""Read-only searches of an SQLite catalog through the ``sqlite3`` module, for commands that
start, search and exit: SQLAlchemy takes ~0.4 s to import here, more than such a command may
take in all. The statement and the decoding are :mod:`.search_query`'s, the same the store
runs, so both give the same results.

Only a catalog that is already at the current schema revision is read this way; anything else
(PostgreSQL, a new or older catalog, an unusual URL) returns None, and the caller opens the
store, which migrates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from astrocat_pipeline.adapters.catalog.revision import SCHEMA_HEAD
from astrocat_pipeline.adapters.catalog.rows import SearchResult
from astrocat_pipeline.adapters.catalog.search_query import (
    FULL,
    NO_FILTERS,
    HeaderFilters,
    run_search,
)

# How long a read waits for a writer's lock (SQLite's busy timeout), as the store's engine does.
_BUSY_TIMEOUT_S = 30.0


def _as_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def sqlite_path(database_url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL; None for any other URL (a driver, options,
    an in-memory database)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or "?" in database_url:
        return None
    path = unquote(database_url[len(prefix) :])
    return Path(path) if path and path != ":memory:" else None


def quick_search(
    database_url: str,
    object_keys: Collection[str] | None,
    filters: HeaderFilters = NO_FILTERS,
) -> list[SearchResult] | None:
    """:meth:`CatalogStore.search` of a current SQLite catalog, or None when the store must be
    opened instead (see the module docstring)."""
    path = sqlite_path(database_url)
    if path is None or not path.is_file():
        return None
    uri = f"file:{path}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        connection.row_factory = _as_dict
        try:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None  # no schema yet
        if revision is None or revision["version_num"] != SCHEMA_HEAD:
            return None

        def execute(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            return connection.execute(sql, params).fetchall()

        return run_search(execute, object_keys, filters=filters, projection=FULL)
    finally:
        connection.close()
