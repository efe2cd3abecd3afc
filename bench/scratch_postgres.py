"""A throwaway PostgreSQL database for the benchmarks that measure the PostgreSQL backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

# The server a benchmark uses unless told otherwise (trust authentication on loopback).
POSTGRES_URL_ENV = "ASTROCAT_BENCH_POSTGRES_URL"
POSTGRES_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """URL of a new database ``{prefix}_<random>`` on the server of ``admin_url``, dropped
    afterwards (connections still open are closed by the server)."""
    admin_sa_url = sa.make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_sa_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin_sa_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
