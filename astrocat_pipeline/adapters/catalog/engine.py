"""Opening the catalog database: URL and driver, engine and connection settings per backend,
read-only views, and migrations.

SQLite: WAL mode, a busy timeout, and transactions that take the write lock when they begin
(``BEGIN IMMEDIATE``), so that several Dagster run processes can write at once; reads go
through :func:`read_only`, which does not take it. PostgreSQL: psycopg 3, with pooled
connections checked after they sat idle.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    column,
    create_engine,
    event,
    func,
    inspect,
    select,
    table,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from astrocat_pipeline.adapters.catalog.revision import SCHEMA_HEAD
from astrocat_pipeline.core.errors import ConfigError

__all__ = ["MIGRATIONS_DIR", "create_catalog_engine", "migrate", "read_only"]

# A wait for the SQLite write lock longer than this is a real problem (a stuck process), not
# contention: every transaction here is a few milliseconds to a second.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key that serializes migrations on PostgreSQL (any constant bigint
# unique to this application; this one is the ASCII bytes of "astrocat").
_PG_MIGRATION_LOCK_KEY = 0x6173_7472_6F63_6174
_WAL_RETRY_S = 0.02
# A pooled PostgreSQL connection idle this long is checked with a round trip before use (see
# _check_idle_connections).
PG_PING_AFTER_IDLE_S = 1.0
_LAST_USED = "astrocat_last_used"
# The alembic revisions (no alembic.ini: migrate() configures alembic itself).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option marking a read-only connection: on SQLite it begins a deferred transaction
# (a WAL snapshot) instead of taking the write lock (see read_only).
_READ_ONLY_OPTION = "astrocat_read_only"


def _with_catalog_driver(url: str | URL) -> URL:
    """``url`` with PostgreSQL pointed at psycopg 3, the catalog's driver: a plain
    ``postgresql://`` URL and one naming psycopg2 (the form earlier versions asked for) both
    use it. The sky search reads its results in PostgreSQL's binary format, which psycopg2
    cannot ask for."""
    sa_url = make_url(url)
    if sa_url.drivername in ("postgresql", "postgresql+psycopg2"):
        return sa_url.set(drivername="postgresql+psycopg")
    return sa_url


def create_catalog_engine(url: str) -> Engine:
    """An engine for the catalog at ``url`` (``sqlite:///...`` or ``postgresql://...``).

    SQLite: the parent directory is created, and every connection gets WAL mode, a 30 s busy
    timeout, foreign keys on and ``synchronous=NORMAL``. PostgreSQL: through psycopg 3
    (:func:`_with_catalog_driver`).
    """
    sa_url = _with_catalog_driver(url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    if backend == "postgresql":
        if sa_url.get_driver_name() != "psycopg":
            raise ConfigError(
                f"unsupported catalog database driver {sa_url.drivername!r}: the catalog uses "
                "psycopg 3, write postgresql://USER@HOST/DB"
            )
        engine = create_engine(sa_url)
        _check_idle_connections(engine)
        return engine
    raise ConfigError(
        f"unsupported catalog database URL {sa_url.render_as_string(hide_password=True)!r}: "
        "expected sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _check_idle_connections(engine: Engine) -> None:
    """Check a pooled connection with a round trip before handing it out, as SQLAlchemy's
    ``pool_pre_ping``, but only when it has been idle for ``PG_PING_AFTER_IDLE_S`` or more.

    A connection the server dropped (restart, idle timeout, network) is then replaced instead
    of failing the next statement, while one in steady use does not pay a round trip per
    checkout (0.3 ms, 7% of a 2° cone search). The pool of HikariCP skips its check the same
    way for connections used within the last 500 ms. A connection dropped less than
    ``PG_PING_AFTER_IDLE_S`` after its last use fails one operation; the pool then discards it.
    """

    def used(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def check(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < PG_PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool discards the connection and checks out another (SQLAlchemy's
                # documented protocol for checkout handlers).
                raise DisconnectionError(str(exc)) from exc
            raise
        record.info[_LAST_USED] = time.monotonic()

    event.listen(engine, "connect", used)
    event.listen(engine, "checkin", used)
    event.listen(engine, "checkout", check)


def _configure_sqlite_connection(
    dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry
) -> None:
    # The sqlite3 module's own transaction handling (BEGIN only before DML, deferred) is turned
    # off; _begin_sqlite_transaction emits BEGIN instead (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the database file to WAL mode (persistent: later connections find it set).

    Switching needs an exclusive lock, and SQLite reports "database is locked" at once, without
    the busy timeout, when several new connections try it together (a fresh catalog opened by
    several processes); so that case is retried until the busy timeout.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_S)
        else:
            return


def _begin_sqlite_transaction(conn: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock: if another
    # process committed in between, SQLite fails at once with "database is locked" whatever the
    # busy timeout. Taking the lock at BEGIN makes writers queue on the busy timeout instead.
    if conn.get_execution_options().get(_READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN DEFERRED")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` for reading: on SQLite its transactions do not take the write lock.

    Transactions of a catalog engine otherwise take SQLite's write lock when they begin, so a
    connection held open for reading would make every writer wait.
    """
    return engine.execution_options(**{_READ_ONLY_OPTION: True})


def schema_revision(engine: Engine) -> str | None:
    """The catalog's schema revision, or None when it has none yet (a new database)."""
    version = table("alembic_version", column("version_num"))
    with read_only(engine).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(select(version.c.version_num)).scalar_one_or_none()


def migrate(engine: Engine) -> None:
    """Upgrade the catalog schema to the newest revision (a no-op when it is current).

    The whole upgrade is one transaction that first takes an exclusive lock (SQLite's write lock,
    or a PostgreSQL transaction-level advisory lock), so concurrent callers run one after the
    other and the later ones find nothing to do. Both backends have transactional DDL, so a
    failed revision leaves the schema as it was.
    """
    if schema_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:  # on SQLite: BEGIN IMMEDIATE
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK_KEY)))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
