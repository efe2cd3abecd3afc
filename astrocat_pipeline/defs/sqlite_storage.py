"""Dagster's SQLite storages with their connections kept open, for the embedded instance
(dagster.yaml, and the instance ``astrocat index`` creates).

Dagster's own SQLite storages open a new SQLAlchemy engine and a new connection for every
operation (``SqliteRunStorage.connect``, ``SqliteScheduleStorage.connect``,
``SqliteEventLogStorage._connect``) and close them after it. Every event a run writes thus costs
an engine, a connection, a commit with its fsync (``synchronous=FULL``, SQLite's default) and,
because the last connection to a database file to close checkpoints its write-ahead log, a
second write of the page into the database file with another fsync; an asset event does all of
it twice (its run's file and the cross-run index). Profiled on a night of 24 frames: 7.5 s in
commits and 5.7 s closing connections of 47 s (bench/README.md).

These are Dagster's storages, with the same files, tables and code, except that each keeps one
engine per database file and process (``KEPT_DATABASE_FILES`` at most: the event log has a file
per run), whose pooled connection stays open between operations, with ``synchronous=NORMAL``:

- **Concurrent processes** (the daemon, the webserver, run workers, ``astrocat index``) are
  safe as before: every file is in WAL mode (Dagster creates them so), where readers never
  block and writers take the file's write lock one at a time, waiting up to SQLite's busy
  timeout (Dagster's 30 s). A kept connection holds no lock between operations (SQLAlchemy
  rolls back anything open when it is returned to its pool).
- **Durability**: with ``synchronous=NORMAL`` in WAL mode a commit is not fsynced until the
  next checkpoint. A process killed at any moment loses nothing (its commits are in the
  operating system's cache); a power cut or a kernel crash may lose the last events written
  before it, never the database's consistency. The catalog, which holds the indexing's results,
  is another database and keeps its own settings.
- **Live run logs**: Dagster's SQLite event log tells the UI of new events by watching each
  run's database file; with a kept connection the writes land in its ``-wal`` file until a
  checkpoint, so the watch here follows both files.
- **Forks**: a process forked with kept connections would share them; a storage used in a new
  process opens its own.

Used as ``storage: custom:`` (:class:`KeptConnectionSqliteStorage`, which builds the three),
whose ``base_dir`` is the instance's home, the directory Dagster's default SQLite storage uses:
a home switches between the two in either direction with its history intact.

The overridden methods are private to Dagster or depend on its private attributes; each is
listed in ``dagster_internals.py`` and ``test_dagster_internals.py`` fails, naming it, when a
Dagster upgrade changes what it overrides.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

__all__ = [
    "KEPT_DATABASE_FILES",
    "KeptConnectionSqliteEventLogStorage",
    "KeptConnectionSqliteRunStorage",
    "KeptConnectionSqliteScheduleStorage",
    "KeptConnectionSqliteStorage",
]

# Database files whose engine a storage keeps per process: the event log has one file per run
# (and the index), and a run writes to its own and the index; the least recently used beyond
# this are closed (a long-lived webserver or daemon reads many runs' files).
KEPT_DATABASE_FILES = 8
# Connections a kept engine opens beyond its one kept connection while threads overlap
# (closed again when returned), as the pooled PostgreSQL storages do (instance_storage.py).
MAX_OVERFLOW = 10


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Each new connection: commits fsynced at checkpoints only (WAL mode keeps the file
    consistent; see the module's docstring on durability)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class _KeptEngines:
    """One engine per database file (by connection string) for this process, the least
    recently used beyond ``limit`` disposed; after a fork the child starts with none."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the parent's connections are not ours to use or close.
                for inherited in self._engines.values():
                    inherited.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            kept = self._engines.get(conn_string)
            if kept is not None:
                self._engines.move_to_end(conn_string)
                return kept
            engine = create_engine(
                conn_string,
                pool_size=1,
                max_overflow=MAX_OVERFLOW,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _set_pragmas)
            self._engines[conn_string] = engine
            while len(self._engines) > self._limit:
                _, oldest = self._engines.popitem(last=False)
                # Its idle connection closes now; one still in use closes when returned.
                oldest.dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                if self._pid == os.getpid():
                    engine.dispose()
                else:
                    engine.dispose(close=False)
            self._engines.clear()


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine`` in a transaction, committed at the end (rolled back on an
    error), as Dagster's own ``connect`` gives it."""
    with engine.connect() as conn, conn.begin():
        yield conn


class KeptConnectionSqliteRunStorage(SqliteRunStorage):
    """Dagster's ``SqliteRunStorage`` (``runs.db``) with its connection kept open."""

    def __init__(self, conn_string: str, inst_data: Any = None) -> None:
        super().__init__(conn_string, inst_data)
        self._kept = _KeptEngines(1)

    @contextmanager
    def connect(self) -> Iterator[Connection]:  # overrides SqliteRunStorage.connect
        with _transaction(self._kept.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._kept.dispose()


class KeptConnectionSqliteScheduleStorage(SqliteScheduleStorage):
    """Dagster's ``SqliteScheduleStorage`` (``schedules.db``) with its connection kept open."""

    def __init__(self, conn_string: str, inst_data: Any = None) -> None:
        super().__init__(conn_string, inst_data)
        self._kept = _KeptEngines(1)

    @contextmanager
    def connect(self) -> Iterator[Connection]:  # overrides SqliteScheduleStorage.connect
        with _transaction(self._kept.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._kept.dispose()


class KeptConnectionSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded ``SqliteEventLogStorage`` (a file per run and ``index.db``) with a
    kept connection per file, and a watch that follows each run file's write-ahead log."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._kept = _KeptEngines(KEPT_DATABASE_FILES)
        self._observer: Any = None
        self._handlers: dict[tuple[str, Callable], tuple[_RunFileHandler, Any]] = {}
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # overrides Dagster's private one
        # As SqliteEventLogStorage._connect: one operation at a time per process (its lock),
        # the file created and migrated on its first use in this process; but the engine and
        # its connection are kept.
        with self._db_lock:
            engine = self._kept.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def wipe(self) -> None:
        # Dagster's deletes the runs' files: connections kept to them would write into the
        # deleted files.
        with self._db_lock:
            self._kept.dispose()
        super().wipe()

    def watch(self, run_id: str, cursor: str | None, callback: Callable) -> None:
        if self._observer is None:
            self._observer = Observer()
            self._observer.start()
        handler = _RunFileHandler(self, run_id, callback, cursor)
        watch = self._observer.schedule(handler, self._base_dir, recursive=True)
        self._handlers[(run_id, callback)] = (handler, watch)

    def end_watch(self, run_id: str, handler: Callable) -> None:
        entry = self._handlers.pop((run_id, handler), None)
        if entry is not None and self._observer is not None:
            self._observer.remove_handler_for_watch(*entry)

    def dispose(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=15)
            self._observer = None
        super().dispose()
        self._kept.dispose()


class _RunFileHandler(PatternMatchingEventHandler):
    """Calls ``callback`` with the run's new events whenever its database file or that file's
    write-ahead log changes (Dagster's own watch follows the database file only, which a kept
    connection's commits do not touch until a checkpoint). Stops after the run's last event."""

    def __init__(
        self,
        storage: KeptConnectionSqliteEventLogStorage,
        run_id: str,
        callback: Callable,
        cursor: str | None,
    ) -> None:
        self._storage = storage
        self._run_id = run_id
        self._callback = callback
        self._cursor = cursor
        self._lock = threading.Lock()
        path = storage.path_for_shard(run_id)
        self._paths = (path, f"{path}-wal")
        super().__init__(patterns=list(self._paths))

    def on_modified(self, event: FileSystemEvent) -> None:
        if event.src_path in self._paths:
            self.process()

    def on_created(self, event: FileSystemEvent) -> None:
        if event.src_path in self._paths:
            self.process()

    def process(self) -> None:
        """Hand the events after the cursor to the callback (once each, in order)."""
        from dagster._core.storage.dagster_run import DagsterRunStatus
        from dagster._core.storage.event_log.base import EventLogCursor

        with self._lock:
            records = self._storage.get_records_for_run(self._run_id, self._cursor)
            if records.cursor:
                self._cursor = records.cursor
            for record in records.records:
                cursor = str(EventLogCursor.from_storage_id(record.storage_id))
                status = self._callback(record.event_log_entry, cursor)
                if status in (
                    DagsterRunStatus.SUCCESS,
                    DagsterRunStatus.FAILURE,
                    DagsterRunStatus.CANCELED,
                ):
                    self._storage.end_watch(self._run_id, self._callback)


class KeptConnectionSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (``base_dir``: the instance's home, with the same
    folders: ``history/runs.db``, ``history/runs/*.db``, ``schedules/schedules.db``) built
    from the kept-connection storages above. Configured in dagster.yaml as::

        storage:
          custom:
            module: astrocat_pipeline.defs.sqlite_storage
            class: KeptConnectionSqliteStorage
            config:
              base_dir: {env: DAGSTER_HOME}
    """

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:  # overrides Dagster's
        self.base_dir = base_dir
        self._run_storage = KeptConnectionSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptConnectionSqliteEventLogStorage(
            _event_logs_directory(base_dir)
        )
        self._schedule_storage = KeptConnectionSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir)
        )
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> KeptConnectionSqliteStorage:
        # DagsterSqliteStorage's builds DagsterSqliteStorage by name.
        return cls.from_local(inst_data=inst_data, **config_value)


def storage_yaml(base_dir: str | None = None) -> str:
    """The ``storage:`` block of a dagster.yaml that uses these storages: ``base_dir`` the
    instance's home (a path), or None for ``$DAGSTER_HOME``."""
    import json

    where = "{env: DAGSTER_HOME}" if base_dir is None else json.dumps(os.path.realpath(base_dir))
    return (
        "storage:\n"
        "  custom:\n"
        f"    module: {__name__}\n"
        f"    class: {KeptConnectionSqliteStorage.__name__}\n"
        "    config:\n"
        f"      base_dir: {where}\n"
    )
