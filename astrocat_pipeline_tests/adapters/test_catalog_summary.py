"""The library summary aggregated by the catalog database (``summary_aggregates``, the stored
``images.target``) against the summary computed in Python over every image, on both backends."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.cataloging.summary import library_tables
from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    InventoryEntry,
    PlateSolution,
)
from astrocat_pipeline.core.summary import library_summary
from astrocat_pipeline.core.targets import target_of

GEOMETRY = FieldGeometry(
    ra_deg=10.68,
    dec_deg=41.27,
    pixel_scale_arcsec=1.2,
    rotation_deg=0.0,
    parity="normal",
    width_deg=1.0,
    height_deg=0.7,
    radius_deg=0.6,
    corners_deg=((10.0, 41.0), (11.0, 41.0), (11.0, 41.6), (10.0, 41.6)),
)
NOON = datetime(2024, 10, 5, 12, 0, tzinfo=UTC)


def _match(designation: str, name: str | None = None, messier: int | None = None) -> CatalogMatch:
    return CatalogMatch(designation.split()[0], designation, name, "G", 10.7, 41.3, 5.0, 5.0, 30.0)


M31 = dataclasses.replace(_match("NGC 224", "Andromeda Galaxy"), messier=31)
M32 = dataclasses.replace(_match("NGC 221"), messier=32)
NAN = _match("NGC 7000", "North America Nebula")
PELICAN = _match("IC 5070", "Pelican Nebula")
VEGA = _match("HIP 91262", "Vega")

# name: (OBJECT, frame type, filter, exposure s, date, camera, matches, solved)
FRAMES: dict[str, tuple[Any, ...]] = {
    "m31_ha_1": ("M31", "light", "Ha", 300.0, NOON + timedelta(hours=10), "ASI2600", [M31, M32], 1),
    "m31_ha_2": ("M 31", "light", "Ha", 300.0, NOON + timedelta(hours=13), "ASI2600", [M31], 1),
    # The header names the second match: the target is M 32, not the first match.
    "m32_l": ("M32", "light", "L", 120.0, NOON - timedelta(minutes=1), "ASI2600", [M31, M32], 1),
    # Named by the match's common name, in another case and with spaces around it.
    "andromeda": ("  andromeda galaxy ", "light", "", 60.0, NOON, None, [M32, M31], 1),
    # The OBJECT names nothing in the field: the first match.
    "pelican": (
        "Pelican",
        "light",
        "OIII",
        600.0,
        NOON + timedelta(days=3),
        "A7S",
        [NAN, PELICAN],
        1,
    ),
    "vega": ("Vega", "light", None, None, None, "A7S", [VEGA], 1),
    # Never solved: the header, normalized; nothing at all: unknown.
    "unsolved": ("ngc7000", "light", "Ha", 180.0, NOON + timedelta(days=1), "ASI2600", [], 0),
    "nothing": (None, "light", "Ha", 30.0, None, None, [], 0),
    "blank": ("   ", "light", "Ha", 30.0, None, None, [], 0),
    # Unlabelled frames count only when solved; calibration and masters never.
    "unknown_solved": ("M31", "unknown", "Ha", 90.0, NOON + timedelta(days=2), None, [M31], 1),
    "unknown_unsolved": ("M31", "unknown", "Ha", 90.0, NOON + timedelta(days=2), None, [], 0),
    "dark": (None, "dark", None, 300.0, NOON + timedelta(hours=20), "ASI2600", [], 0),
    "flat": ("M31", "flat", "Ha", 2.0, NOON + timedelta(hours=9), "ASI2600", [], 0),
    "master": ("M31", "master_light", "Ha", 3600.0, NOON + timedelta(days=5), None, [M31], 1),
}


def _add(store: CatalogStore, name: str, matches_first: bool) -> str:
    header, frame_type, filter_name, exposure, date_obs, camera, matches, solved = FRAMES[name]
    key = f"lib/{name}.fits"
    store.upsert_inventory([InventoryEntry("/lib", f"{name}.fits", 10, 1, "fits", key)])
    store.record_file(key, fingerprint=f"fp-{name}", size_bytes=10, mtime_ns=1)
    if solved:
        solution = PlateSolution(status="solved", solver="local", geometry=GEOMETRY)
        store.save_solution(f"fp-{name}", solution)
    metadata = ImageMetadata(
        path=f"/lib/{name}.fits",
        format="fits",
        object=header,
        frame_type=frame_type,
        filter=filter_name,
        exposure_s=exposure,
        date_obs=date_obs,
        camera=camera,
    )
    # Either order of the two writes a target depends on.
    if matches_first and matches:
        store.replace_matches(key, matches)
    store.record_metadata(key, metadata, {}, object_key=None)
    if not matches_first and matches:
        store.replace_matches(key, matches)
    return key


@pytest.fixture
def library(catalog_store: CatalogStore) -> CatalogStore:
    store = catalog_store
    for i, name in enumerate(FRAMES):
        _add(store, name, matches_first=i % 2 == 0)
    # An OBJECT written again after matching; matches replaced after the header.
    store.record_metadata(
        "lib/pelican.fits",
        ImageMetadata(path="/lib/pelican.fits", format="fits", object="IC5070", frame_type="light",
                      filter="OIII", exposure_s=600.0, date_obs=NOON + timedelta(days=3)),
        {},
        object_key=None,
    )  # fmt: skip
    store.replace_matches("lib/m32_l.fits", [M32, M31])
    # A file not yet read, a file that failed, and a removed file (left out of everything).
    store.upsert_inventory([InventoryEntry("/lib", "new.fits", 10, 1, "fits", "lib/new.fits")])
    store.record_error("lib/dark.fits", "image_thumbnail", "dark.fits: truncated")
    store.tombstone_images(["lib/m31_ha_2.fits"], NOON + timedelta(days=9))
    # A moved file adopts its tombstone's header, matches and target.
    moved = InventoryEntry("/lib", "moved/m31_ha_2.fits", 10, 1, "fits", "lib/moved.fits")
    store.upsert_inventory([moved])
    store.record_file(
        "lib/moved.fits", fingerprint="fp-m31_ha_2", size_bytes=10, mtime_ns=1,
        adopt_tombstone=True,
    )  # fmt: skip
    return store


def _python_summary(store: CatalogStore) -> dict[str, pd.DataFrame]:
    """The summary as computed before the catalog aggregated it: over every full record."""
    return library_summary([result.to_dict() for result in store.search(None)])


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    # Counts of equal frames have no defined order in the Python summary.
    key = [c for c in table.columns if c not in ("frames", "exposure_s", "exposure_h")]
    return table.sort_values(key).to_dict("records") if key else table.to_dict("records")


def test_the_catalogs_aggregation_equals_the_summary_over_every_image(
    library: CatalogStore,
) -> None:
    expected = _python_summary(library)
    found = library_tables(library)
    assert found.keys() == expected.keys()
    for name, table in expected.items():
        assert list(found[name].columns) == list(table.columns), name
        assert _rows(found[name]) == _rows(table), name  # sums of whole seconds: exact
    integration = found["integration"]
    # The table is not vacuous: the cases above land where target_of puts them.
    longest = integration.to_dict("records")[0]  # longest first
    assert (longest["target"], longest["filter"], longest["exposure_s"]) == ("M 31", "Ha", 690.0)
    pairs = set(zip(integration["target"], integration["filter"], strict=True))
    assert {("M 31", "Ha"), ("M 32", "L"), ("M 31", "none"), ("IC 5070", "OIII")} <= pairs
    assert {("NGC 7000", "Ha"), ("unknown", "Ha"), ("HIP 91262", "none")} <= pairs
    frames = {(r["target"], r["filter"]): r["frames"] for r in integration.to_dict("records")}
    # m31_ha_1, the moved m31_ha_2 (its tombstone gone) and the solved unlabelled frame.
    assert frames[("M 31", "Ha")] == 3


def test_the_stored_target_is_target_of_header_and_matches(library: CatalogStore) -> None:
    for result in library.search(None):
        image = result.to_dict()
        with library.engine.connect() as conn:
            stored = conn.scalar(
                sa.text("SELECT target FROM images WHERE id = :id"), {"id": result.image.image_id}
            )
        assert (stored or "unknown") == target_of(image), result.image.partition_key


def test_representatives_are_the_longest_exposure_with_a_thumbnail(
    library: CatalogStore,
) -> None:
    for name in ("m31_ha_1", "unknown_solved", "master", "unsolved"):
        library.record_thumbnail(f"lib/{name}.fits", f"/cache/{name}_thumb.jpg")
    found = library.target_representatives({"M 31", "NGC 7000", "nowhere"})
    ids = {
        name: library.get_image(f"lib/{name}.fits").image_id  # type: ignore[union-attr]
        for name in ("master", "unsolved")
    }
    # The master light is no integration, but the longest M 31 frame in Ha with a thumbnail.
    assert found == {("M 31", "Ha"): ids["master"], ("NGC 7000", "Ha"): ids["unsolved"]}


def test_revision_0010_fills_every_target_of_an_older_catalog(library: CatalogStore) -> None:
    """Down to 0009 (no target column, the older indexes) and up again: the migration computes
    every image's target from its header and matches, tombstones included."""
    from alembic import command
    from alembic.config import Config

    from astrocat_pipeline.adapters.catalog import migrate
    from astrocat_pipeline.adapters.catalog.engine import MIGRATIONS_DIR

    expected = _python_summary(library)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with library.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    with library.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("images")}
    assert "target" not in columns
    migrate(library.engine)

    with library.engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT partition_key, target FROM images")).all())
    assert stored["lib/m32_l.fits"] == "M 32"
    assert stored["lib/moved.fits"] == "M 31"  # the adopted tombstone's
    assert stored["lib/new.fits"] is None  # no header, no matches: "unknown"
    test_the_stored_target_is_target_of_header_and_matches(library)
    found = library_tables(library)
    for name, table in expected.items():
        assert _rows(found[name]) == _rows(table), name
