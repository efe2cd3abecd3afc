"""Whether an exception means the catalog database is unavailable (shared infrastructure), as
opposed to something wrong with the data of one file.

The per-file steps (``cataloging/steps.py``) retry a step that failed with such an exception and,
if the database stays unavailable, let the run fail; they never record it as the file's error.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

__all__ = ["is_unavailable"]

# SQLite result codes (primary, the low byte) that say the database file cannot be used just
# now: "database is locked" after the busy timeout (BUSY, LOCKED), disk full, I/O error, the
# file cannot be opened or is read-only. None is about the row being written.
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)
# PostgreSQL SQLSTATE classes and codes of a server that cannot serve (appendix A of its
# manual): 08 connection exception, 53 insufficient resources (disk full, out of memory, too
# many connections), 57P01-57P03 admin/crash shutdown and "cannot connect now" (restarting),
# 40001/40P01 serialization failure and deadlock (transient; the same write succeeds again).
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the catalog database is
    unreachable, restarting, locked beyond the busy timeout or out of resources."""
    return any(_unavailable(error) for error in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # a pooled connection found dead, or no connection within the pool timeout
    if isinstance(exc, sa_exc.DBAPIError):
        # connection_invalidated: SQLAlchemy's dialect recognised a disconnect.
        return exc.connection_invalidated or _driver_unavailable(exc.orig)
    return _driver_unavailable(exc)


def _driver_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return exc.sqlite_errorcode & 0xFF in _SQLITE_UNAVAILABLE
    for name in ("psycopg", "psycopg2"):  # psycopg2: URLs of earlier versions' deployments
        driver = sys.modules.get(name)
        if driver is None:
            continue
        if isinstance(exc, driver.InterfaceError):
            return True  # "the connection is closed" and the like: never about the data
        if isinstance(exc, driver.OperationalError):
            code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
            # No SQLSTATE: a client-side failure (refused, closed by the server, timed out).
            return (
                code is None
                or code.startswith(_PG_UNAVAILABLE_CLASSES)
                or code in _PG_UNAVAILABLE_CODES
            )
    return False
