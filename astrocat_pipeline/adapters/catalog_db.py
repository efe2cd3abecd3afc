"""The catalog database: the source of truth for search (SQLite by default, PostgreSQL optional).

Tables (see ``migrations/versions``): ``images`` (one row per inventoried file, with its
normalized metadata), ``plate_solutions`` (keyed by content fingerprint, so a moved or renamed
file reuses its solution), ``catalog_matches`` (objects inside a solved frame), and the sky
index: ``sky_footprints`` (one row per image whose content is solved: the HEALPix cell of the
footprint's centre at an order chosen from its size, its bounding circle, its corners and the
image's partition key), for cone searches.

Every ``CatalogStore`` method is one short transaction, and every write is an idempotent upsert,
so several Dagster run processes can write at once. On SQLite that relies on WAL mode, a busy
timeout, and transactions that take the write lock when they begin (``BEGIN IMMEDIATE``); reads
go through ``read_only(engine)``, which does not.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from astrocat_pipeline.core.errors import AstrocatError, ConfigError
from astrocat_pipeline.core.records import (
    SOLVE_STATUSES,
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    InventoryEntry,
    PlateSolution,
    SolveAttempt,
    SolveHints,
)
from astrocat_pipeline.core.sky_index import (
    GEOMETRY_DOUBLES,
    MAX_ORDER,
    cone_key_ranges,
    footprint_records,
    geometry_overlaps_cone,
    order_key_range,
    prefilter_terms,
)
from astrocat_pipeline.core.tuning import (
    SKY_INDEX_CLASS_RADIUS_DEG,
    SKY_INDEX_QUERY_CELL_FRACTION,
)

__all__ = [
    "IMAGE_STATUSES",
    "METADATA",
    "CatalogStore",
    "ImageNotFoundError",
    "catalog_matches",
    "create_catalog_engine",
    "images",
    "migrate",
    "plate_solutions",
    "read_only",
    "sky_footprints",
]

IMAGE_STATUSES = ("discovered", "indexed", "error")
# A wait for the SQLite write lock longer than this is a real problem (a stuck process), not
# contention: every transaction here is a few milliseconds to a second.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Rows per statement/transaction for bulk writes and IN lists: keeps every SQLite write
# transaction short and stays far below SQLite's bound-parameter limit (32766; 999 before 3.32).
CHUNK_SIZE = 500
# pg_advisory_xact_lock key that serializes migrations on PostgreSQL (any constant bigint
# unique to this application; this one is the ASCII bytes of "astrocat").
_PG_MIGRATION_LOCK_KEY = 0x6173_7472_6F63_6174
_WAL_RETRY_S = 0.02
# A pooled PostgreSQL connection idle this long is checked with a round trip before use (see
# _check_idle_connections).
PG_PING_AFTER_IDLE_S = 1.0
_LAST_USED = "astrocat_last_used"
_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Execution option marking a read-only connection: on SQLite it begins a deferred transaction
# (a WAL snapshot) instead of taking the write lock (see read_only).
_READ_ONLY_OPTION = "astrocat_read_only"
_MESSIER_KEY = re.compile(r"M (\d+)")


class ImageNotFoundError(AstrocatError, LookupError):
    """A write named a partition key that is not in the catalog's inventory."""


# --- column types ---------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type: values are stored as naive UTC text, which also keeps ``<`` and
    ``ORDER BY`` chronological there. A naive input is refused rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, found naive {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SafeText(TypeDecorator[str]):
    """Text without NUL characters: PostgreSQL refuses them, and headers of damaged files have
    them; one bad file must not fail its whole write (invariant 5)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "") if value is not None else None


class SafeFloat(TypeDecorator[float]):
    """Double precision where NaN is stored as NULL on every backend (SQLite does so anyway)."""

    impl = Double
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> float | None:
        if value is None or math.isnan(value):
            return None
        return float(value)


# --- schema (must match the newest revision in migrations/versions; a test compares them) ------

# Deterministic constraint names on every backend, so that later migrations can refer to them
# (SQLite's batch mode needs named constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = MetaData(naming_convention=NAMING_CONVENTION)

images = Table(
    "images",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("partition_key", SafeText, nullable=False, unique=True),
    Column("root", SafeText, nullable=False),
    Column("rel_path", SafeText, nullable=False),
    Column("path", SafeText, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("fingerprint", SafeText, index=True),
    Column("format", SafeText, nullable=False),
    Column("status", SafeText, nullable=False),
    Column("error_stage", SafeText),
    Column("error", SafeText),
    # ImageMetadata, all NULL until the file is indexed
    Column("width", Integer),
    Column("height", Integer),
    Column("channels", Integer),
    Column("bit_depth", Integer),
    Column("frame_type", SafeText, index=True),
    Column("object", SafeText),
    Column("object_key", SafeText, index=True),
    Column("exposure_s", SafeFloat),
    Column("date_obs", UTCDateTime),
    Column("camera", SafeText),
    Column("telescope", SafeText),
    Column("filter", SafeText),
    Column("gain", SafeFloat),
    Column("offset", SafeFloat),
    Column("iso", Integer),
    Column("ccd_temp_c", SafeFloat),
    Column("focal_length_mm", SafeFloat),
    Column("pixel_size_um", SafeFloat),
    Column("binning", Integer),
    Column("bayer_pattern", SafeText),
    Column("ra_deg", SafeFloat),
    Column("dec_deg", SafeFloat),
    Column("has_wcs", Boolean),
    Column("raw_header", SafeText),  # JSON object: keyword -> value
    Column("thumbnail_path", SafeText),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("root", "rel_path"),
)

plate_solutions = Table(
    "plate_solutions",
    METADATA,
    Column("fingerprint", SafeText, primary_key=True),
    Column("status", SafeText, nullable=False),
    Column("solver", SafeText),
    Column("ra_deg", SafeFloat),
    Column("dec_deg", SafeFloat),
    Column("pixel_scale_arcsec", SafeFloat),
    Column("rotation_deg", SafeFloat),
    Column("parity", SafeText),
    Column("width_deg", SafeFloat),
    Column("height_deg", SafeFloat),
    Column("radius_deg", SafeFloat),
    Column("corners", SafeText),  # JSON: [[ra_deg, dec_deg], ...]
    Column("wcs_header", SafeText),
    Column("hints_used", SafeText),  # JSON: SolveHints.to_dict()
    Column("elapsed_s", SafeFloat),
    Column("error", SafeText),
    Column("submission_id", BigInteger),
    Column("job_id", BigInteger),
    Column("attempts", SafeText),  # JSON: [SolveAttempt.to_dict(), ...]
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_plate_solutions_status_updated_at", "status", "updated_at"),
)

catalog_matches = Table(
    "catalog_matches",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column(
        "image_id",
        Integer,
        ForeignKey("images.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("catalog", SafeText, nullable=False),
    Column("designation", SafeText, nullable=False, index=True),
    Column("name", SafeText),
    Column("object_type", SafeText, nullable=False),
    Column("ra_deg", SafeFloat, nullable=False),
    Column("dec_deg", SafeFloat, nullable=False),
    Column("x_px", SafeFloat, nullable=False),
    Column("y_px", SafeFloat, nullable=False),
    Column("major_axis_arcmin", SafeFloat),
    Column("messier", Integer, index=True),
    Column("minor_axis_arcmin", SafeFloat),
    Column("position_angle_deg", SafeFloat),
    Column("magnitude", SafeFloat),
)

# The sky index (issue 6): one row per image whose content is solved (its solution's four
# corners), see core.sky_index. healpix_uniq is the NUNIQ number of the HEALPix cell of the
# footprint's centre at its size class's order; x, y, z the centre's unit vector and cos/sin_radius
# its bounding radius, for a bounding-circle filter in SQL; geometry the packed float64 values the
# exact test needs (core.sky_index.GEOMETRY_DOUBLES); partition_key the image's, so that a cone
# search reads one small row per candidate and nothing else. Plain columns and one B-tree, the
# same on SQLite and PostgreSQL without extensions. The primary key (healpix_uniq, image_id) is
# the B-tree a cone search walks; it holds the whole row: SQLite keeps it as the table (WITHOUT
# ROWID) and PostgreSQL INCLUDEs the other columns, so that the scan is index-only.
#
# A row per image rather than per solution, because looking up the images of ~1,000 solutions
# took more than half of a 2-degree search (bench/cone_search_bench.py). The rows follow both
# sides: save_solution rewrites those of the content's images, record_file those of an image
# whose content changed, deleting an image or a solution deletes them (cascades), and a reused
# solution writes the image's row again (index_image_footprint).
_SKY_ROW_COLUMNS = ("partition_key", "x", "y", "z", "cos_radius", "sin_radius", "geometry")
sky_footprints = Table(
    "sky_footprints",
    METADATA,
    Column("healpix_uniq", Integer, nullable=False, autoincrement=False),
    Column(
        "image_id",
        Integer,
        ForeignKey("images.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
        autoincrement=False,
    ),
    Column("partition_key", SafeText, nullable=False),
    Column(
        "fingerprint",
        SafeText,
        ForeignKey("plate_solutions.fingerprint", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("x", Double, nullable=False),
    Column("y", Double, nullable=False),
    Column("z", Double, nullable=False),
    Column("cos_radius", Double, nullable=False),
    Column("sin_radius", Double, nullable=False),
    Column("geometry", LargeBinary, nullable=False),
    PrimaryKeyConstraint("healpix_uniq", "image_id", postgresql_include=list(_SKY_ROW_COLUMNS)),
    sqlite_with_rowid=False,
)

_METADATA_FIELDS = tuple(f.name for f in dataclasses.fields(ImageMetadata))
# Written by record_metadata; path and format belong to the inventory.
_METADATA_COLUMNS = tuple(n for n in _METADATA_FIELDS if n not in ("path", "format"))
_MATCH_FIELDS = tuple(f.name for f in dataclasses.fields(CatalogMatch))
_GEOMETRY_COLUMNS = tuple(
    f.name for f in dataclasses.fields(FieldGeometry) if f.name != "corners_deg"
)
_INVENTORY_COLUMNS = ("root", "rel_path", "path", "size_bytes", "mtime_ns", "format")


# --- engine and migrations ------------------------------------------------------------------


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


def migrate(engine: Engine) -> None:
    """Upgrade the catalog schema to the newest revision (a no-op when it is current).

    The whole upgrade is one transaction that first takes an exclusive lock (SQLite's write lock,
    or a PostgreSQL transaction-level advisory lock), so concurrent callers run one after the
    other and the later ones find nothing to do. Both backends have transactional DDL, so a
    failed revision leaves the schema as it was.
    """
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:  # on SQLite: BEGIN IMMEDIATE
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK_KEY)))
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


# --- the store ------------------------------------------------------------------------------

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    # default=str: a header value of an unexpected type is kept as its text, not lost.
    return json.dumps(value, default=str)


def _loads(value: str | None) -> Any:
    return json.loads(value) if value is not None else None


class CatalogStore:
    """Reads and writes the catalog. Each method is one short transaction; writes are upserts.

    ``clock`` returns the current UTC time for ``created_at``/``updated_at`` (tests pass a fixed
    one). Timestamps are set here, not by the server, so both backends store the same values.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._reader = read_only(engine)
        self._clock = clock
        # The sky index's size classes seen by the last PostgreSQL cone search; each search
        # checks them in the same statement (see _pg_candidates).
        self._sky_classes: list[int] = []

    # -- helpers --

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @staticmethod
    def _lock_image(conn: Connection, partition_key: str) -> Any:
        """The image's ``id`` and ``fingerprint`` (a row); the image's row stays locked until the
        transaction ends, which serializes read-then-write transactions on one image (SQLite's
        BEGIN IMMEDIATE already does)."""
        row = conn.execute(
            select(images.c.id, images.c.fingerprint)
            .where(images.c.partition_key == partition_key)
            .with_for_update()
        ).first()
        if row is None:
            raise ImageNotFoundError(
                f"no image with partition key {partition_key!r} in the catalog"
            )
        return row

    def _update_image(self, partition_key: str, values: dict[str, Any]) -> None:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(images)
                .where(images.c.partition_key == partition_key)
                .values(**values, updated_at=self._clock())
            )
            if result.rowcount == 0:
                raise ImageNotFoundError(
                    f"no image with partition key {partition_key!r} in the catalog"
                )

    # -- images --

    def upsert_inventory(self, entries: Iterable[InventoryEntry]) -> None:
        """Insert new files (status ``discovered``) and refresh where known files now are.

        Only the inventory columns of an existing row change, and only when they differ, so a
        rescan of an unchanged library writes nothing. Fingerprint, metadata and status stay
        until the pipeline recomputes them.
        """
        by_key = {entry.partition_key: entry for entry in entries}  # one row per key
        now = self._clock()
        # Rows in key order: concurrent batches then lock rows (PostgreSQL) in the same order
        # and cannot deadlock.
        rows = [
            {
                "partition_key": e.partition_key,
                "root": e.root,
                "rel_path": e.rel_path,
                "path": e.path,
                "size_bytes": e.size_bytes,
                "mtime_ns": e.mtime_ns,
                "format": e.format,
                "status": "discovered",
                "created_at": now,
                "updated_at": now,
            }
            for _, e in sorted(by_key.items())
        ]
        stmt = self._insert(images)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[images.c.partition_key],
            set_={name: excluded[name] for name in (*_INVENTORY_COLUMNS, "updated_at")},
            where=or_(
                *(images.c[name].is_distinct_from(excluded[name]) for name in _INVENTORY_COLUMNS)
            ),
        )
        for chunk in _chunks(rows):
            with self._engine.begin() as conn:
                conn.execute(stmt, list(chunk))

    def get_image(self, partition_key: str) -> dict[str, Any] | None:
        """Every column of one image (``raw_header`` decoded), or None if it is not cataloged."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(images).where(images.c.partition_key == partition_key)
            ).first()
        if row is None:
            return None
        image = dict(row._mapping)
        image["raw_header"] = _loads(image["raw_header"])
        return image

    def record_file(
        self, partition_key: str, *, fingerprint: str, size_bytes: int, mtime_ns: int
    ) -> None:
        """Record the content fingerprint of a file (and the size/mtime it was computed for).

        When the content changed, the image's footprint in the sky index goes with the old
        content, and comes from the new one's solution if it is solved (a moved or copied file
        is found by sky position at once).
        """
        with self._engine.begin() as conn:
            row = self._lock_image(conn, partition_key)
            conn.execute(
                update(images)
                .where(images.c.id == row.id)
                .values(
                    fingerprint=fingerprint,
                    size_bytes=size_bytes,
                    mtime_ns=mtime_ns,
                    updated_at=self._clock(),
                )
            )
            if row.fingerprint != fingerprint:
                _write_footprints(conn, fingerprint, _solved_corners(conn, fingerprint), row.id)

    def index_image_footprint(self, partition_key: str) -> None:
        """Write the image's row of the sky index from its content's solution (none unless
        solved), whatever was there: a step that reuses a solution calls it, so that an image
        recorded while its content was being solved elsewhere is indexed too."""
        with self._engine.begin() as conn:
            row = self._lock_image(conn, partition_key)
            corners = _solved_corners(conn, row.fingerprint) if row.fingerprint else []
            _write_footprints(conn, row.fingerprint, corners, row.id)

    def record_metadata(
        self,
        partition_key: str,
        metadata: ImageMetadata,
        raw_header: dict[str, Any],
        object_key: str | None,
    ) -> None:
        """Store normalized metadata and the raw header; the image becomes ``indexed``."""
        values: dict[str, Any] = {name: getattr(metadata, name) for name in _METADATA_COLUMNS}
        values.update(
            raw_header=_dumps(raw_header),
            object_key=object_key,
            status="indexed",
            error_stage=None,
            error=None,
        )
        self._update_image(partition_key, values)

    def record_error(self, partition_key: str, stage: str, message: str) -> None:
        """Mark an image as failed at ``stage`` (e.g. "metadata") with a message for the user."""
        self._update_image(
            partition_key, {"status": "error", "error_stage": stage, "error": message}
        )

    def record_thumbnail(self, partition_key: str, thumbnail_path: str | None) -> None:
        """Record where the image's thumbnail is (None: it has none)."""
        self._update_image(partition_key, {"thumbnail_path": thumbnail_path})

    def delete_images(self, partition_keys: Collection[str]) -> int:
        """Remove images (and, by cascade, their matches); returns how many rows went.

        Plate solutions stay: they belong to file content that may reappear elsewhere.
        """
        deleted = 0
        for chunk in _chunks(sorted(set(partition_keys))):
            with self._engine.begin() as conn:
                result = conn.execute(delete(images).where(images.c.partition_key.in_(chunk)))
                deleted += result.rowcount
        return deleted

    def partition_keys(self) -> list[str]:
        """All cataloged partition keys, sorted."""
        with self._reader.connect() as conn:
            return list(
                conn.scalars(select(images.c.partition_key).order_by(images.c.partition_key))
            )

    def inventory_by_key(self, keys: Collection[str] | None = None) -> dict[str, tuple[int, int]]:
        """partition_key -> (size_bytes, mtime_ns), for ``keys`` or for every image."""
        query = select(images.c.partition_key, images.c.size_bytes, images.c.mtime_ns)
        with self._reader.connect() as conn:
            if keys is None:
                rows = list(conn.execute(query))
            else:
                rows = []
                for chunk in _chunks(sorted(set(keys))):
                    rows.extend(conn.execute(query.where(images.c.partition_key.in_(chunk))))
        return {key: (int(size), int(mtime)) for key, size, mtime in rows}

    def recorded_files(self, root: str) -> dict[str, tuple[str, tuple[int, int]]]:
        """Every cataloged file under ``root``: partition key -> (relative path, (size, mtime)).

        One indexed query (the (root, rel_path) unique constraint): ~0.3 s for 100,000 rows.
        """
        query = select(
            images.c.partition_key, images.c.rel_path, images.c.size_bytes, images.c.mtime_ns
        ).where(images.c.root == root)
        with read_only(self._engine).connect() as conn:
            rows = conn.execute(query).all()  # one fetch: iterating row by row is 3x slower
        return {key: (rel_path, (int(size), int(mtime))) for key, rel_path, size, mtime in rows}

    def unprocessed_keys(self) -> set[str]:
        """Cataloged files that ``image_file`` never recorded (no fingerprint, no error)."""
        query = select(images.c.partition_key).where(
            images.c.fingerprint.is_(None), images.c.status == "discovered"
        )
        with read_only(self._engine).connect() as conn:
            return set(conn.scalars(query))

    def count_images(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(images)) or 0)

    # -- plate solutions --

    def save_solution(self, fingerprint: str, solution: PlateSolution) -> None:
        """Store the outcome of a solve of ``fingerprint``'s content (replacing an earlier one).

        An online job's submission_id/job_id are kept. A ``solved`` solution with four corners
        is also indexed for :meth:`cone_search` (its footprint and sky cells); any other outcome
        removes the content's footprint from the index.
        """
        if solution.status not in SOLVE_STATUSES:
            raise ValueError(f"expected a status in {SOLVE_STATUSES}, found {solution.status!r}")
        geometry = solution.geometry
        now = self._clock()
        values: dict[str, Any] = {
            "status": solution.status,
            "solver": solution.solver,
            "corners": _dumps(geometry.corners_deg) if geometry else None,
            "wcs_header": solution.wcs_header,
            "hints_used": _dumps(solution.hints_used.to_dict()) if solution.hints_used else None,
            "elapsed_s": solution.elapsed_s,
            "error": solution.error,
            "attempts": _dumps([a.to_dict() for a in solution.attempts]),
            "updated_at": now,
        }
        for name in _GEOMETRY_COLUMNS:
            values[name] = getattr(geometry, name) if geometry else None
        stmt = self._insert(plate_solutions).values(
            fingerprint=fingerprint, created_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[plate_solutions.c.fingerprint],
            set_={name: stmt.excluded[name] for name in values},
        )
        corners = geometry.corners_deg if geometry and solution.status == "solved" else ()
        with self._engine.begin() as conn:
            conn.execute(stmt)  # on PostgreSQL this locks the row until the footprint is written
            _write_footprints(conn, fingerprint, corners)

    def set_solution_status(
        self,
        fingerprint: str,
        status: str,
        solver: str | None,
        *,
        submission_id: int | None = None,
        job_id: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record the progress of a solve (creating the row if needed).

        ``error`` is replaced (None clears it); a None ``submission_id``/``job_id`` keeps the
        stored one, so the steps of an online job can each pass only what they learned. The
        geometry of an earlier solve is left as it is.
        """
        if status not in SOLVE_STATUSES:
            raise ValueError(f"expected a status in {SOLVE_STATUSES}, found {status!r}")
        now = self._clock()
        stmt = self._insert(plate_solutions).values(
            fingerprint=fingerprint,
            status=status,
            solver=solver,
            submission_id=submission_id,
            job_id=job_id,
            error=error,
            created_at=now,
            updated_at=now,
        )
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[plate_solutions.c.fingerprint],
            set_={
                "status": excluded.status,
                "solver": excluded.solver,
                "error": excluded.error,
                "submission_id": func.coalesce(
                    excluded.submission_id, plate_solutions.c.submission_id
                ),
                "job_id": func.coalesce(excluded.job_id, plate_solutions.c.job_id),
                "updated_at": excluded.updated_at,
            },
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def get_solution_row(self, fingerprint: str) -> dict[str, Any] | None:
        """Every column of one plate solution (``corners`` and ``hints_used`` decoded)."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(plate_solutions).where(plate_solutions.c.fingerprint == fingerprint)
            ).first()
        if row is None:
            return None
        solution = dict(row._mapping)
        solution["corners"] = _loads(solution["corners"])
        solution["hints_used"] = _loads(solution["hints_used"])
        solution["attempts"] = _loads(solution["attempts"]) or []
        return solution

    def get_solution(self, fingerprint: str) -> PlateSolution | None:
        """The plate solution of ``fingerprint``'s content, or None if it was never tried."""
        row = self.get_solution_row(fingerprint)
        return _solution_from_row(row) if row is not None else None

    def fail_stale_solutions(self, stale_before: datetime, message: str) -> list[str]:
        """Fail solves still ``submitted``/``processing`` that were last updated before
        ``stale_before``, so they can be retried; returns their fingerprints."""
        stale = (
            plate_solutions.c.status.in_(("submitted", "processing")),
            plate_solutions.c.updated_at < stale_before,
        )
        now = self._clock()
        with self._engine.begin() as conn:
            # FOR UPDATE: on PostgreSQL a concurrent cleaner waits, then skips rows it no longer
            # matches; SQLite holds its write lock from BEGIN IMMEDIATE anyway.
            fingerprints = list(
                conn.scalars(
                    select(plate_solutions.c.fingerprint)
                    .where(*stale)
                    .order_by(plate_solutions.c.fingerprint)
                    .with_for_update()
                )
            )
            for chunk in _chunks(fingerprints):
                conn.execute(
                    update(plate_solutions)
                    .where(plate_solutions.c.fingerprint.in_(chunk))
                    .values(status="failed", error=message, updated_at=now)
                )
        return fingerprints

    # -- catalog matches --

    def replace_matches(self, partition_key: str, matches: Sequence[CatalogMatch]) -> None:
        """Make ``matches`` the image's catalog matches (previous ones are removed)."""
        with self._engine.begin() as conn:
            image_id = self._lock_image(conn, partition_key).id
            conn.execute(delete(catalog_matches).where(catalog_matches.c.image_id == image_id))
            if matches:
                conn.execute(
                    catalog_matches.insert(),
                    [{"image_id": image_id, **match.to_dict()} for match in matches],
                )

    def get_matches(self, partition_key: str) -> list[dict[str, Any]]:
        """The image's catalog matches as ``CatalogMatch.to_dict()`` dicts, in stored order."""
        query = (
            select(*(catalog_matches.c[name] for name in _MATCH_FIELDS))
            .join(images, images.c.id == catalog_matches.c.image_id)
            .where(images.c.partition_key == partition_key)
            .order_by(catalog_matches.c.id)
        )
        with self._reader.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- search --

    def search(
        self, object_keys: Collection[str] | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Images showing any of ``object_keys`` (normalized designations such as "NGC 224" or
        "M 31"), ordered by observation time then path; None means every image.

        An image matches through its catalog matches (designation, or Messier number for an
        "M n" key) or, for frames never solved, through its header's normalized OBJECT.
        """
        solution_columns = [c.label(f"ps_{c.name}") for c in plate_solutions.c]
        query = (
            select(images, *solution_columns)
            .outerjoin(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)
            .order_by(images.c.date_obs.is_(None), images.c.date_obs, images.c.path, images.c.id)
        )
        if isinstance(object_keys, str):
            raise TypeError(
                f"expected a collection of object keys, found the string {object_keys!r}"
            )
        if object_keys is not None:
            keys = sorted(set(object_keys))
            if not keys:
                return []
            messier = sorted(
                {int(m.group(1)) for k in keys if (m := _MESSIER_KEY.fullmatch(k)) is not None}
            )
            matched = select(catalog_matches.c.image_id).where(
                or_(catalog_matches.c.designation.in_(keys), catalog_matches.c.messier.in_(messier))
            )
            query = query.where(or_(images.c.id.in_(matched), images.c.object_key.in_(keys)))
        if limit is not None:
            query = query.limit(limit)

        with self._reader.connect() as conn:
            rows = [row._mapping for row in conn.execute(query)]
            matches_by_image: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
            match_query = select(
                catalog_matches.c.image_id, *(catalog_matches.c[name] for name in _MATCH_FIELDS)
            ).order_by(catalog_matches.c.id)
            for chunk in _chunks(list(matches_by_image)):
                for match in conn.execute(match_query.where(catalog_matches.c.image_id.in_(chunk))):
                    fields = dict(match._mapping)
                    matches_by_image[fields.pop("image_id")].append(fields)

        results = []
        for row in rows:
            result: dict[str, Any] = {"partition_key": row["partition_key"]}
            for name in _METADATA_FIELDS:
                result[name] = row[name]
            if result["date_obs"] is not None:
                result["date_obs"] = result["date_obs"].isoformat()
            result["status"] = row["status"]
            result["error"] = row["error"]
            result["thumbnail_path"] = row["thumbnail_path"]
            solution = None
            if row["ps_fingerprint"] is not None:
                solution_row = {c.name: row[f"ps_{c.name}"] for c in plate_solutions.c}
                solution_row["corners"] = _loads(solution_row["corners"])
                solution_row["hints_used"] = _loads(solution_row["hints_used"])
                solution_row["attempts"] = _loads(solution_row["attempts"])
                solution = _solution_from_row(solution_row).to_dict()
            result["plate_solution"] = solution
            result["matches"] = matches_by_image[row["id"]]
            results.append(result)
        return results

    def images_under(self, folder: str | None) -> list[dict[str, Any]]:
        """Images whose file lies in ``folder`` or below it (None: every image), ordered by
        path, with ``partition_key``, ``path``, ``size_bytes``, ``mtime_ns``, ``status``,
        ``frame_type``, ``thumbnail_path`` and ``solution_status`` (None: never solved)."""
        prefix = None
        if folder:
            prefix = folder.rstrip("/") + "/"
        query = (
            select(
                images.c.partition_key,
                images.c.path,
                images.c.size_bytes,
                images.c.mtime_ns,
                images.c.status,
                images.c.frame_type,
                images.c.thumbnail_path,
                plate_solutions.c.status.label("solution_status"),
            )
            .outerjoin(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)
            .order_by(images.c.path, images.c.id)
        )
        with self._reader.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        if prefix is None:
            return rows
        return [r for r in rows if r["path"] == folder or r["path"].startswith(prefix)]

    def clear_thumbnail_paths(self) -> int:
        """Forget every recorded thumbnail (after the cache was emptied); returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(images)
                .where(images.c.thumbnail_path.is_not(None))
                .values(thumbnail_path=None)
            )
        return int(result.rowcount or 0)

    def cone_search(self, ra_deg: float, dec_deg: float, radius_deg: float) -> list[str]:
        """Partition keys of the images whose solved footprint overlaps a cone.

        Exact on the sphere: an image counts when the cone's centre is inside its footprint (the
        quadrilateral of its corners) or an edge comes within ``radius_deg``, not by distance
        between centres; right across RA 0h and at the poles. Candidates come from a few ranges
        of the sky index per size class, filtered by bounding circle in the database; the exact
        test runs on their packed geometry here (numpy). Ordered by distance from the cone's
        centre to the footprint's centre, then key.

        Parameters
        ----------
        ra_deg, dec_deg : float
            Centre of the cone, ICRS degrees (Dec within [-90, 90]).
        radius_deg : float
            Radius in degrees (>= 0; 0 finds the frames containing the point).
        """
        for name, value in (("ra_deg", ra_deg), ("dec_deg", dec_deg), ("radius_deg", radius_deg)):
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not -90.0 <= dec_deg <= 90.0:
            raise ValueError(f"dec_deg must be within [-90, 90], got {dec_deg!r}")
        if radius_deg < 0:
            raise ValueError(f"radius_deg must be >= 0, got {radius_deg!r}")
        terms = prefilter_terms(ra_deg, dec_deg, radius_deg)

        def ranges_for(classes: Sequence[int]) -> list[tuple[int, int]]:
            return cone_key_ranges(
                ra_deg,
                dec_deg,
                radius_deg,
                classes,
                SKY_INDEX_CLASS_RADIUS_DEG,
                SKY_INDEX_QUERY_CELL_FRACTION,
            )

        with self._reader.connect() as conn:
            if conn.dialect.name == "postgresql":
                keys, packed = self._pg_candidates(conn, ranges_for, terms)
            else:
                keys, packed = _sqlite_candidates(conn, ranges_for, terms)
        if not keys:
            return []
        geometry = np.frombuffer(packed, dtype="<f8").reshape(len(keys), GEOMETRY_DOUBLES)
        overlaps, closeness = geometry_overlaps_cone(geometry, ra_deg, dec_deg, radius_deg)
        return _nearest_first(keys, overlaps, closeness)

    def _pg_candidates(
        self,
        conn: Connection,
        ranges_for: Callable[[Sequence[int]], list[tuple[int, int]]],
        terms: tuple[float, ...] | None,
    ) -> tuple[list[str], bytes]:
        """The candidates of a cone search on PostgreSQL (as :func:`_sqlite_candidates`), in one
        round trip: the search's settings and its statement are pipelined (psycopg 3) and end
        with one Sync, so they share one implicit transaction that the settings
        (``set_config(..., true)``) end with; in autocommit, so no BEGIN and ROLLBACK. psycopg
        prepares the statement on a connection's first search, and its result comes in
        PostgreSQL's binary format: the packed geometry as its own bytes rather than hex text,
        half as much to move (a millisecond less for a 2° cone's ~120 kB).

        The statement reads the candidates of the size classes seen last time and which classes
        hold a footprint now. A class that has appeared since (a footprint of a new size) is
        searched again at once, so no result ever misses one; a class that has emptied costs a
        few empty ranges.
        """
        dbapi: Any = conn.connection.dbapi_connection  # psycopg's own connection
        prefilter = terms is not None
        # Autocommit set on the driver's connection directly, and restored before the pool
        # gets it back: through SQLAlchemy's isolation_level option, setting and resetting it
        # cost a third of a millisecond per search.
        dbapi.autocommit = True
        try:
            classes = self._sky_classes
            joined = True
            while True:
                ranges = ranges_for(classes)
                params = (
                    _pg_bigint_array(lo for lo, _ in ranges),
                    _pg_bigint_array(hi for _, hi in ranges),
                    *(terms or ()),
                )
                with dbapi.pipeline():
                    dbapi.execute(_PG_SEARCH_SETTINGS, prepare=True)
                    cursor = dbapi.execute(
                        _pg_candidates_sql(prefilter, joined), params, prepare=True, binary=True
                    )
                *probes, found_keys, geometry = cursor.fetchone()
                packed = bytes(geometry) if geometry is not None else b""
                if found_keys is None:
                    keys = []
                elif joined:
                    keys = found_keys.split(_PG_KEY_SEPARATOR)
                    if len(keys) * GEOMETRY_DOUBLES * 8 != len(packed):
                        # A key holds the separator (no inventory key does): read them as an
                        # array instead.
                        joined = False
                        continue
                else:
                    keys = found_keys
                present = [order for order, probe in enumerate(probes) if probe is not None]
                self._sky_classes = present
                if set(present) <= set(classes):
                    return keys, packed
                classes = present
        finally:
            if not dbapi.closed:
                dbapi.autocommit = False


def _nearest_first(keys: Sequence[str], hits: np.ndarray, closeness: np.ndarray) -> list[str]:
    """The ``keys`` of the ``hits``, by decreasing ``closeness`` and, among equals (copies of one
    file share a solution), by key. One numpy sort; only runs of equal closeness, if any, are
    sorted again by key in Python."""
    chosen = np.flatnonzero(hits)
    nearest = chosen[np.argsort(-closeness[chosen], kind="stable")]
    ordered = [keys[i] for i in nearest.tolist()]
    values = closeness[nearest]
    tied = np.flatnonzero(values[1:] == values[:-1])
    if tied.size:
        # Runs of equal values: each starts where the previous pair was not tied.
        starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]]
        for start in starts.tolist():
            stop = start + 1
            while stop < len(values) and values[stop] == values[start]:
                stop += 1
            ordered[start:stop] = sorted(ordered[start:stop])
    return ordered


# Whether each size class (order 0 to MAX_ORDER) has a footprint: one indexed probe each, so
# that a cone search scans only the classes in use.
_CLASSES_PRESENT = select(
    *(
        select(sky_footprints.c.healpix_uniq)
        .where(
            sky_footprints.c.healpix_uniq >= order_key_range(order)[0],
            sky_footprints.c.healpix_uniq < order_key_range(order)[1],
        )
        .limit(1)
        .scalar_subquery()
        .label(f"order_{order}")
        for order in range(MAX_ORDER + 1)
    )
)
# The same as literal SQL for the driver's cursor (no parameters; identical on both backends).
_CLASSES_SQL = str(_CLASSES_PRESENT.compile(compile_kwargs={"literal_binds": True}))
# Ranges per candidate query on SQLite (2 parameters each; a 2° cone has ~60): below its
# historical limit of 999 bound parameters and its 500 compound SELECTs.
_MAX_UNION_ARMS = 120
# The bounding-circle test of a candidate (core.sky_index.prefilter_terms), with placeholders
# for the terms px, py, pz, cos_r, sin_r, slack. Footprints of 90° radius or more
# (cos_radius <= 0) always pass: the test assumes radius + bounding radius <= 180°.
_PREFILTER_SQL = (
    "(x * {0} + y * {1} + z * {2} >= {3} * cos_radius - {4} * sin_radius - {5} OR cos_radius <= 0)"
)


def _present_classes(cursor: Any) -> list[int]:
    """The size classes (orders) that hold a footprint."""
    cursor.execute(_CLASSES_SQL)
    return [order for order, present in enumerate(cursor.fetchone()) if present is not None]


def _sqlite_candidates(
    conn: Connection,
    ranges_for: Callable[[Sequence[int]], list[tuple[int, int]]],
    terms: tuple[float, ...] | None,
) -> tuple[list[str], bytes]:
    """The candidates of a cone search on SQLite: their partition keys, and their packed
    geometries one after the other (``GEOMETRY_DOUBLES`` little-endian float64 each).

    Straight to the driver's cursor. Each statement reads its own snapshot: a footprint written
    between the class probe and the candidates is found or not, as if written just before or
    just after the search; each row lies in one range, so none is found twice. One
    UNION ALL arm per range of the sky index, rather than an OR of ranges: SQLite walks each
    range of the primary key either way, but for an OR it also keeps every row's key in a
    temporary index to drop duplicates (a third slower for 2° cones). The rows are aggregated
    into one: stepping and converting a result row costs the sqlite3 module about 1 µs, more
    than scanning and filtering it. group_concat of the blobs concatenates their bytes as they
    are (a BLOB read as TEXT is not converted in a UTF-8 database) and CAST ... AS BLOB returns
    them undecoded.
    """
    keys: list[str] = []
    blobs: list[bytes] = []
    cursor: Any = conn.connection.cursor()  # the DBAPI's: rows as plain tuples
    try:
        ranges = ranges_for(_present_classes(cursor))
        prefilter = (
            ""
            if terms is None
            else " AND " + _PREFILTER_SQL.format(*(f"?{i}" for i in range(1, 7)))
        )
        first = 1 if terms is None else 7
        for chunk in _chunks(ranges, _MAX_UNION_ARMS):
            arms = " UNION ALL ".join(
                "SELECT partition_key, geometry FROM sky_footprints WHERE"
                f" healpix_uniq >= ?{lo} AND healpix_uniq < ?{lo + 1}{prefilter}"
                for lo in range(first, first + 2 * len(chunk), 2)
            )
            cursor.execute(
                "SELECT group_concat(partition_key, char(0)),"
                f" CAST(group_concat(geometry, '') AS BLOB) FROM ({arms})",
                (*(terms or ()), *(bound for lo_hi in chunk for bound in lo_hi)),
            )
            joined_keys, joined_geometry = cursor.fetchone()
            if joined_keys is not None:
                keys.extend(joined_keys.split("\0"))  # no path holds a NUL character
                blobs.append(joined_geometry)
    finally:
        cursor.close()
    packed = b"".join(blobs)
    if len(packed) != len(keys) * GEOMETRY_DOUBLES * 8:
        raise RuntimeError(f"sky index: {len(keys)} candidates but {len(packed)} bytes of geometry")
    return keys, packed


def _pg_candidates_sql(prefilter: bool, joined_keys: bool, numbered: bool = False) -> str:
    """The one statement of a cone search on PostgreSQL: which size classes hold a footprint,
    and the candidates in the ranges of the first two parameters (text arrays of bigint
    bounds) whose bounding circle reaches the cone (with ``prefilter``, the terms are the next
    six), aggregated into one row (two aggregates over the same rows see them in the same
    order): the keys joined by :data:`_PG_KEY_SEPARATOR` (``joined_keys``; a third faster to
    read than an array) or as an array, and the packed geometries one after the other.

    Placeholders are psycopg's ``%s``, or PostgreSQL's ``$1``... with ``numbered`` (for a
    PREPARE statement).

    One index scan rescanned per range (a lateral join over the ranges' arrays) rather than one
    UNION ALL arm per range: one statement for any number of ranges, whose executor does not
    start a scan per range.
    """
    marks = [f"${i}" if numbered else "%s" for i in range(1, 9)]
    condition = "healpix_uniq >= r.lo AND healpix_uniq < r.hi"
    if prefilter:
        condition += " AND " + _PREFILTER_SQL.format(*marks[2:])
    keys = "string_agg(f.partition_key, chr(10))" if joined_keys else "array_agg(f.partition_key)"
    return (
        "SELECT classes.*, found.* FROM ("
        + _CLASSES_SQL
        + f") AS classes, (SELECT {keys}, string_agg(f.geometry, ''::bytea)"
        f" FROM unnest({marks[0]}::bigint[], {marks[1]}::bigint[]) AS r(lo, hi)"
        " CROSS JOIN LATERAL (SELECT partition_key, geometry FROM sky_footprints"
        f" WHERE {condition}) AS f) AS found"
    )


def _pg_bigint_array(values: Iterable[int]) -> str:
    """A bigint[] parameter as PostgreSQL's array text: one parameter type for every search
    (psycopg types a list of ints by its largest value, which would prepare the statement again
    for each new type)."""
    return "{" + ",".join(map(str, values)) + "}"


# Between the keys of a cone search's candidates on PostgreSQL (chr(10) in the statement; the
# text type holds no NUL). Partition keys never hold it (core.inventory), nor may Dagster's.
_PG_KEY_SEPARATOR = "\n"
# The settings of a search's statement, local to the implicit transaction it shares with it:
# - the generic plan, so that nothing is planned per search (planning the class probe took
#   about 1 ms);
# - enable_seqscan = off: a generic plan cannot know the ranges' widths, and costed without
#   them it reads the whole table (150 ms) instead of one index scan per range;
# - jit = off: that plan's estimate (ranges of unknown width) crosses jit_above_cost, and
#   compiling a query that runs in a few milliseconds took up to 280 ms.
_PG_SEARCH_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true),"
    " set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
)


def _solved_corners(conn: Connection, fingerprint: str) -> list[tuple[float, float]]:
    """The corners of ``fingerprint``'s solution if it is solved, else none."""
    text = conn.scalar(
        select(plate_solutions.c.corners).where(
            plate_solutions.c.fingerprint == fingerprint, plate_solutions.c.status == "solved"
        )
    )
    corners = _loads(text) if text else None
    return [tuple(corner) for corner in corners] if corners else []


def _write_footprints(
    conn: Connection,
    fingerprint: str | None,
    corners: Sequence[tuple[float, float]],
    image_id: int | None = None,
) -> None:
    """Make ``corners`` (none: not solved) the indexed footprint of the images of content
    ``fingerprint``, or of image ``image_id`` only (whose rows of any content are replaced;
    ``fingerprint`` None: the image has no content recorded, so it gets no row)."""
    if image_id is None:
        conn.execute(delete(sky_footprints).where(sky_footprints.c.fingerprint == fingerprint))
    else:
        conn.execute(delete(sky_footprints).where(sky_footprints.c.image_id == image_id))
    if fingerprint is None or len(corners) != 4:
        return
    owners = select(images.c.id, images.c.partition_key).where(images.c.fingerprint == fingerprint)
    if image_id is not None:
        owners = owners.where(images.c.id == image_id)
    rows = conn.execute(owners.order_by(images.c.id)).all()
    if rows:
        conn.execute(sky_footprints.insert(), _sky_rows(rows, fingerprint, corners))


def _sky_rows(
    owners: Sequence[Any], fingerprint: str, corners: Sequence[tuple[float, float]]
) -> list[dict[str, Any]]:
    """The sky_footprints rows of images ``(id, partition_key)`` whose content
    ``fingerprint`` has the footprint ``corners`` (four (ra, dec) pairs)."""
    records = footprint_records(np.array([corners], dtype=float), SKY_INDEX_CLASS_RADIUS_DEG)
    (x, y, z), blob = records.centres[0].tolist(), records.blobs()[0]
    return [
        {
            "healpix_uniq": int(records.keys[0]),
            "image_id": image_id,
            "partition_key": partition_key,
            "fingerprint": fingerprint,
            "x": x,
            "y": y,
            "z": z,
            "cos_radius": float(records.cos_radius[0]),
            "sin_radius": float(records.sin_radius[0]),
            "geometry": blob,
        }
        for image_id, partition_key in owners
    ]


def _solution_from_row(row: dict[str, Any]) -> PlateSolution:
    geometry = None
    if row["ra_deg"] is not None:
        geometry = FieldGeometry(
            **{name: row[name] for name in _GEOMETRY_COLUMNS},
            corners_deg=tuple((float(ra), float(dec)) for ra, dec in row["corners"] or ()),
        )
    hints = row["hints_used"]
    return PlateSolution(
        status=row["status"],
        solver=row["solver"],
        geometry=geometry,
        wcs_header=row["wcs_header"],
        hints_used=SolveHints(**hints) if hints is not None else None,
        elapsed_s=row["elapsed_s"],
        error=row["error"],
        attempts=tuple(
            SolveAttempt(
                solver=a["solver"],
                hints=SolveHints(**a["hints"]) if a.get("hints") else None,
                outcome=a["outcome"],
                elapsed_s=float(a["elapsed_s"]),
            )
            for a in row.get("attempts") or ()
        ),
    )
