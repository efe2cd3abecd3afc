"""The catalog's health reads and the library walker's last pass, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import (
    CatalogStore,
    ImageFailure,
    LibraryPass,
    StateCount,
)
from astrocat_pipeline.core.records import (
    ImageMetadata,
    ImageStatus,
    InventoryEntry,
    PlateSolution,
    SolveStatus,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(catalog_store: CatalogStore, catalog_engine: sa.Engine, clock: Clock) -> CatalogStore:
    return CatalogStore(catalog_engine, clock=clock)


def add(store: CatalogStore, name: str) -> str:
    key = f"lib/{name}.fits"
    store.upsert_inventory(
        [
            InventoryEntry(
                root="/lib",
                rel_path=f"{name}.fits",
                size_bytes=100,
                mtime_ns=1,
                format="fits",
                partition_key=key,
            )
        ]
    )
    return key


def index(store: CatalogStore, name: str, fingerprint: str | None = None) -> str:
    key = add(store, name)
    store.record_file(key, fingerprint=fingerprint or f"fp-{name}", size_bytes=100, mtime_ns=1)
    store.record_metadata(key, ImageMetadata(path=f"/lib/{name}.fits", format="fits"), {}, None)
    return key


def a_pass(**counts: object) -> LibraryPass:
    values: dict[str, object] = {
        "source": "sensor",
        "elapsed_s": 1.25,
        "pass_number": 3,
        "roots": 2,
        "offline_roots": ("/mnt/nas",),
        "files_looked_at": 120,
        "recorded": 4,
        "new": 2,
        "changed": 1,
        "removed": 5,
        "removals_left": 6,
        "runs_launched": 7,
    }
    values.update(counts)
    return LibraryPass(**values)  # type: ignore[arg-type]


def test_state_counts_group_images_by_their_status_and_their_contents_solve(
    store: CatalogStore,
) -> None:
    add(store, "new1")
    add(store, "new2")
    index(store, "plain")
    for name, status in [
        ("solved1", "solved"),
        ("solved2", "solved"),
        ("failed", "failed"),
        ("dark", "skipped"),
        ("nova", "submitted"),
    ]:
        index(store, name)
        store.save_solution(f"fp-{name}", PlateSolution(status=status))
    # a copy of solved content counts once per file
    index(store, "copy", fingerprint="fp-solved1")
    broken = index(store, "broken")
    store.save_solution("fp-broken", PlateSolution(status="solved"))
    store.record_error(broken, "image_thumbnail", "cannot render")

    counts = {(c.status, c.solution_status): c.images for c in store.image_state_counts()}

    assert counts == {
        (ImageStatus.DISCOVERED, None): 2,
        (ImageStatus.INDEXED, None): 1,
        (ImageStatus.INDEXED, SolveStatus.SOLVED): 3,
        (ImageStatus.INDEXED, SolveStatus.FAILED): 1,
        (ImageStatus.INDEXED, SolveStatus.SKIPPED): 1,
        (ImageStatus.INDEXED, SolveStatus.SUBMITTED): 1,
        (ImageStatus.ERROR, SolveStatus.SOLVED): 1,
    }
    assert all(isinstance(c, StateCount) for c in store.image_state_counts())


def test_state_counts_of_an_empty_catalog_are_empty(store: CatalogStore) -> None:
    assert store.image_state_counts() == []
    assert store.latest_failures(20) == []
    assert store.last_library_pass("sensor") is None


def test_latest_failures_hold_file_stage_reason_and_time_newest_first(
    store: CatalogStore, clock: Clock
) -> None:
    for name in ("a", "b", "c"):
        key = add(store, name)
        clock.tick()
        store.record_error(key, "image_metadata", f"/lib/{name}.fits: not a readable FITS file")
    clock.tick()
    index(store, "unsolvable")
    store.save_solution("fp-unsolvable", PlateSolution(status="failed", error="no solution"))
    clock.tick()
    index(store, "fine")
    store.save_solution("fp-fine", PlateSolution(status="solved"))

    failures = store.latest_failures(2)

    assert failures == [
        ImageFailure(
            "lib/c.fits",
            "/lib/c.fits",
            "image_metadata",
            "/lib/c.fits: not a readable FITS file",
            T0 + timedelta(minutes=3),
        ),
        ImageFailure(
            "lib/b.fits",
            "/lib/b.fits",
            "image_metadata",
            "/lib/b.fits: not a readable FITS file",
            T0 + timedelta(minutes=2),
        ),
        ImageFailure(
            "lib/unsolvable.fits",
            "/lib/unsolvable.fits",
            "plate_solution",
            "no solution",
            T0 + timedelta(minutes=4),
        ),
    ]


def test_a_file_read_again_successfully_leaves_the_failures(store: CatalogStore) -> None:
    key = add(store, "flaky")
    store.record_error(key, "image_file", "cannot read file")
    assert [f.partition_key for f in store.latest_failures(5)] == [key]

    store.record_file(key, fingerprint="fp", size_bytes=100, mtime_ns=1)
    store.record_metadata(key, ImageMetadata(path="/lib/flaky.fits", format="fits"), {}, None)

    assert store.latest_failures(5) == []


def test_a_failed_solve_of_an_errored_file_is_listed_once_with_its_error(
    store: CatalogStore,
) -> None:
    key = index(store, "both")
    store.save_solution("fp-both", PlateSolution(status="failed", error="no solution"))
    store.record_error(key, "image_thumbnail", "cannot render")

    assert [(f.stage, f.reason) for f in store.latest_failures(5)] == [
        ("image_thumbnail", "cannot render")
    ]


def test_the_last_pass_is_kept_per_source_and_replaced_by_the_next(
    store: CatalogStore, clock: Clock
) -> None:
    store.record_library_pass(a_pass())
    clock.tick(5)
    store.record_library_pass(a_pass(new=9, offline_roots=()))
    store.record_library_pass(a_pass(source="index", new=1))

    recorded = store.last_library_pass("sensor")

    assert recorded is not None
    assert recorded.library_pass == a_pass(new=9, offline_roots=())
    assert recorded.recorded_at == T0 + timedelta(minutes=5)
    other = store.last_library_pass("index")
    assert other is not None
    assert other.library_pass.new == 1
