"""The sky index of the catalog database: footprints, cells and cone searches, on SQLite and on
PostgreSQL (the ``catalog_url`` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from astrocat_pipeline.adapters.catalog_db import (
    _MIGRATIONS_DIR,
    CatalogStore,
    migrate,
    sky_cells,
    sky_footprints,
)
from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    InventoryEntry,
    PlateSolution,
)
from astrocat_pipeline.core.sky_index import footprint_cells
from astrocat_pipeline.core.tuning import SKY_INDEX_HEALPIX_ORDER
from astrocat_pipeline_tests.core.test_sky_index import frame_corners


def solved(corners: np.ndarray) -> PlateSolution:
    ra, dec = corners.mean(axis=0)  # only the corners matter to the index
    geometry = FieldGeometry(
        ra_deg=float(ra),
        dec_deg=float(dec),
        pixel_scale_arcsec=10.0,
        rotation_deg=0.0,
        parity="normal",
        width_deg=1.0,
        height_deg=1.0,
        radius_deg=1.0,
        corners_deg=tuple((float(a), float(d)) for a, d in corners),
    )
    return PlateSolution(status="solved", solver="local", geometry=geometry, wcs_header="")


def add_image(store: CatalogStore, name: str, fingerprint: str) -> str:
    entry = InventoryEntry("/library", f"{name}.fits", 1, 1, "fits", f"{name}.fits")
    store.upsert_inventory([entry])
    store.record_file(entry.partition_key, fingerprint=fingerprint, size_bytes=1, mtime_ns=1)
    return entry.partition_key


def index_rows(engine: sa.Engine) -> tuple[list[tuple], list[tuple]]:
    with engine.connect() as conn:
        footprints = conn.execute(sa.select(sky_footprints).order_by(sky_footprints.c.id)).all()
        cells = conn.execute(
            sa.select(sky_cells).order_by(sky_cells.c.footprint_id, sky_cells.c.cell)
        ).all()
    return [tuple(r) for r in footprints], [tuple(r) for r in cells]


FRAMES = {
    "wrap": frame_corners(0.0, 30.0, 3.0, 2.0),  # across RA 0h
    "pole": frame_corners(45.0, 89.5, 3.0, 3.0, rotation_deg=30.0),  # contains the north pole
    "thin": frame_corners(100.0, 0.0, 5.0, 0.3),  # long and thin, along the equator
    "south": frame_corners(250.0, -60.0, 1.0, 0.7, rotation_deg=70.0),
}


@pytest.fixture
def sky_store(catalog_store: CatalogStore) -> CatalogStore:
    for name, corners in FRAMES.items():
        key = add_image(catalog_store, name, f"fp-{name}")
        catalog_store.save_solution(f"fp-{name}", solved(corners))
        assert key == f"{name}.fits"
    return catalog_store


@pytest.mark.parametrize(
    ("ra", "dec", "radius", "expected"),
    [
        (359.5, 30.0, 0.1, ["wrap.fits"]),
        (0.5, 30.5, 0.1, ["wrap.fits"]),
        (357.5, 30.0, 0.6, []),  # 0.67° west of the frame's edge
        (357.5, 30.0, 0.72, ["wrap.fits"]),
        (0.0, 90.0, 0.0, ["pole.fits"]),  # the pole itself
        (225.0, 89.0, 0.1, ["pole.fits"]),  # across the pole from the frame's centre
        (0.0, -90.0, 20.0, []),
        (102.4, 0.0, 0.05, ["thin.fits"]),  # near the end of the long frame
        (100.0, 0.5, 0.3, []),  # beside its middle, nearer its centre, but outside
        (100.0, 0.5, 0.36, ["thin.fits"]),
        (250.0, -60.0, 0.0, ["south.fits"]),
        (180.0, 0.0, 180.0, ["thin.fits", "south.fits", "pole.fits", "wrap.fits"]),  # by distance
    ],
)
def test_cone_search_is_exact_at_the_wrap_the_pole_and_the_edges(
    sky_store, ra, dec, radius, expected
):
    assert sky_store.cone_search(ra, dec, radius) == expected


def test_results_are_ordered_by_distance_and_include_every_copy_of_a_solution(sky_store):
    add_image(sky_store, "wrap-copy", "fp-wrap")  # the same content elsewhere: no new solve
    assert sky_store.cone_search(100.0, 10.0, 40.0) == ["thin.fits"]
    assert set(sky_store.cone_search(359.0, 31.0, 0.2)) == {"wrap.fits", "wrap-copy.fits"}
    assert sky_store.cone_search(50.0, 80.0, 60.0) == ["pole.fits", "wrap-copy.fits", "wrap.fits"]


def test_only_an_image_with_the_solved_content_is_found(sky_store):
    # The file changed: its new content has no solution, the old solution stays indexed but
    # belongs to no image any more.
    sky_store.record_file("wrap.fits", fingerprint="fp-new", size_bytes=2, mtime_ns=2)
    assert sky_store.cone_search(359.5, 30.0, 0.1) == []


def test_save_solution_indexes_replaces_and_removes_footprints(sky_store, catalog_engine):
    footprints, cells = index_rows(catalog_engine)
    assert len(footprints) == len(FRAMES)
    wrap_id = next(f[0] for f in footprints if f[1] == "fp-wrap")
    wrap_cells = [c for c, fid in cells if fid == wrap_id]
    np.testing.assert_array_equal(
        wrap_cells, footprint_cells(FRAMES["wrap"], SKY_INDEX_HEALPIX_ORDER)
    )

    # Saving the same solution again leaves the same rows.
    sky_store.save_solution("fp-wrap", solved(FRAMES["wrap"]))
    assert index_rows(catalog_engine) == (footprints, cells)

    # A new solution for the same content moves its footprint (same id, new cells).
    sky_store.save_solution("fp-wrap", solved(frame_corners(180.0, 0.0, 1.0, 1.0)))
    assert sky_store.cone_search(359.5, 30.0, 0.1) == []
    assert sky_store.cone_search(180.0, 0.0, 0.0) == ["wrap.fits"]
    moved, moved_cells = index_rows(catalog_engine)
    assert [f[0] for f in moved] == [f[0] for f in footprints]
    assert {c for c, fid in moved_cells if fid == wrap_id}.isdisjoint(wrap_cells)

    # Any outcome but "solved" takes the footprint out of the index.
    sky_store.save_solution("fp-wrap", PlateSolution(status="failed", error="no stars"))
    assert sky_store.cone_search(180.0, 0.0, 0.0) == []
    remaining, remaining_cells = index_rows(catalog_engine)
    assert "fp-wrap" not in {f[1] for f in remaining}
    assert wrap_id not in {fid for _, fid in remaining_cells}
    assert len(remaining) == len(FRAMES) - 1


@pytest.mark.parametrize(
    ("ra", "dec", "radius", "message"),
    [
        (0.0, 91.0, 1.0, "dec_deg"),
        (0.0, 0.0, -1.0, "radius_deg"),
        (float("nan"), 0.0, 1.0, "ra_deg"),
        (0.0, 0.0, float("inf"), "radius_deg"),
    ],
)
def test_bad_cones_are_refused(catalog_store, ra, dec, radius, message):
    with pytest.raises(ValueError, match=message):
        catalog_store.cone_search(ra, dec, radius)


def test_empty_catalog_finds_nothing(catalog_store):
    assert catalog_store.cone_search(10.0, 20.0, 180.0) == []


def test_matches_keep_their_ellipse_and_magnitude(catalog_store):
    key = add_image(catalog_store, "m31", "fp-m31")
    catalog_store.record_metadata(key, ImageMetadata(path=key, format="fits"), {}, None)
    match = CatalogMatch(
        catalog="NGC",
        designation="NGC 224",
        name="Andromeda Galaxy",
        object_type="G",
        ra_deg=10.68,
        dec_deg=41.27,
        x_px=500.0,
        y_px=300.0,
        major_axis_arcmin=177.8,
        messier=31,
        minor_axis_arcmin=69.7,
        position_angle_deg=35.0,
        magnitude=3.4,
    )
    catalog_store.replace_matches(key, [match])
    assert catalog_store.get_matches(key) == [match.to_dict()]


def test_migration_indexes_solutions_solved_before_it(catalog_engine):
    # A catalog at the revision before the sky index, with one solved and one failed solution.
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    corners = FRAMES["pole"]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        solutions = sa.table(
            "plate_solutions",
            *(sa.column(n) for n in ("fingerprint", "status", "corners")),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        )
        for fingerprint, status, text in (
            ("old-solved", "solved", json.dumps(corners.tolist())),
            ("old-failed", "failed", None),
        ):
            conn.execute(
                solutions.insert().values(
                    fingerprint=fingerprint,
                    status=status,
                    corners=text,
                    created_at=now,
                    updated_at=now,
                )
            )
    migrate(catalog_engine)
    footprints, cells = index_rows(catalog_engine)
    assert [f[1] for f in footprints] == ["old-solved"]
    np.testing.assert_array_equal(
        [c for c, _ in cells], footprint_cells(corners, SKY_INDEX_HEALPIX_ORDER)
    )
    store = CatalogStore(catalog_engine)
    add_image(store, "old", "old-solved")
    assert store.cone_search(0.0, 90.0, 0.0) == ["old.fits"]
