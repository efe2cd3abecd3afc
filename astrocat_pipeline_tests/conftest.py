"""Shared fixtures, and what a test needs from the machine.

A test marked ``needs_samples`` or ``needs_solver`` (or using PostgreSQL) is skipped, with the
reason, on a machine without the real sample files, astrometry.net's solve-field or a
PostgreSQL server; under CI (``CI=true``), which has all three, a missing one fails the test.

Catalog database: ``catalog_url`` runs a test once on a fresh SQLite file and once on a fresh
PostgreSQL database (marked ``postgres``). The PostgreSQL run is skipped when the server is not
reachable, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from astrocat_pipeline.adapters.catalog import (
    CatalogStore,
    create_catalog_engine,
    migrate,
)
from astrocat_pipeline_tests.samples import samples_missing


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and {reason}")
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_samples") and (reason := samples_missing()):
        _missing(reason)
    if item.get_closest_marker("needs_solver") and shutil.which("solve-field") is None:
        _missing("astrometry.net solve-field is not installed (scripts/setup installs it)")


# The server to create test databases on (through its maintenance database).
POSTGRES_ADMIN_URL_ENV = "ASTROCAT_TEST_POSTGRES_URL"
POSTGRES_ADMIN_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of the PostgreSQL maintenance database; skips (fails under CI) if unreachable."""
    url = sa.make_url(os.environ.get(POSTGRES_ADMIN_URL_ENV, POSTGRES_ADMIN_URL_DEFAULT))
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        shown = url.render_as_string(hide_password=True)
        reason = (
            f"PostgreSQL is not reachable at {shown} (set {POSTGRES_ADMIN_URL_ENV}): "
            + (str(exc.orig).strip().splitlines() or ["no message"])[0]
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """URL of a new, uniquely named, empty PostgreSQL database, dropped afterwards."""
    name = f"astrocat_test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield (
                sa.make_url(postgres_admin_url)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """URL of a new, uniquely named, empty PostgreSQL database, dropped after the test."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty catalog database (not migrated), on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'astrocat' / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def catalog_engine(catalog_url: str) -> Iterator[sa.Engine]:
    """An engine on an empty catalog database, disposed afterwards."""
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_store(catalog_engine: sa.Engine) -> CatalogStore:
    """A store on a freshly migrated catalog database."""
    migrate(catalog_engine)
    return CatalogStore(catalog_engine)
