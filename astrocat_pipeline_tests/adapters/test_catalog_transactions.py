"""Each step's rows are written in one transaction: when a later statement of a write fails, the
earlier ones are rolled back, so a file is never half-written (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageStatus,
    InventoryEntry,
    PlateSolution,
)

KEY = "M31/a.fits"
CORNERS = ((10.0, 41.0), (11.0, 41.0), (11.0, 42.0), (10.0, 42.0))


class InjectedError(RuntimeError):
    """The failure a test makes one statement raise."""


@contextmanager
def failing_statement(engine: sa.Engine, matches: Callable[[str], bool]) -> Iterator[None]:
    """Make the first statement whose SQL ``matches`` raise, before it reaches the database."""

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if matches(" ".join(statement.split()).upper()):
            raise InjectedError(f"injected failure of: {statement[:60]}")

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def entry(name: str) -> InventoryEntry:
    return InventoryEntry(
        root="/library",
        rel_path=f"M31/{name}.fits",
        size_bytes=1000,
        mtime_ns=1,
        format="fits",
        partition_key=f"M31/{name}.fits",
    )


def solved() -> PlateSolution:
    geometry = FieldGeometry(10.5, 41.5, 2.0, 0.0, "normal", 1.0, 1.0, 0.7, CORNERS)
    return PlateSolution(status="solved", solver="local", geometry=geometry, wcs_header="X")


def match(designation: str) -> CatalogMatch:
    return CatalogMatch(
        catalog="NGC", designation=designation, name=None, object_type="G", ra_deg=10.6,
        dec_deg=41.2, x_px=10.0, y_px=10.0, major_axis_arcmin=1.0,
    )  # fmt: skip


@pytest.fixture
def store(catalog_store: CatalogStore) -> CatalogStore:
    catalog_store.upsert_inventory([entry("a")])
    return catalog_store


def test_a_thumbnail_and_the_error_it_clears_are_one_write(store: CatalogStore) -> None:
    store.record_error(KEY, "image_thumbnail", f"{KEY}: image_thumbnail failed: OSError: x")
    with (
        failing_statement(store.engine, lambda sql: "ERROR_STAGE" in sql and "UPDATE" in sql),
        pytest.raises(InjectedError),
    ):
        store.record_thumbnail(KEY, "/cache/a_thumb.jpg")

    row = store.get_image(KEY)
    assert row.thumbnail_path is None  # the path is not recorded without its error cleared
    assert row.status == ImageStatus.ERROR
    store.record_thumbnail(KEY, "/cache/a_thumb.jpg")
    row = store.get_image(KEY)
    assert (row.thumbnail_path, row.status, row.error) == ("/cache/a_thumb.jpg", "indexed", None)


def test_a_file_and_the_tombstone_it_adopts_are_one_write(store: CatalogStore) -> None:
    store.upsert_inventory([entry("old")])
    store.record_file("M31/old.fits", fingerprint="fp", size_bytes=1, mtime_ns=1)
    store.replace_matches("M31/old.fits", [match("NGC 224")])
    store.tombstone_images(["M31/old.fits"], datetime(2026, 1, 1, tzinfo=UTC))

    # The tombstone's row is deleted last: failing it must undo the fingerprint and the matches
    # already moved over.
    with (
        failing_statement(store.engine, lambda sql: sql.startswith("DELETE FROM IMAGES")),
        pytest.raises(InjectedError),
    ):
        store.record_file(KEY, fingerprint="fp", size_bytes=1, mtime_ns=1, adopt_tombstone=True)

    assert store.get_image(KEY).fingerprint is None
    assert store.get_matches(KEY) == []
    assert (
        store.record_file(KEY, fingerprint="fp", size_bytes=1, mtime_ns=1, adopt_tombstone=True)
        == "/library/M31/old.fits"
    )
    assert [m.designation for m in store.get_matches(KEY)] == ["NGC 224"]


def test_a_solution_and_its_footprints_are_one_write(store: CatalogStore) -> None:
    store.record_file(KEY, fingerprint="fp", size_bytes=1, mtime_ns=1)
    with (
        failing_statement(store.engine, lambda sql: sql.startswith("INSERT INTO SKY_FOOTPRINTS")),
        pytest.raises(InjectedError),
    ):
        store.save_solution("fp", solved())

    assert store.get_solution_row("fp") is None
    assert store.cone_search(10.5, 41.5, 1.0) == []
    store.save_solution("fp", solved())
    assert store.cone_search(10.5, 41.5, 1.0) == [KEY]


def test_matches_are_replaced_in_one_write(store: CatalogStore) -> None:
    store.replace_matches(KEY, [match("NGC 224")])
    with (
        failing_statement(store.engine, lambda sql: sql.startswith("INSERT INTO CATALOG_MATCHES")),
        pytest.raises(InjectedError),
    ):
        store.replace_matches(KEY, [match("NGC 205"), match("NGC 221")])

    assert [m.designation for m in store.get_matches(KEY)] == ["NGC 224"]  # the old ones kept


def test_a_later_success_of_a_stage_clears_only_that_stages_error(store: CatalogStore) -> None:
    store.record_file(KEY, fingerprint="fp", size_bytes=1, mtime_ns=1)
    store.record_error(KEY, "plate_solution", f"{KEY}: plate_solution failed: MemoryError: x")
    store.replace_matches(KEY, [])
    assert store.get_image(KEY).error_stage == "plate_solution"  # not the matches' to clear

    store.save_solution("fp", solved())
    assert (store.get_image(KEY).status, store.get_image(KEY).error) == ("indexed", None)

    store.record_error(KEY, "catalog_matches", f"{KEY}: catalog_matches failed: KeyError: x")
    store.replace_matches(KEY, [match("NGC 224")])
    assert (store.get_image(KEY).status, store.get_image(KEY).error) == ("indexed", None)
