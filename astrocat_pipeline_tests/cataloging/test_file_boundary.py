"""The per-file boundary (``steps.run_file_step``): any exception from one file's step is that
file's recorded error; shared infrastructure that fails is retried with backoff, then fails the
caller, and is never blamed on the file."""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.core.errors import InfrastructureError
from astrocat_pipeline.core.records import ImageStatus
from astrocat_pipeline.core.tuning import (
    INFRA_RETRY_ATTEMPTS,
    INFRA_RETRY_BACKOFF_FACTOR,
    INFRA_RETRY_FIRST_DELAY_S,
)
from astrocat_pipeline_tests.cataloging.test_steps_solve import _register
from astrocat_pipeline_tests.image_files import write_fits


@pytest.fixture
def key(catalog_store: CatalogStore, tmp_path: Path) -> str:
    data = np.random.default_rng(1).normal(1000, 10, (32, 48)).astype(np.uint16)
    path = write_fits(tmp_path / "library" / "a.fits", data, {"IMAGETYP": "LIGHT"})
    return _register(catalog_store, path)


def locked() -> sa.exc.OperationalError:
    """The error SQLAlchemy raises for SQLite's "database is locked" after the busy timeout."""
    cause = sqlite3.OperationalError("database is locked")
    cause.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    return sa.exc.OperationalError("UPDATE images ...", {}, cause)


@pytest.mark.parametrize("error", [RuntimeError("a reader bug"), MemoryError()])
def test_an_unexpected_exception_is_the_files_recorded_error(
    catalog_store: CatalogStore,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    def read_header(path: Path) -> None:
        raise error

    monkeypatch.setattr(steps, "read_header", read_header)
    outcome = steps.run_file_step(
        catalog_store,
        key,
        "image_metadata",
        lambda: steps.extract_metadata(catalog_store, key, None),
    )

    name = type(error).__name__
    assert outcome.status == "error"
    assert outcome.message is not None
    assert outcome.message.startswith(f"{key}: image_metadata failed: {name}")
    row = catalog_store.get_image(key)
    assert row is not None
    assert (row.status, row.error_stage, row.error) == (
        ImageStatus.ERROR,
        "image_metadata",
        outcome.message,
    )
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None  # the traceback goes to the log
    # The next step of the file is blocked by it, and a fixed file clears it.
    assert steps.make_thumbnail(catalog_store, ThumbnailStore(Path("/nonexistent")), key).failed
    monkeypatch.undo()
    assert steps.extract_metadata(catalog_store, key, None).status == "ok"
    assert catalog_store.get_image(key).error is None  # type: ignore[union-attr]


def test_an_unavailable_catalog_is_retried_with_backoff_and_not_blamed(
    catalog_store: CatalogStore, key: str
) -> None:
    tries: list[int] = []
    waits: list[float] = []

    def step() -> steps.StepOutcome:
        tries.append(1)
        if len(tries) < 3:
            raise locked()
        return steps.StepOutcome("ok")

    outcome = steps.run_file_step(catalog_store, key, "image_file", step, sleep=waits.append)

    assert outcome.status == "ok"
    assert waits == [INFRA_RETRY_FIRST_DELAY_S, INFRA_RETRY_FIRST_DELAY_S * 2]
    assert catalog_store.get_image(key).error is None  # type: ignore[union-attr]


def test_a_catalog_that_stays_unavailable_fails_the_caller_without_blaming_the_file(
    catalog_store: CatalogStore, key: str
) -> None:
    waits: list[float] = []

    def step() -> steps.StepOutcome:
        raise locked()

    with pytest.raises(InfrastructureError, match="no file blamed") as raised:
        steps.run_file_step(catalog_store, key, "image_metadata", step, sleep=waits.append)

    assert "database is locked" in str(raised.value)
    assert isinstance(raised.value.__cause__, sa.exc.OperationalError)
    assert waits == [
        INFRA_RETRY_FIRST_DELAY_S * INFRA_RETRY_BACKOFF_FACTOR**n
        for n in range(INFRA_RETRY_ATTEMPTS - 1)
    ]
    row = catalog_store.get_image(key)
    assert row is not None
    assert (row.status, row.error_stage, row.error) == (ImageStatus.DISCOVERED, None, None)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_thumbnail_cache_that_cannot_be_written_is_infrastructure(
    catalog_store: CatalogStore,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
) -> None:
    assert steps.extract_metadata(catalog_store, key, None).status == "ok"
    cache = ThumbnailStore(tmp_path / "thumbnails")

    def write(source_path: str, jpeg: bytes) -> Path:
        raise OSError(code, "cannot write", str(cache.cache_dir / ".tmp"))

    monkeypatch.setattr(cache, "write", write)
    with pytest.raises(InfrastructureError, match="thumbnail cache"):
        steps.run_file_step(
            catalog_store,
            key,
            "image_thumbnail",
            lambda: steps.make_thumbnail(catalog_store, cache, key),
            sleep=lambda _: None,
        )
    assert catalog_store.get_image(key).error is None  # type: ignore[union-attr]


def test_another_cache_write_error_is_the_files(
    catalog_store: CatalogStore, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert steps.extract_metadata(catalog_store, key, None).status == "ok"
    cache = ThumbnailStore(tmp_path / "thumbnails")

    def write(source_path: str, jpeg: bytes) -> Path:
        raise OSError(errno.ENAMETOOLONG, "File name too long")

    monkeypatch.setattr(cache, "write", write)
    outcome = steps.run_file_step(
        catalog_store,
        key,
        "image_thumbnail",
        lambda: steps.make_thumbnail(catalog_store, cache, key),
        sleep=lambda _: pytest.fail("not retried"),
    )
    assert outcome.status == "error"
    assert "OSError" in (outcome.message or "")
    assert catalog_store.get_image(key).error_stage == "image_thumbnail"  # type: ignore[union-attr]
