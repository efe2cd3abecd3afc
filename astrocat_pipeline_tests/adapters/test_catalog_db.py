"""The catalog database adapter, on SQLite and on PostgreSQL (the ``catalog_url`` fixture)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from astrocat_pipeline.adapters.catalog import (
    METADATA,
    CatalogStore,
    FailureKind,
    GridCard,
    ImageNotFoundError,
    create_catalog_engine,
    migrate,
    open_catalog,
    read_only,
)
from astrocat_pipeline.adapters.catalog import engine as engine_module
from astrocat_pipeline.adapters.catalog.engine import MIGRATIONS_DIR
from astrocat_pipeline.adapters.catalog.rows import SearchResult
from astrocat_pipeline.adapters.catalog.search_query import (
    GRID,
    GRID_OBJECTS,
    HeaderFilters,
    count_statement,
)
from astrocat_pipeline.core.annotate import match_label
from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    ImageStatus,
    InventoryEntry,
    PlateSolution,
    SolveHints,
    SolveStatus,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock for CatalogStore, so timestamps are known exactly."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked_store(
    catalog_store: CatalogStore, catalog_engine: sa.Engine, clock: Clock
) -> CatalogStore:
    """A store on the migrated catalog whose timestamps come from ``clock``."""
    return CatalogStore(catalog_engine, clock=clock)


def entry(
    name: str, *, root: str = "/library", size: int = 1000, mtime_ns: int = 1
) -> InventoryEntry:
    return InventoryEntry(
        root=root,
        rel_path=f"M31/{name}.fits",
        size_bytes=size,
        mtime_ns=mtime_ns,
        format="fits",
        partition_key=f"M31/{name}.fits",
    )


def metadata(path: str, **fields: Any) -> ImageMetadata:
    return ImageMetadata(path=path, format="fits", **fields)


def match(designation: str, *, messier: int | None = None, x_px: float = 10.0) -> CatalogMatch:
    return CatalogMatch(
        catalog=designation.split()[0],
        designation=designation,
        name=None,
        object_type="G",
        ra_deg=10.684708,
        dec_deg=41.26875,
        x_px=x_px,
        y_px=20.5,
        major_axis_arcmin=177.83,
        messier=messier,
    )


GEOMETRY = FieldGeometry(
    ra_deg=10.684708333333333,
    dec_deg=41.268750000000004,
    pixel_scale_arcsec=1.2345678901234567,
    rotation_deg=359.99999999,
    parity="flipped",
    width_deg=1.0 / 3.0,
    height_deg=0.2,
    radius_deg=0.19436506316151,
    corners_deg=((10.4, 41.1), (10.9, 41.1), (10.9, 41.4), (359.99, -0.000001)),
)
WCS_HEADER = "\n".join(
    [
        "WCSAXES =                    2 / Number of coordinate axes".ljust(80),
        "CTYPE1  = 'RA---TAN-SIP'       / TAN (gnomonic) projection + SIP distortions".ljust(80),
        "CRVAL1  =      10.684708333333 / [deg] Coordinate value at reference point".ljust(80),
        "A_ORDER =                    2 / Polynomial order, axis 1".ljust(80),
        "COMMENT O'Brien's frame: quotes ' and \" and a backslash \\ survive".ljust(80),
    ]
)


def test_migrate_twice_is_a_no_op_and_matches_the_table_definitions(
    catalog_engine: sa.Engine,
) -> None:
    migrate(catalog_engine)
    store = CatalogStore(catalog_engine)
    store.upsert_inventory([entry("a")])

    migrate(catalog_engine)

    with catalog_engine.connect() as conn:
        newest = max(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == newest
        # The hand-written revisions create exactly what catalog.schema's Table objects describe.
        assert compare_metadata(MigrationContext.configure(conn), METADATA) == []
        # ... and the comparison is not vacuous: an empty model differs from the database.
        assert compare_metadata(MigrationContext.configure(conn), sa.MetaData()) != []
    assert store.partition_keys() == ["M31/a.fits"]


def test_schema_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == engine_module.SCHEMA_HEAD


def test_a_current_catalog_opens_without_alembic(tmp_path: Path) -> None:
    """Read-only commands open an up-to-date catalog without importing alembic (~0.2 s)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    code = (
        "import sys\n"
        "from astrocat_pipeline.adapters.catalog import open_catalog\n"
        f"open_catalog({url!r}).close()\n"
        "print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (first.stdout.strip(), again.stdout.strip()) == ("True", "False")


def test_migration_marks_solves_failed_stale_before_it_so_that_they_are_resumed(
    catalog_engine: sa.Engine,
) -> None:
    # A catalog at the revision before failure_kind: the cleanup's failures were known only by
    # the start of their message.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    solutions = sa.table(
        "plate_solutions",
        *(sa.column(n) for n in ("fingerprint", "status", "solver", "error", "submission_id")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    old = {
        "fp-stale": ("failed", "no progress for more than 300 s; marked failed for a retry"),
        "fp-failed": ("failed", "job failed: no progress for more than a day"),
        "fp-waiting": ("submitted", None),
        "fp-solved": ("solved", None),
    }
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
        for fingerprint, (status, error) in old.items():
            conn.execute(
                solutions.insert().values(
                    fingerprint=fingerprint,
                    status=status,
                    solver="nova",
                    error=error,
                    submission_id=7,
                    created_at=T0,
                    updated_at=T0,
                )
            )
    migrate(catalog_engine)

    store = CatalogStore(catalog_engine)
    rows = {fingerprint: store.get_solution_row(fingerprint) for fingerprint in old}
    assert {fp: row.failure_kind for fp, row in rows.items() if row} == {
        "fp-stale": FailureKind.STALE,
        "fp-failed": None,
        "fp-waiting": None,
        "fp-solved": None,
    }
    assert rows["fp-stale"].error == old["fp-stale"][1]  # the user's message is kept

    # Down again: the column goes, the solutions and the sky index stay.
    store.upsert_inventory([entry("a")])
    store.record_file("M31/a.fits", fingerprint="fp-new", size_bytes=1, mtime_ns=1)
    store.save_solution("fp-new", PlateSolution(status="solved", solver="local", geometry=GEOMETRY))
    assert store.cone_search(10.4, 41.1, 1.0) == ["M31/a.fits"]
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with catalog_engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("plate_solutions")}
        assert conn.scalar(sa.text("SELECT count(*) FROM plate_solutions")) == 5
        assert conn.scalar(sa.text("SELECT count(*) FROM sky_footprints")) == 1
    assert "failure_kind" not in columns


def test_open_catalog_migrates_and_owns_its_engine(catalog_url: str) -> None:
    with open_catalog(catalog_url) as store:
        store.upsert_inventory([entry("a")])
        assert store.partition_keys() == ["M31/a.fits"]
        with store.engine.connect() as conn:  # migrated to the newest revision
            assert compare_metadata(MigrationContext.configure(conn), METADATA) == []
        assert store.engine.pool.checkedin() == 1
    assert store.engine.pool.checkedin() == 0  # closed: its pooled connections went

    engine = create_catalog_engine(catalog_url)
    try:
        with CatalogStore(engine) as borrowed:  # a store given an engine leaves it alone
            assert borrowed.count_images() == 1
        assert engine.pool.checkedin() == 1
    finally:
        engine.dispose()


def test_open_catalog_refuses_other_databases_naming_no_secret() -> None:
    with pytest.raises(ConfigError, match="unsupported catalog database URL") as info:
        open_catalog("mysql://astro:s3cret@db.example/catalog")
    assert "s3cret" not in str(info.value)


def test_the_sensors_views_of_the_inventory(catalog_store: CatalogStore) -> None:
    store = catalog_store
    store.upsert_inventory(
        [entry("a", size=10, mtime_ns=5), entry("b"), entry("c"), entry("d", root="/nas")]
    )
    store.record_file("M31/b.fits", fingerprint="fp-b", size_bytes=1, mtime_ns=1)
    store.record_error("M31/c.fits", "image_file", "/library/M31/c.fits: cannot read file")

    assert store.recorded_files("/library") == {
        "M31/a.fits": ("M31/a.fits", (10, 5)),
        "M31/b.fits": ("M31/b.fits", (1, 1)),
        "M31/c.fits": ("M31/c.fits", (1000, 1)),
    }
    assert store.recorded_files("/elsewhere") == {}
    # Neither recorded by image_file nor failed there: a, and d under the other root.
    assert store.unprocessed_keys() == {"M31/a.fits", "M31/d.fits"}


def test_sqlite_engine_creates_its_directory_and_sets_pragmas_on_every_connection(
    tmp_path: Path,
) -> None:
    db = tmp_path / "new" / "dir" / "catalog.db"
    engine = create_catalog_engine(f"sqlite:///{db}")
    try:
        assert db.parent.is_dir()
        # Two connections open at once (so two DBAPI connections); read-only, so that the first
        # one's transaction does not hold the write lock the second would wait for.
        conns = [read_only(engine).connect() for _ in range(2)]
        for conn in conns:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        for conn in conns:
            conn.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg3(scheme: str) -> None:
    engine = create_catalog_engine(f"{scheme}://astro:s3cret@db.example:5432/catalog")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "catalog"
    finally:
        engine.dispose()


def test_other_backends_and_drivers_are_refused() -> None:
    with pytest.raises(ConfigError, match="unsupported catalog database URL") as info:
        create_catalog_engine("mysql://astro:s3cret@db.example/catalog")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigError, match=r"driver 'postgresql\+asyncpg'.*psycopg 3"):
        create_catalog_engine("postgresql+asyncpg://astro:s3cret@db.example/catalog")


@pytest.mark.postgres
def test_postgres_connections_dropped_by_the_server_are_replaced(
    postgres_database_url: str, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pooled connection idle for PG_PING_AFTER_IDLE_S is checked before use and replaced if
    # the server dropped it; one dropped sooner after its last use fails one operation, and
    # the pool discards it.
    monkeypatch.setattr(engine_module, "PG_PING_AFTER_IDLE_S", 0.2)
    engine = create_catalog_engine(postgres_database_url)
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")

    def drop_the_pooled_connection() -> None:
        with engine.connect() as conn:  # the pool's one connection
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()

    try:
        migrate(engine)
        store = CatalogStore(engine)
        assert store.count_images() == 0
        drop_the_pooled_connection()
        time.sleep(0.3)  # idle long enough: checked and replaced, nothing fails
        assert store.count_images() == 0
        assert store.cone_search(10.0, 20.0, 1.0) == []
        monkeypatch.setattr(engine_module, "PG_PING_AFTER_IDLE_S", 60.0)
        drop_the_pooled_connection()  # used within the last minute: not checked
        with pytest.raises(sa.exc.OperationalError):
            store.count_images()
        assert store.count_images() == 0  # the broken connection was discarded
        drop_the_pooled_connection()
        with pytest.raises(psycopg.OperationalError):  # the cone search's own statements
            store.cone_search(10.0, 20.0, 1.0)
        assert store.cone_search(10.0, 20.0, 1.0) == []
    finally:
        engine.dispose()
        admin.dispose()


def test_upsert_inventory_is_idempotent_and_refreshes_only_changed_files(
    clocked_store: CatalogStore, clock: Clock
) -> None:
    store = clocked_store
    entries = [entry(f"f{i:04d}", size=i) for i in range(1200)]  # more than one chunk

    store.upsert_inventory(entries)
    clock.now = T0 + timedelta(hours=1)
    store.upsert_inventory(iter(entries))  # any iterable

    assert store.count_images() == 1200
    assert store.partition_keys() == sorted(e.partition_key for e in entries)
    first = store.get_image("M31/f0007.fits")
    assert first is not None
    assert first.status is ImageStatus.DISCOVERED
    assert first.path == "/library/M31/f0007.fits"
    assert (first.created_at, first.updated_at) == (T0, T0)  # unchanged: not rewritten

    store.record_metadata("M31/f0007.fits", metadata(first.path), {}, None)
    moved = InventoryEntry("/nas", "M31/f0007.fits", 7, 99, "fits", "M31/f0007.fits")
    # The same key twice in one batch: the last one wins.
    store.upsert_inventory([entry("f0007", size=5), moved])

    image = store.get_image("M31/f0007.fits")
    assert image is not None
    assert (image.root, image.path, image.size_bytes, image.mtime_ns) == (
        "/nas",
        "/nas/M31/f0007.fits",
        7,
        99,
    )
    assert image.status is ImageStatus.INDEXED  # metadata stays until the pipeline redoes it
    assert image.updated_at == T0 + timedelta(hours=1)
    assert store.inventory_by_key(["M31/f0007.fits", "M31/f0008.fits", "missing"]) == {
        "M31/f0007.fits": (7, 99),
        "M31/f0008.fits": (8, 1),
    }
    assert len(store.inventory_by_key()) == 1200
    assert store.inventory_by_key([]) == {}


def test_metadata_round_trip(catalog_store: CatalogStore) -> None:
    store = catalog_store
    store.upsert_inventory([entry("a")])
    store.record_file("M31/a.fits", fingerprint="sha256:abc", size_bytes=2048, mtime_ns=10**18)
    local_time = datetime(2024, 1, 2, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    md = metadata(
        "/library/M31/a.fits",
        width=6248,
        height=4176,
        channels=1,
        bit_depth=16,
        frame_type="light",
        object="M 31\x00",  # a NUL from a damaged header is dropped, not fatal
        exposure_s=0.1 + 0.2,
        date_obs=local_time,
        camera="ZWO ASI2600MM Pro",
        telescope=None,
        filter="Hα",
        gain=100.0,
        offset=float("nan"),  # NaN is stored as unknown on both backends
        iso=None,
        ccd_temp_c=-10.000000000000002,
        focal_length_mm=1.0 / 3.0,
        pixel_size_um=3.76,
        binning=1,
        bayer_pattern=None,
        ra_deg=10.684708333333333,
        dec_deg=-0.0000001,
        has_wcs=True,
    )
    raw_header = {"OBJECT": "M 31", "EXPTIME": 300.0, "SIMPLE": True, "NAXIS": 2, "NOTE": None}

    store.record_error("M31/a.fits", "metadata", "truncated")
    store.record_metadata("M31/a.fits", md, raw_header, "M 31")
    store.record_thumbnail("M31/a.fits", "/cache/a_0123abcd_thumb.jpg")

    image = store.get_image("M31/a.fits")
    assert image is not None
    assert (image.status, image.error, image.error_stage) == ("indexed", None, None)
    assert image.date_obs == local_time
    assert image.date_obs.utcoffset() == timedelta(0)
    assert image.date_obs.isoformat() == "2024-01-03T04:30:15.123456+00:00"
    expected = md.to_dict() | {"object": "M 31", "offset": None}
    expected["date_obs"] = image.date_obs.isoformat()
    stored = {name: getattr(image, name) for name in expected}
    stored["date_obs"] = image.date_obs.isoformat()
    assert stored == expected  # exact: floats, None, unicode, bool
    assert store.get_raw_header("M31/a.fits") == raw_header
    assert image.object_key == "M 31"
    assert image.fingerprint == "sha256:abc"
    assert (image.size_bytes, image.mtime_ns) == (2048, 10**18)
    assert image.thumbnail_path == "/cache/a_0123abcd_thumb.jpg"
    assert image.solution_status is None  # its content was never solved
    store.save_solution("sha256:abc", PlateSolution(status="skipped"))
    assert store.get_image("M31/a.fits").solution_status is SolveStatus.SKIPPED

    store.record_thumbnail("M31/a.fits", None)
    store.record_error("M31/a.fits", "thumbnail", "cannot decode /library/M31/a.fits")
    image = store.get_image("M31/a.fits")
    assert image is not None
    assert (image.status, image.error_stage, image.thumbnail_path) == (
        ImageStatus.ERROR,
        "thumbnail",
        None,
    )
    assert image.width == 6248  # an error does not erase what was learned


def test_writes_to_unknown_images_and_naive_datetimes_are_refused(
    catalog_store: CatalogStore,
) -> None:
    store = catalog_store
    for write in (
        lambda: store.record_file("nope", fingerprint="x", size_bytes=1, mtime_ns=1),
        lambda: store.record_error("nope", "metadata", "boom"),
        lambda: store.record_thumbnail("nope", None),
        lambda: store.replace_matches("nope", []),
    ):
        with pytest.raises(ImageNotFoundError, match="'nope'"):
            write()
    assert store.get_image("nope") is None
    assert store.get_raw_header("nope") is None

    store.upsert_inventory([entry("a")])
    naive = metadata("/library/M31/a.fits", date_obs=datetime(2024, 1, 1, 12))
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        store.record_metadata("M31/a.fits", naive, {}, None)
    image = store.get_image("M31/a.fits")
    assert image is not None
    assert image.status == "discovered"  # nothing half-written
    assert store.get_raw_header("M31/a.fits") is None


def test_solution_round_trip(catalog_store: CatalogStore) -> None:
    store = catalog_store
    solved = PlateSolution(
        status="solved",
        solver="local",
        geometry=GEOMETRY,
        wcs_header=WCS_HEADER,
        hints_used=SolveHints(scale_low_arcsec=1.0, scale_high_arcsec=1.5, ra_deg=10.7),
        elapsed_s=12.25,
    )
    assert store.get_solution("sha256:abc") is None

    store.save_solution("sha256:abc", solved)
    store.save_solution("sha256:abc", solved)  # idempotent

    assert store.get_solution("sha256:abc") == solved
    row = store.get_solution_row("sha256:abc")
    assert row is not None
    assert row.hints_used == SolveHints(scale_low_arcsec=1.0, scale_high_arcsec=1.5, ra_deg=10.7)
    assert row.geometry == GEOMETRY
    assert (row.status, row.failure_kind, row.stale) == (SolveStatus.SOLVED, None, False)

    failed = PlateSolution(status="failed", solver="local", hints_used=SolveHints(), error="none")
    store.save_solution("sha256:abc", failed)  # replaces the earlier outcome completely
    assert store.get_solution("sha256:abc") == failed
    skipped = PlateSolution(status="skipped")
    store.save_solution("sha256:def", skipped)
    assert store.get_solution("sha256:def") == skipped
    with pytest.raises(ValueError, match="'done'"):
        store.save_solution("sha256:def", PlateSolution(status="done"))


def test_solution_status_steps_keep_the_online_job_ids(
    clocked_store: CatalogStore, clock: Clock
) -> None:
    store = clocked_store
    store.set_solution_status("fp", "submitted", "nova", submission_id=9_000_000_001)
    clock.now = T0 + timedelta(seconds=30)
    store.set_solution_status("fp", "processing", "nova", job_id=12345)
    row = store.get_solution_row("fp")
    assert row is not None
    assert (row.status, row.solver, row.submission_id, row.job_id) == (
        "processing",
        "nova",
        9_000_000_001,
        12345,
    )
    assert (row.created_at, row.updated_at) == (T0, T0 + timedelta(seconds=30))

    store.set_solution_status("fp", "failed", "nova", error="job failed")
    store.save_solution("fp", PlateSolution(status="solved", solver="nova", geometry=GEOMETRY))
    row = store.get_solution_row("fp")
    assert row is not None
    assert (row.status, row.error, row.submission_id, row.job_id) == (
        "solved",
        None,
        9_000_000_001,
        12345,
    )
    with pytest.raises(ValueError, match="'queued'"):
        store.set_solution_status("fp", "queued", "nova")


def test_fail_stale_solutions_marks_only_old_submitted_or_processing_rows(
    clocked_store: CatalogStore, clock: Clock
) -> None:
    store = clocked_store
    for status in ("submitted", "processing", "solved", "failed", "skipped", "pending"):
        store.set_solution_status(f"old-{status}", status, "nova")
    clock.now = T0 + timedelta(minutes=10)
    store.set_solution_status("new-submitted", "submitted", "nova", submission_id=1)
    store.set_solution_status("new-processing", "processing", "nova", job_id=2)

    clock.now = T0 + timedelta(minutes=11)
    # A cutoff in another timezone means the same instant.
    cutoff = (T0 + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=2)))
    failed = store.fail_stale_solutions(cutoff, "no answer from the solver for 5 minutes")

    assert failed == ["old-processing", "old-submitted"]
    for fingerprint in failed:
        row = store.get_solution_row(fingerprint)
        assert row is not None
        assert (row.status, row.error, row.updated_at, row.failure_kind) == (
            "failed",
            "no answer from the solver for 5 minutes",
            T0 + timedelta(minutes=11),
            FailureKind.STALE,
        )
        assert row.stale
    untouched = (
        "old-solved",
        "old-skipped",
        "old-pending",
        "old-failed",
        "new-submitted",
        "new-processing",
    )
    rows = {fp: store.get_solution_row(fp) for fp in untouched}
    assert not any(row.stale for row in rows.values())  # a solver's own failure is not stale
    statuses = {fp: row.status for fp, row in rows.items()}
    assert statuses == {
        "old-solved": "solved",
        "old-skipped": "skipped",
        "old-pending": "pending",
        "old-failed": "failed",
        "new-submitted": "submitted",
        "new-processing": "processing",
    }
    assert store.fail_stale_solutions(cutoff, "again") == []

    # A stale solve stays stale until its solve is recorded again, by either write.
    store.set_solution_status("old-submitted", "processing", "nova")
    store.save_solution("old-processing", PlateSolution(status="failed", error="no match"))
    for fingerprint in failed:
        row = store.get_solution_row(fingerprint)
        assert row is not None
        assert (row.failure_kind, row.stale) == (None, False), fingerprint


def test_replace_matches_is_idempotent_and_matches_go_with_their_image(
    catalog_store: CatalogStore, catalog_engine: sa.Engine
) -> None:
    store = catalog_store
    store.upsert_inventory([entry("a"), entry("b")])
    matches = [match("NGC 224", messier=31, x_px=1.5), match("NGC 221", messier=32), match("IC 10")]

    store.replace_matches("M31/a.fits", matches)
    store.replace_matches("M31/a.fits", matches)
    store.replace_matches("M31/b.fits", matches[:1])

    assert store.get_matches("M31/a.fits") == matches
    store.replace_matches("M31/a.fits", matches[2:])
    assert store.get_matches("M31/a.fits") == [matches[2]]

    store.record_file("M31/a.fits", fingerprint="fp-a", size_bytes=1, mtime_ns=1)
    store.save_solution("fp-a", PlateSolution(status="solved", solver="local", geometry=GEOMETRY))
    assert store.delete_images(["M31/a.fits", "not-there"]) == 1
    assert store.delete_images([]) == 0

    assert store.get_matches("M31/a.fits") == []
    assert store.get_matches("M31/b.fits") == [matches[0]]
    with catalog_engine.connect() as conn:  # cascaded in the database, not just hidden
        assert conn.scalar(sa.text("SELECT count(*) FROM catalog_matches")) == 1
    assert store.get_solution("fp-a") is not None  # content-keyed: kept for a moved file
    assert store.partition_keys() == ["M31/b.fits"]


def test_concurrent_replace_matches_on_one_image_do_not_mix(
    catalog_store: CatalogStore, catalog_engine: sa.Engine
) -> None:
    store, key = catalog_store, "M31/a.fits"
    store.upsert_inventory([entry("a")])
    store.replace_matches(key, [match("IC 1")])
    deleted, resume = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def pause_first_after_delete(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread().name == "first" and statement.startswith("DELETE"):
            deleted.set()
            resume.wait(timeout=30)

    def replace(matches: list[CatalogMatch]) -> None:
        try:
            store.replace_matches(key, matches)
        except BaseException as exc:
            failures.append(exc)

    sa.event.listen(catalog_engine, "after_cursor_execute", pause_first_after_delete)
    try:
        first = threading.Thread(target=replace, args=([match("NGC 1")],), name="first")
        first.start()
        assert deleted.wait(timeout=30)
        # The second replacement starts while the first is between its delete and its insert.
        second_matches = [match("NGC 2"), match("NGC 3")]
        second = threading.Thread(target=replace, args=(second_matches,), name="second")
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive()  # it waits for the first transaction
        resume.set()
        first.join(timeout=30)
        second.join(timeout=30)
    finally:
        resume.set()
        sa.event.remove(catalog_engine, "after_cursor_execute", pause_first_after_delete)
    assert failures == []
    assert [m.designation for m in store.get_matches(key)] == ["NGC 2", "NGC 3"]


@pytest.fixture
def searchable(catalog_store: CatalogStore) -> CatalogStore:
    """Four images: solved M31 (two frames), solved M42 without Messier alias stored as match
    designation, an unsolved frame whose header says M 33, and an undated unindexed one."""
    store = catalog_store
    store.upsert_inventory([entry(n) for n in ("late", "early", "orion", "header", "undated")])
    for name, when, fingerprint in (
        ("late", T0 + timedelta(days=1), "fp-31"),
        ("early", T0, "fp-31"),  # same content as "late": shares the solution
        ("orion", T0 + timedelta(hours=1), "fp-42"),
        ("header", T0 + timedelta(hours=2), "fp-33"),
    ):
        key = f"M31/{name}.fits"
        store.record_file(key, fingerprint=fingerprint, size_bytes=1, mtime_ns=1)
        object_key = "M 33" if name == "header" else None
        md = metadata(f"/library/{key}", date_obs=when, frame_type="light", exposure_s=60.0)
        store.record_metadata(key, md, {"OBJECT": "x"}, object_key)
    store.save_solution("fp-31", PlateSolution(status="solved", solver="local", geometry=GEOMETRY))
    store.set_solution_status("fp-33", "failed", "local", error="no match")
    for name in ("late", "early"):
        store.replace_matches(f"M31/{name}.fits", [match("NGC 224", messier=31), match("NGC 221")])
    store.replace_matches("M31/orion.fits", [match("NGC 1976", messier=42)])
    return store


def test_search_by_designation_returns_full_results(searchable: CatalogStore) -> None:
    results = searchable.search(["NGC 221"])

    assert [r.partition_key for r in results] == ["M31/early.fits", "M31/late.fits"]
    found = results[0]
    expected_solution = PlateSolution(status="solved", solver="local", geometry=GEOMETRY)
    assert found.plate_solution == expected_solution
    assert found.matches == (match("NGC 224", messier=31), match("NGC 221"))
    assert (found.image.fingerprint, found.image.solution_status) == ("fp-31", "solved")
    # The JSON edge: the same fields and values as ever.
    first = found.to_dict()
    assert set(first) == {
        "partition_key",
        *ImageMetadata.__dataclass_fields__,
        "status",
        "error",
        "thumbnail_path",
        "plate_solution",
        "matches",
    }
    assert first["path"] == "/library/M31/early.fits"
    assert first["date_obs"] == "2024-03-01T12:00:00+00:00"
    assert (first["frame_type"], first["exposure_s"], first["status"]) == ("light", 60.0, "indexed")
    assert type(first["status"]) is str  # plain values: Dagster metadata takes no enums
    assert type(first["plate_solution"]["status"]) is str
    assert first["plate_solution"] == expected_solution.to_dict()
    assert first["matches"] == [match("NGC 224", messier=31).to_dict(), match("NGC 221").to_dict()]


def test_search_by_messier_alias_and_header_object(searchable: CatalogStore) -> None:
    assert [r.partition_key for r in searchable.search(["M 42"])] == ["M31/orion.fits"]
    assert [r.partition_key for r in searchable.search(["NGC 1976"])] == ["M31/orion.fits"]
    # No catalog match says M 33: the header's normalized OBJECT finds the frame.
    header = searchable.search({"M 33"})
    assert [r.partition_key for r in header] == ["M31/header.fits"]
    assert header[0].plate_solution.status == "failed"
    assert header[0].matches == ()
    # Several keys: the union, each image once, in time order.
    both = searchable.search(["M 31", "NGC 224", "M 33"])
    assert [r.partition_key for r in both] == [
        "M31/early.fits",
        "M31/header.fits",
        "M31/late.fits",
    ]
    assert searchable.search(["M 1", "NGC 7000", "M31"]) == []  # "M31" is not normalized
    assert searchable.search([]) == []
    with pytest.raises(TypeError, match="'M 31'"):
        searchable.search("M 31")


def test_search_without_filter_lists_everything_in_time_order(searchable: CatalogStore) -> None:
    results = searchable.search()

    assert [r.partition_key for r in results] == [
        "M31/early.fits",
        "M31/orion.fits",
        "M31/header.fits",
        "M31/late.fits",
        "M31/undated.fits",  # no date_obs: last, on both backends
    ]
    undated = results[-1].to_dict()
    assert (undated["status"], undated["date_obs"], undated["plate_solution"]) == (
        "discovered",
        None,
        None,
    )
    assert (undated["frame_type"], undated["has_wcs"]) == (None, None)  # not read yet
    assert results[1].plate_solution is None  # fp-42 was never solved
    assert [r.partition_key for r in searchable.search(limit=2)] == [
        "M31/early.fits",
        "M31/orion.fits",
    ]
    assert [r.partition_key for r in searchable.search(["M 31"], limit=1)] == ["M31/early.fits"]


def test_search_does_not_query_per_image(
    searchable: CatalogStore, catalog_engine: sa.Engine
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = catalog_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(searchable.search()) == 5
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2  # images with solutions, then all their matches


def _card_fields(result: SearchResult) -> dict[str, Any]:
    """What a grid card shows of a full search result, field by field of GridCard."""
    shown = {
        name: getattr(result.image, name)
        for name in GridCard.__dataclass_fields__
        if name not in ("has_thumbnail", "objects")
    }
    shown["has_thumbnail"] = result.image.thumbnail_path is not None
    shown["objects"] = tuple(match_label(m) for m in result.matches[:GRID_OBJECTS])
    return shown


def test_the_grid_projection_reads_what_the_full_search_shows(searchable: CatalogStore) -> None:
    """The gallery's grid reads the search's grid projection: the same images in the same order,
    and each card's fields equal the full read's, on both backends."""
    store = searchable
    # More matches than a card names, in a stored order that is not alphabetical, one with a
    # common name; a thumbnail; an error; a filter.
    many = [match("NGC 224", messier=31), match("NGC 221"), match("NGC 205"), match("IC 10")]
    many[2] = dataclasses.replace(many[2], name="Edward Young Star", messier=None)
    store.replace_matches("M31/late.fits", many)
    store.record_thumbnail("M31/early.fits", "/cache/early_thumb.jpg")
    store.record_error("M31/undated.fits", "image_metadata", "undated.fits: truncated")
    searches: list[tuple[Any, dict[str, Any]]] = [
        (None, {}),
        (["M 31", "M 33"], {}),
        (["NGC 221"], {"limit": 1, "offset": 1}),
        (None, {"limit": 2, "offset": 2}),
        (None, {"filters": HeaderFilters(frame_type="light", min_exposure_s=60.0)}),
        (None, {"filters": HeaderFilters(date_from=T0 + timedelta(minutes=30))}),
        ([], {}),
    ]
    for keys, options in searches:
        full = store.search(keys, **options)
        cards = store.search(keys, **options, projection=GRID)
        assert [dataclasses.asdict(card) for card in cards] == [_card_fields(r) for r in full]
        assert all(type(card) is GridCard for card in cards)
    late = next(c for c in store.search(["M 31"], projection=GRID) if "late" in c.rel_path)
    assert late.objects == ("M 31", "NGC 221", "Edward Young Star")  # the first three, in order
    everything = {card.rel_path: card for card in store.search(projection=GRID)}
    assert everything["M31/early.fits"].has_thumbnail
    assert not everything["M31/late.fits"].has_thumbnail
    assert everything["M31/undated.fits"].status is ImageStatus.ERROR
    assert everything["M31/header.fits"].solution_status is SolveStatus.FAILED


def test_the_count_is_the_searchs_length_and_sqlite_counts_filters_on_the_covering_index(
    searchable: CatalogStore,
) -> None:
    store = searchable
    searches: list[tuple[Any, HeaderFilters]] = [
        (None, HeaderFilters()),
        (None, HeaderFilters(frame_type="light", min_exposure_s=60.0)),
        (None, HeaderFilters(date_from=T0 + timedelta(minutes=30))),
        (None, HeaderFilters(date_from=T0, date_before=T0 + timedelta(hours=3))),
        (["M 31"], HeaderFilters(frame_type="light")),
    ]
    for keys, filters in searches:
        assert store.count_search(keys, filters=filters) == len(store.search(keys, filters=filters))
    if store.engine.dialect.name != "sqlite":
        return
    # Header filters without an object: counted on the search order's covering index (SQLite,
    # without statistics, went through the removed_at index and read every row).
    filters = HeaderFilters(frame_type="light", date_from=T0)
    statement = count_statement(None, filters=filters)
    assert statement is not None
    with store.engine.connect() as conn:
        plan = " ".join(
            str(row[3])
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement[0], statement[1])
        )
    assert "COVERING INDEX ix_images_search_order" in plan


# --- several processes at once --------------------------------------------------------------

WRITERS = 4
WRITES_PER_WRITER = 40


def _concurrent_writer(url: str, writer: int, start: Any, errors: Any) -> None:
    """One process: migrate, then many short writes and reads mixed (run by the test below)."""
    engine = create_catalog_engine(url)
    try:
        start.wait(timeout=60)
        migrate(engine)  # all processes at once, on a database nobody has migrated yet
        store = CatalogStore(engine)
        for i in range(WRITES_PER_WRITER):
            # Every writer also updates two shared keys, half of them in the opposite order.
            shared, other = (entry(f"shared{(i + k) % 5}", size=writer + i) for k in (0, 1))
            pair = [shared, other] if writer % 2 else [other, shared]
            own = entry(f"w{writer}-{i}")
            store.upsert_inventory([*pair, own])
            fingerprint = f"fp-{writer}-{i}"
            store.record_file(own.partition_key, fingerprint=fingerprint, size_bytes=i, mtime_ns=i)
            md = metadata(own.path, date_obs=T0 + timedelta(seconds=i), exposure_s=float(i))
            store.record_metadata(own.partition_key, md, {"I": i}, "M 31")
            store.set_solution_status(fingerprint, "submitted", "nova", submission_id=i)
            store.save_solution(f"fp-shared{i % 5}", PlateSolution(status="skipped"))
            store.replace_matches(shared.partition_key, [match("NGC 224", messier=31)])
            store.fail_stale_solutions(T0, "stale")
            store.search(["M 31"], limit=5)
    except BaseException:
        errors.put(f"writer {writer}: {traceback.format_exc()}")
        raise
    finally:
        engine.dispose()


def test_concurrent_writers_in_several_processes(catalog_url: str) -> None:
    context = multiprocessing.get_context("spawn")  # no engine or lock state inherited
    start = context.Barrier(WRITERS)
    errors = context.Queue()
    processes = [
        context.Process(target=_concurrent_writer, args=(catalog_url, n, start, errors))
        for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    errors.close()
    errors.join_thread()
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert messages == []
    assert [p.exitcode for p in processes] == [0] * WRITERS

    engine = create_catalog_engine(catalog_url)
    try:
        store = CatalogStore(engine)
        assert store.count_images() == WRITERS * WRITES_PER_WRITER + 5
        assert len(store.search(["M 31"])) == WRITERS * WRITES_PER_WRITER + 5
        row = store.get_solution_row(f"fp-{WRITERS - 1}-{WRITES_PER_WRITER - 1}")
        assert row is not None
        assert (row.status, row.submission_id) == ("submitted", WRITES_PER_WRITER - 1)
        # replace_matches raced on the shared images: each still has exactly one set.
        for k in range(5):
            assert len(store.get_matches(f"M31/shared{k}.fits")) == 1
    finally:
        engine.dispose()


def test_search_columns_are_the_tables_columns() -> None:
    from astrocat_pipeline.adapters.catalog.schema import images, plate_solutions
    from astrocat_pipeline.adapters.catalog.search_query import IMAGE_COLUMNS, SOLUTION_COLUMNS

    assert set(IMAGE_COLUMNS) == {c.name for c in images.c} - {"raw_header", "thumbnail_stretch"}
    assert set(SOLUTION_COLUMNS) == {c.name for c in plate_solutions.c}


@pytest.mark.parametrize(
    "keys", [None, [], ["NGC 221"], ["M 31"], ["M 33"], ["NGC 1976", "M 31"], ["nothing"]]
)
def test_quick_read_gives_the_stores_search(
    searchable: CatalogStore, catalog_url: str, keys: list[str] | None
) -> None:
    """Read through sqlite3 without SQLAlchemy, a current SQLite catalog gives exactly the
    store's results; any other catalog is left to the store (None)."""
    from astrocat_pipeline.adapters.catalog.quick_read import quick_search

    quick = quick_search(catalog_url, keys)
    if not catalog_url.startswith("sqlite"):
        assert quick is None
        return
    assert quick is not None
    assert [r.to_dict() for r in quick] == [r.to_dict() for r in searchable.search(keys)]
    assert quick == searchable.search(keys)


def test_quick_read_leaves_new_and_older_catalogs_to_the_store(tmp_path: Path) -> None:
    from astrocat_pipeline.adapters.catalog.quick_read import quick_search, sqlite_path

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert quick_search(url, None) is None  # no file yet: the store creates it
    open_catalog(url).close()
    assert quick_search(url, None) == []
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
    assert quick_search(url, None) is None  # an older schema: the store migrates it
    assert sqlite_path("sqlite://") is None
    assert sqlite_path(f"{url}?timeout=5") is None
    assert sqlite_path("postgresql://localhost/catalog") is None


def test_a_thumbnail_made_clears_its_own_earlier_error_only(catalog_store: CatalogStore) -> None:
    store = catalog_store
    store.upsert_inventory([entry("a"), entry("b")])
    store.record_error("M31/a.fits", "image_thumbnail", "M31/a.fits: cannot decode")
    store.record_error("M31/b.fits", "image_metadata", "M31/b.fits: not FITS")
    store.record_thumbnail("M31/a.fits", "/cache/a_thumb.jpg")
    store.record_thumbnail("M31/b.fits", "/cache/b_thumb.jpg")
    a, b = store.get_image("M31/a.fits"), store.get_image("M31/b.fits")
    assert a is not None
    assert b is not None
    assert (a.status, a.error_stage, a.error) == ("indexed", None, None)
    assert (b.status, b.error_stage) == ("error", "image_metadata")  # not the thumbnail's


def test_removals_are_looks_holds_and_tombstones(catalog_store: CatalogStore) -> None:
    """On both backends: a file's removal facts, its hold, its tombstone (out of every read),
    its return at the same path or by content, and the purge."""
    store = catalog_store
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    store.upsert_inventory([entry("a"), entry("b"), entry("c"), entry("d")])
    for name in "abcd":
        store.record_file(f"M31/{name}.fits", fingerprint=f"fp-{name}", size_bytes=1000, mtime_ns=1)
        store.record_metadata(
            f"M31/{name}.fits", metadata(f"/library/M31/{name}.fits", object="M 31"), {}, "M 31"
        )
    store.replace_matches("M31/a.fits", [match("NGC 224", messier=31)])

    store.mark_gone(["M31/a.fits"], t0)
    store.hold_removals(["M31/b.fits"], t0)
    facts = store.removal_facts("/library", ["M31/c.fits"])
    assert facts["M31/a.fits"].gone_since == t0
    assert facts["M31/b.fits"].held
    assert facts["M31/c.fits"].gone_since is None
    assert store.count_held_removals() == 1
    assert store.held_removals("/library/M31") == [("M31/b.fits", "/library/M31/b.fits")]
    assert store.held_removals("/library/M3") == []
    store.clear_gone(["M31/b.fits"])
    assert store.count_held_removals() == 0

    assert store.tombstone_images(["M31/a.fits", "M31/d.fits"], t0) == 2
    assert store.get_image("M31/a.fits") is None
    assert store.count_images() == 2
    assert {r.image.partition_key for r in store.search(["M 31"])} == {"M31/b.fits", "M31/c.fits"}
    assert [row.partition_key for row in store.images_under("/library")] == [
        "M31/b.fits",
        "M31/c.fits",
    ]
    assert set(store.recorded_files("/library")) == {"M31/b.fits", "M31/c.fits"}
    assert store.partition_keys() == ["M31/b.fits", "M31/c.fits"]

    # a comes back as it was: restored, matches and all; d comes back changed: cataloged afresh.
    restored = store.upsert_inventory([entry("a"), entry("d", size=5)])
    assert restored == ["M31/a.fits"]
    back = store.get_image("M31/a.fits")
    assert back.fingerprint == "fp-a"
    assert back.object == "M 31"
    assert [m.designation for m in store.get_matches("M31/a.fits")] == ["NGC 224"]
    fresh = store.get_image("M31/d.fits")
    assert fresh.fingerprint is None
    assert fresh.object is None

    # c is removed, then its content comes back under another name.
    store.tombstone_images(["M31/c.fits"], t0)
    store.upsert_inventory([entry("c-renamed")])
    assert store.adopt_tombstone("M31/c-renamed.fits", "fp-c") == "/library/M31/c.fits"
    assert store.get_image("M31/c-renamed.fits").object == "M 31"
    assert store.adopt_tombstone("M31/c-renamed.fits", "fp-c") is None  # taken over once

    store.tombstone_images(["M31/b.fits"], t0)
    assert store.purge_tombstones(t0) == []  # not older than t0
    purged = store.purge_tombstones(t0 + timedelta(days=1))
    assert [(key, path) for key, path, _ in purged] == [("M31/b.fits", "/library/M31/b.fits")]
    assert store.count_images() == 3
