"""The catalog database restarting or staying down during a batch (invariants 5 and 7): the
per-file step retries and the batch completes, or the run fails visibly; no file is blamed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.adapters.test_catalog_availability import terminate_backends
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits
from astrocat_pipeline_tests.defs.test_failed_files import ASSETS, statuses, step_failure_messages

pytestmark = pytest.mark.postgres


@pytest.fixture
def library(
    tmp_path: Path, astrocat_env: Path, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Three good light frames, a PostgreSQL catalog, no solver, short retry waits."""
    root = tmp_path / "library"
    for seed, name in enumerate(("a", "b", "c")):
        write_tiny_fits(root / f"{name}.fits", seed=seed, EXPTIME=30.0)
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    monkeypatch.setenv("ASTROCAT_DATABASE_URL", postgres_database_url)
    monkeypatch.setattr(steps, "INFRA_RETRY_FIRST_DELAY_S", 0.05)
    return root


def before_thumbnail_of(
    monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[], None]
) -> None:
    """Run ``action`` once, in the step, just before the thumbnail of file ``name``."""
    real = steps.make_thumbnail
    done: list[bool] = []

    def make_thumbnail(
        store: Any, thumbnails: Any, key: str, *args: Any, **kwargs: Any
    ) -> steps.StepOutcome:
        if key.endswith(name) and not done:
            done.append(True)
            action()
        return real(store, thumbnails, key, *args, **kwargs)

    monkeypatch.setattr(steps, "make_thumbnail", make_thumbnail)


def set_connections_allowed(admin_url: str, database: str, allowed: bool) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allowed}')
    finally:
        admin.dispose()


def catalog_errors() -> list[tuple[str, str | None, str | None]]:
    with open_catalog(Settings.from_env().database_url) as store:
        rows = store.images_under(None)
    return [(row.rel_path, row.error_stage, row.error) for row in rows if row.error]


def retry_warnings(instance: dg.DagsterInstance) -> list[str]:
    (run,) = instance.get_runs()
    return [
        entry.user_message
        for entry in instance.all_logs(run.run_id)
        if "shared infrastructure unavailable" in entry.user_message
    ]


def test_a_catalog_restart_mid_batch_is_retried_and_the_batch_completes(
    library: Path,
    instance: dg.DagsterInstance,
    postgres_admin_url: str,
    postgres_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = sa.make_url(postgres_database_url).database
    assert database is not None
    killed: list[int] = []
    before_thumbnail_of(
        monkeypatch,
        "b.fits",
        lambda: killed.append(terminate_backends(postgres_admin_url, database)),
    )

    summary = index_library(Settings.from_env(), instance, batch_size=10)

    assert killed == [killed[0]]
    assert killed[0] >= 1  # the step's catalog connection was killed
    assert (summary.runs, summary.failed_runs) == (1, 0)
    for asset in ASSETS:
        assert set(statuses(instance, asset).values()) == {"MATERIALIZED"}, asset
    assert catalog_errors() == []
    # The files are worked on two at a time: the connection killed is b.fits's, the other
    # file's, or both.
    warnings = retry_warnings(instance)
    assert 1 <= len(warnings) <= 2
    for warning in warnings:
        assert ": shared infrastructure unavailable (OperationalError" in warning


def test_a_catalog_that_stays_down_fails_the_run_and_blames_no_file(
    library: Path,
    instance: dg.DagsterInstance,
    postgres_admin_url: str,
    postgres_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = sa.make_url(postgres_database_url).database
    assert database is not None

    def go_down() -> None:
        set_connections_allowed(postgres_admin_url, database, allowed=False)
        terminate_backends(postgres_admin_url, database)

    before_thumbnail_of(monkeypatch, "b.fits", go_down)
    try:
        summary = index_library(Settings.from_env(), instance, batch_size=10)
    finally:
        set_connections_allowed(postgres_admin_url, database, allowed=True)

    assert (summary.runs, summary.failed_runs) == (1, 1)
    (run,) = instance.get_runs()
    (message,) = step_failure_messages(instance, run.run_id)
    assert "shared infrastructure unavailable after 5 tries" in message
    assert "no file blamed" in message
    assert "files failed" not in message  # not the failure that lists failed files
    assert "once the catalog database or the thumbnail cache is back" in message
    # Four retries for each file the outage met: b.fits, and whichever was worked on beside it.
    warnings = retry_warnings(instance)
    assert len([w for w in warnings if "b.fits: image_thumbnail: " in w]) == 4
    assert len(warnings) in (4, 8)
    assert catalog_errors() == []  # nothing recorded as any file's error
    # What the step finished stays done (a.fits, worked on beside b.fits; b.fits up to its
    # thumbnail); what it had not reached shows failed in Dagster, to be re-run. c.fits waits
    # for a free thread: started (after a.fits) or not, nothing of it finished after the outage.
    metadata = statuses(instance, "image_metadata")
    assert (metadata["a.fits"], metadata["b.fits"]) == ("MATERIALIZED", "MATERIALIZED")
    thumbnails = statuses(instance, "image_thumbnail")
    assert thumbnails["b.fits"] == "FAILED"
    assert thumbnails["c.fits"] == "FAILED"
    assert {metadata["c.fits"], thumbnails["a.fits"]} <= {"MATERIALIZED", "FAILED"}
