"""The demo library through all five assets, in-process, with the real solve-field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from PIL import Image

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.adapters.openngc import load_openngc
from astrocat_pipeline.adapters.star_index import list_index_stars
from astrocat_pipeline.core.inventory import partition_key
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.demo.library import DEMO_FIELDS, write_demo_library
from astrocat_pipeline.settings import DEFAULT_INDEX_DIR, Settings
from astrocat_pipeline_tests.defs.conftest import index_library, needs_solver

pytestmark = [pytest.mark.solver, needs_solver]


def tree_snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()}


@pytest.fixture(scope="module")
def indexed_demo(tmp_path_factory):
    """The demo library, indexed once through Dagster; shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("demo")
    root = tmp / "demo-library"
    write_demo_library(root, lambda ra, dec, r: list_index_stars(ra, dec, r, DEFAULT_INDEX_DIR))
    before = tree_snapshot(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASTROCAT_HOME", str(tmp / "home"))
        mp.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
        mp.delenv("ASTROCAT_DATABASE_URL", raising=False)
        mp.delenv("THUMBNAIL_CACHE_PATH", raising=False)
        mp.delenv("ASTROCAT_SOLVER", raising=False)
        settings = Settings.from_env()
        with dg.instance_for_test() as instance:
            summary = index_library(settings, instance)
            with open_catalog(settings.database_url) as store:
                yield {
                    "root": root,
                    "before": before,
                    "summary": summary,
                    "store": store,
                    "instance": instance,
                    "settings": settings,
                }


def test_every_file_went_through_in_batched_runs(indexed_demo):
    summary = indexed_demo["summary"]
    assert summary.files == len(DEMO_FIELDS)
    assert summary.failed_runs == 0
    assert summary.runs == 1  # about ten files: one batch
    instance = indexed_demo["instance"]
    keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    assert len(keys) == len(DEMO_FIELDS)
    for asset in (
        "image_file",
        "image_metadata",
        "image_thumbnail",
        "plate_solution",
        "catalog_matches",
    ):
        materialized = instance.get_materialized_partitions(dg.AssetKey(asset))
        assert materialized == set(keys), asset


def test_light_frames_are_solved_within_an_arcminute_and_show_their_target(indexed_demo):
    store, root = indexed_demo["store"], indexed_demo["root"]
    catalog = load_openngc()
    lights = [f for f in DEMO_FIELDS if f.frame_type == "light"]
    assert len(lights) >= 7
    for field in lights:
        key = partition_key(str(root), field.rel_path)
        (image,) = [r.to_dict() for r in store.search(None) if r.partition_key == key]
        solution = image["plate_solution"]
        assert solution["status"] == "solved", (field.rel_path, solution)
        assert solution["solver"] == "local"
        error = SkyCoord(solution["ra_deg"], solution["dec_deg"], unit="deg").separation(
            SkyCoord(field.ra_deg, field.dec_deg, unit="deg")
        )
        assert error.arcmin < 1.0, field.rel_path
        target = catalog.resolve(field.object_name)
        assert target is not None, field.object_name
        designations = {m["designation"] for m in image["matches"]}
        assert target.designation in designations, (field.rel_path, designations)


def test_m31_field_shows_its_companions(indexed_demo):
    store = indexed_demo["store"]
    m31 = [r.to_dict() for r in store.search({"M 31", "NGC 224"})]
    assert len(m31) >= 2
    for image in m31:
        designations = {m["designation"] for m in image["matches"]}
        assert {"NGC 224", "NGC 221", "NGC 205"} <= designations  # M31, M32, M110
        first = image["matches"][0]
        assert first["messier"] is not None  # Messier objects first
        assert 0 <= first["x_px"] < image["width"]
        assert 0 <= first["y_px"] < image["height"]


def test_calibration_frames_are_indexed_but_not_solved(indexed_demo):
    store = indexed_demo["store"]
    images = [r.to_dict() for r in store.search(None)]
    calibration = [r for r in images if r["frame_type"] in ("dark", "flat", "bias")]
    assert {r["frame_type"] for r in calibration} == {"dark", "flat", "bias"}
    for image in calibration:
        assert image["plate_solution"]["status"] == "skipped"
        assert image["matches"] == []


def test_metadata_and_thumbnails_are_in_the_catalog(indexed_demo):
    store = indexed_demo["store"]
    for image in (r.to_dict() for r in store.search(None)):
        assert image["status"] == "indexed"
        assert image["camera"]
        assert image["exposure_s"]
        assert image["date_obs"]
        thumb = Path(image["thumbnail_path"])
        assert thumb.name.endswith("_thumb.jpg")
        with Image.open(thumb) as picture:
            assert max(picture.size) <= 800
            level = np.asarray(picture.convert("L"), dtype=float).mean()
        assert 20 < level < 235, (image["path"], level)  # neither black nor white


def test_source_files_are_untouched(indexed_demo):
    assert tree_snapshot(indexed_demo["root"]) == indexed_demo["before"]


def test_reindexing_is_idempotent_and_reuses_solutions(indexed_demo):
    store, settings, instance = (
        indexed_demo["store"],
        indexed_demo["settings"],
        indexed_demo["instance"],
    )
    before = store.search(None)
    summary = index_library(settings, instance)
    after = store.search(None)
    assert summary.new_partitions == 0
    assert summary.failed_runs == 0

    def stable(results):
        return [
            (
                result.to_dict(),
                {
                    k: v
                    for k, v in vars(result.image).items()
                    if k not in ("updated_at", "created_at")
                },
            )
            for result in results
        ]

    assert stable(after) == stable(before)
    assert tree_snapshot(indexed_demo["root"]) == indexed_demo["before"]
