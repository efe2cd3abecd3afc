"""The sky index of the catalog database: footprints, cells and cone searches, on SQLite and on
PostgreSQL (the ``catalog_url`` fixture)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from astrocat_pipeline.adapters.catalog import CatalogStore, create_catalog_engine, migrate
from astrocat_pipeline.adapters.catalog.engine import MIGRATIONS_DIR
from astrocat_pipeline.adapters.catalog.schema import sky_footprints
from astrocat_pipeline.adapters.catalog.sky_index import _PG_SEARCH_SETTINGS, _pg_candidates_sql
from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    InventoryEntry,
    PlateSolution,
)
from astrocat_pipeline.core.sky_index import footprint_records, quads_overlap_cone
from astrocat_pipeline.core.tuning import SKY_INDEX_CLASS_RADIUS_DEG
from astrocat_pipeline_tests.core.test_sky_index import frame_corners, random_frames


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


def index_rows(engine: sa.Engine) -> dict[str, tuple]:
    """The sky index, partition key -> (fingerprint, healpix_uniq, x, y, z, cos_radius,
    sin_radius, geometry as bytes); checks that each row's image_id is its image's."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sky_footprints)).mappings().all()
        ids = dict(conn.execute(sa.text("SELECT partition_key, id FROM images")).all())
    for row in rows:
        assert row["image_id"] == ids[row["partition_key"]]
    return {
        row["partition_key"]: (
            row["fingerprint"],
            row["healpix_uniq"],
            row["x"],
            row["y"],
            row["z"],
            row["cos_radius"],
            row["sin_radius"],
            bytes(row["geometry"]),
        )
        for row in rows
    }


def expected_row(fingerprint: str, corners: np.ndarray) -> tuple:
    """What the index should hold for an image of content ``fingerprint`` solved as
    ``corners`` (the values of :func:`index_rows`)."""
    rec = footprint_records(corners[None], SKY_INDEX_CLASS_RADIUS_DEG)
    x, y, z = rec.centres[0].tolist()
    return (
        fingerprint,
        int(rec.keys[0]),
        x,
        y,
        z,
        float(rec.cos_radius[0]),
        float(rec.sin_radius[0]),
        rec.blobs()[0],
    )


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


def test_save_solution_indexes_replaces_and_removes_footprints(sky_store, catalog_engine):
    rows = index_rows(catalog_engine)
    assert rows == {f"{n}.fits": expected_row(f"fp-{n}", c) for n, c in FRAMES.items()}

    # Saving the same solution again leaves the same rows.
    sky_store.save_solution("fp-wrap", solved(FRAMES["wrap"]))
    assert index_rows(catalog_engine) == rows

    # A new solution for the same content moves its footprint, for each image of that content.
    copy = add_image(sky_store, "wrap-copy", "fp-wrap")
    moved_corners = frame_corners(180.0, 0.0, 1.0, 1.0)
    sky_store.save_solution("fp-wrap", solved(moved_corners))
    assert sky_store.cone_search(359.5, 30.0, 0.1) == []
    assert sky_store.cone_search(180.0, 0.0, 0.0) == [copy, "wrap.fits"]
    moved = index_rows(catalog_engine)
    assert set(moved) == {*rows, copy}
    assert moved["wrap.fits"] == moved[copy] == expected_row("fp-wrap", moved_corners)

    # Any outcome but "solved" takes the footprint out of the index.
    sky_store.save_solution("fp-wrap", PlateSolution(status="failed", error="no stars"))
    assert sky_store.cone_search(180.0, 0.0, 0.0) == []
    assert set(index_rows(catalog_engine)) == set(rows) - {"wrap.fits"}


def test_an_image_whose_content_changed_leaves_and_rejoins_the_index(sky_store, catalog_engine):
    # The file changed: its new content has no solution, so it is not found where the old
    # content was; the old solution stays, for any file that has that content.
    sky_store.record_file("wrap.fits", fingerprint="fp-new", size_bytes=2, mtime_ns=2)
    assert sky_store.cone_search(359.5, 30.0, 0.1) == []
    assert "wrap.fits" not in index_rows(catalog_engine)
    # Changed back (an undone edit): found again at once, from the stored solution.
    sky_store.record_file("wrap.fits", fingerprint="fp-wrap", size_bytes=1, mtime_ns=3)
    assert sky_store.cone_search(359.5, 30.0, 0.1) == ["wrap.fits"]
    # Its new content solved later: found there.
    sky_store.record_file("wrap.fits", fingerprint="fp-new", size_bytes=2, mtime_ns=4)
    sky_store.save_solution("fp-new", solved(frame_corners(180.0, 0.0, 1.0, 1.0)))
    assert sky_store.cone_search(180.0, 0.0, 0.0) == ["wrap.fits"]
    assert sky_store.cone_search(359.5, 30.0, 0.1) == []


def test_a_moved_file_is_found_and_a_deleted_one_is_not(sky_store, catalog_engine):
    moved = add_image(sky_store, "moved/south", "fp-south")  # same content, new place
    sky_store.delete_images(["south.fits"])
    assert sky_store.cone_search(250.0, -60.0, 0.0) == [moved]
    sky_store.delete_images([moved])
    assert sky_store.cone_search(250.0, -60.0, 0.0) == []
    assert set(index_rows(catalog_engine)) == {"wrap.fits", "pole.fits", "thin.fits"}


def test_index_image_footprint_writes_the_row_from_the_solution(sky_store, catalog_engine):
    before = index_rows(catalog_engine)
    with catalog_engine.begin() as conn:
        conn.execute(sa.delete(sky_footprints))
    sky_store.index_image_footprint("pole.fits")
    sky_store.index_image_footprint("pole.fits")  # idempotent
    assert index_rows(catalog_engine) == {"pole.fits": before["pole.fits"]}
    unsolved = add_image(sky_store, "unsolved", "fp-unsolved")
    sky_store.save_solution("fp-unsolved", PlateSolution(status="failed", error="no stars"))
    sky_store.index_image_footprint(unsolved)
    assert set(index_rows(catalog_engine)) == {"pole.fits"}


def test_wide_and_tiny_frames_are_found_with_the_others(catalog_store):
    # Size classes from a 40" frame to a 90° x 60° wide-angle one, all around one point.
    frames = {
        "tiny": frame_corners(83.8, -5.4, 0.011, 0.008),
        "scope": frame_corners(83.6, -5.2, 1.2, 0.8, rotation_deg=10.0),
        "lens": frame_corners(85.0, 0.0, 30.0, 20.0),
        "wide": frame_corners(75.0, 10.0, 90.0, 60.0, rotation_deg=20.0),
        "elsewhere": frame_corners(263.0, -40.0, 2.0, 2.0),
    }
    for name, corners in frames.items():
        add_image(catalog_store, name, f"fp-{name}")
        catalog_store.save_solution(f"fp-{name}", solved(corners))
    found = catalog_store.cone_search(83.8, -5.4, 0.001)
    assert set(found) == {"tiny.fits", "scope.fits", "lens.fits", "wide.fits"}
    assert found[0] == "tiny.fits"  # nearest centre first
    # 28° from its centre, only the wide-angle frame reaches (its corners are 40°+ away).
    assert catalog_store.cone_search(60.0, 35.0, 1.0) == ["wide.fits"]
    brute = [
        name for name, corners in frames.items() if quads_overlap_cone(corners, 100.0, -20.0, 12.0)
    ]
    assert sorted(catalog_store.cone_search(100.0, -20.0, 12.0)) == sorted(
        f"{name}.fits" for name in brute
    )


def test_cone_search_agrees_with_brute_force(catalog_store):
    rng = np.random.default_rng(23)
    frames = np.concatenate([random_frames(rng, 80, max_deg=6.0), random_frames(rng, 10, 20, 80)])
    for i, corners in enumerate(frames):
        add_image(catalog_store, f"f{i:03d}", f"fp{i:03d}")
        catalog_store.save_solution(f"fp{i:03d}", solved(corners))
    for j in range(60):
        ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        if j % 6 == 0:
            ra, dec = float(rng.choice([0.0, 359.9])), float(rng.choice([90.0, -89.9, 45.0]))
        radius = float(rng.choice([0.0, 0.5, 2.0, 5.0, 30.0, 100.0]))
        truth = np.flatnonzero(quads_overlap_cone(frames, ra, dec, radius))
        expected = {f"f{i:03d}.fits" for i in truth.tolist()}
        assert set(catalog_store.cone_search(ra, dec, radius)) == expected, (ra, dec, radius)


def test_a_size_class_new_since_the_last_search_is_found_at_once(catalog_engine, catalog_store):
    # PostgreSQL searches the size classes seen last time and checks them in the same
    # statement: footprints of a new size written by another process (another store) must be
    # found by the very next search, and keys of any characters must come back whole.
    writer = CatalogStore(catalog_engine)
    names = {
        "scope": frame_corners(83.6, -5.2, 1.2, 0.8),
        "tiny, Ω {1}\"'": frame_corners(83.8, -5.4, 0.011, 0.008),
        "lens/wide field": frame_corners(85.0, 0.0, 30.0, 20.0),
    }
    found = []
    for name, corners in names.items():
        add_image(writer, name, f"fp-{name}")
        writer.save_solution(f"fp-{name}", solved(corners))
        found = catalog_store.cone_search(83.8, -5.4, 0.001)
        assert found[-1] == f"{name}.fits" or name == "tiny, Ω {1}\"'", found
    assert found == ["tiny, Ω {1}\"'.fits", "scope.fits", "lens/wide field.fits"]
    writer.delete_images(["lens/wide field.fits"])  # a class that empties is harmless
    assert catalog_store.cone_search(83.8, -5.4, 0.001) == ["tiny, Ω {1}\"'.fits", "scope.fits"]


def test_keys_holding_a_newline_come_back_whole(catalog_store):
    # PostgreSQL joins the candidates' keys with a newline, which no inventory key holds; a key
    # that holds one anyway makes it read them as an array.
    for name in ("plain", "two\nlines", "three\nshort\nlines"):
        add_image(catalog_store, name, f"fp-{name}")
        catalog_store.save_solution(f"fp-{name}", solved(frame_corners(83.6, -5.2, 1.2, 0.8)))
    found = catalog_store.cone_search(83.6, -5.2, 0.5)
    assert found == ["plain.fits", "three\nshort\nlines.fits", "two\nlines.fits"]
    catalog_store.delete_images(["two\nlines.fits", "three\nshort\nlines.fits"])
    assert catalog_store.cone_search(83.6, -5.2, 0.5) == ["plain.fits"]


@pytest.mark.postgres
def test_postgres_cone_search_scans_the_index_per_range(postgres_database_url):
    # The prepared statement runs with a generic plan, which cannot know the ranges' widths:
    # without enable_seqscan = off it read the whole table (150 ms on a million footprints).
    engine = create_catalog_engine(postgres_database_url)
    try:
        migrate(engine)
        store = CatalogStore(engine)
        add_image(store, "scope", "fp-scope")
        store.save_solution("fp-scope", solved(frame_corners(83.6, -5.2, 1.2, 0.8)))
        assert store.cone_search(83.6, -5.2, 2.0) == ["scope.fits"]
        with engine.connect() as conn:  # one transaction: the settings hold until its end
            conn.exec_driver_sql(_PG_SEARCH_SETTINGS)
            # The store's statement, prepared under a name of its own.
            conn.exec_driver_sql(
                f"PREPARE plan_check AS {_pg_candidates_sql(True, True, numbered=True)}"
            )
            plan = "\n".join(
                row[0]
                for row in conn.exec_driver_sql(
                    "EXPLAIN EXECUTE plan_check ('{4096}', '{8192}', 1, 0, 0, 1, 0, 0)"
                )
            )
    finally:
        engine.dispose()
    assert "Seq Scan" not in plan, plan
    assert "Nested Loop" in plan, plan
    assert "using pk_sky_footprints on sky_footprints" in plan, plan


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
    assert catalog_store.get_matches(key) == [match]


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _insert_solutions(conn: sa.Connection, solutions: list[tuple[str, str, str | None]]) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    table = sa.table(
        "plate_solutions",
        *(sa.column(n) for n in ("fingerprint", "status", "corners")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    for fingerprint, status, text in solutions:
        conn.execute(
            table.insert().values(
                fingerprint=fingerprint,
                status=status,
                corners=text,
                created_at=now,
                updated_at=now,
            )
        )


def _insert_images(conn: sa.Connection, images: list[tuple[str, str]]) -> None:
    """Image rows (partition key, fingerprint) as the pipeline writes them, at any revision."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    columns = ("partition_key", "root", "rel_path", "path", "size_bytes", "mtime_ns", "format")
    table = sa.table(
        "images",
        *(sa.column(n) for n in (*columns, "fingerprint", "status")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    for key, fingerprint in images:
        conn.execute(
            table.insert().values(
                partition_key=key,
                root="/library",
                rel_path=key,
                path=f"/library/{key}",
                size_bytes=1,
                mtime_ns=1,
                format="fits",
                fingerprint=fingerprint,
                status="indexed",
                created_at=now,
                updated_at=now,
            )
        )


def test_migration_indexes_solutions_solved_before_the_sky_index(catalog_engine):
    # A catalog at the revision before the sky index: two images of one solved content, one of
    # a failed one, and a solved content no image has any more.
    config = _config()
    corners = FRAMES["pole"]
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        _insert_solutions(
            conn,
            [
                ("old-solved", "solved", json.dumps(corners.tolist())),
                ("old-failed", "failed", None),
                ("orphan", "solved", json.dumps(FRAMES["south"].tolist())),
            ],
        )
        _insert_images(
            conn,
            [("old.fits", "old-solved"), ("copy.fits", "old-solved"), ("bad.fits", "old-failed")],
        )
    migrate(catalog_engine)
    row = expected_row("old-solved", corners)
    assert index_rows(catalog_engine) == {"old.fits": row, "copy.fits": row}
    store = CatalogStore(catalog_engine)
    assert store.cone_search(0.0, 90.0, 0.0) == ["copy.fits", "old.fits"]
    add_image(store, "orphan-back", "orphan")  # its content reappears: found at once
    assert store.cone_search(250.0, -60.0, 0.0) == ["orphan-back.fits"]


def test_migration_from_the_cell_index_rebuilds_it_from_the_solutions(catalog_engine):
    # A catalog at 0003 (one row per footprint and cell) with footprints indexed there.
    config = _config()
    solutions = {name: corners for name, corners in FRAMES.items() if name != "thin"}
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        _insert_solutions(
            conn,
            [(f"fp-{n}", "solved", json.dumps(c.tolist())) for n, c in solutions.items()]
            + [("fp-thin", "failed", None)],
        )
        old_footprints = sa.table(
            "sky_footprints",
            sa.column("id"),
            sa.column("fingerprint"),
            *(sa.column(f"{a}{i}_deg") for i in range(1, 5) for a in ("ra", "dec")),
        )
        old_cells = sa.table("sky_cells", sa.column("cell"), sa.column("footprint_id"))
        for number, (name, corners) in enumerate(solutions.items(), start=1):
            flat = corners.reshape(8).tolist()
            conn.execute(
                old_footprints.insert().values(
                    id=number,
                    fingerprint=f"fp-{name}",
                    **{
                        f"{a}{i}_deg": flat[(i - 1) * 2 + (a == "dec")]
                        for i in range(1, 5)
                        for a in ("ra", "dec")
                    },
                )
            )
            conn.execute(old_cells.insert().values(cell=number * 10, footprint_id=number))
        _insert_images(conn, [(f"{name}.fits", f"fp-{name}") for name in FRAMES])
    migrate(catalog_engine)
    with catalog_engine.connect() as conn:
        assert "sky_cells" not in sa.inspect(conn).get_table_names()
    assert index_rows(catalog_engine) == {
        f"{name}.fits": expected_row(f"fp-{name}", corners) for name, corners in solutions.items()
    }
    store = CatalogStore(catalog_engine)
    assert store.cone_search(359.5, 30.0, 0.1) == ["wrap.fits"]
    assert store.cone_search(0.0, 90.0, 0.0) == ["pole.fits"]
    assert store.cone_search(102.4, 0.0, 0.05) == []  # its solution failed

    # Down to 0003 and up again: the same index, rebuilt from the solutions.
    rows = index_rows(catalog_engine)
    with catalog_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    migrate(catalog_engine)
    assert index_rows(catalog_engine) == rows
