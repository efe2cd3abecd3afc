"""``is_unavailable`` tells a catalog database that cannot serve (shared infrastructure: retried,
never blamed on a file) from an error about the data, on real failures of both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import CatalogStore, is_unavailable, open_catalog
from astrocat_pipeline.core.records import InventoryEntry


def terminate_backends(admin_url: str, database: str) -> int:
    """Kill every server process serving ``database`` (what a restart does to its clients)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                ).all()
            )
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_terminated_postgres_connection_is_unavailable(
    postgres_admin_url: str, postgres_database_url: str
) -> None:
    with open_catalog(postgres_database_url) as store:
        store.count_images()  # a pooled connection, used just now (no ping before reuse)
        assert terminate_backends(postgres_admin_url, sa.make_url(postgres_database_url).database)
        with pytest.raises(sa.exc.DBAPIError) as raised:
            store.count_images()
        assert is_unavailable(raised.value)
        assert store.count_images() == 0  # the pool replaced the dead connection


@pytest.mark.postgres
def test_a_postgres_server_refusing_connections_is_unavailable(
    postgres_admin_url: str, postgres_database_url: str
) -> None:
    unreachable = sa.make_url(postgres_database_url).set(port=1)  # nothing listens there
    with pytest.raises(sa.exc.OperationalError) as raised:
        open_catalog(unreachable.render_as_string(hide_password=False))
    assert is_unavailable(raised.value)


def test_a_sqlite_catalog_locked_beyond_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    with open_catalog(f"sqlite:///{path}") as store:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
            with pytest.raises(sa.exc.OperationalError) as raised, engine.begin() as conn:
                conn.exec_driver_sql("UPDATE images SET error = NULL")
            assert "database is locked" in str(raised.value)
            assert is_unavailable(raised.value)
            engine.dispose()
        finally:
            holder.rollback()
            holder.close()
        assert store.count_images() == 0


def test_errors_about_the_data_are_not_unavailability(catalog_store: CatalogStore) -> None:
    entry = InventoryEntry("/library", "a.fits", 1, 1, "fits", "a.fits")
    catalog_store.upsert_inventory([entry])
    with pytest.raises(sa.exc.IntegrityError) as raised, catalog_store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO images (partition_key) VALUES ('a.fits')")
    assert not is_unavailable(raised.value)
    with pytest.raises(sa.exc.DBAPIError) as raised, catalog_store.engine.begin() as conn:
        conn.exec_driver_sql("SELECT no_such_column FROM images")
    assert not is_unavailable(raised.value)
    for error in (RuntimeError("x"), MemoryError(), OSError(2, "No such file"), ValueError()):
        assert not is_unavailable(error)
