"""A library mixing every format (synthetic files and the real samples) goes through the
pipeline: every file is indexed or carries a clear error naming it; sources are untouched."""

from pathlib import Path

import dagster as dg
import numpy as np

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library
from astrocat_pipeline_tests.image_files import (
    camera_exif,
    star_field,
    write_dng,
    write_fits,
    write_pillow,
    write_tiff,
    write_xisf,
)
from astrocat_pipeline_tests.samples import SAMPLES, needs_samples


def _synthetic_library(root: Path) -> dict[str, str]:
    """Files of every format; returns name -> expected frame type."""
    field = star_field((120, 160))
    mono16 = field.astype(np.uint16)
    rgb8 = np.stack([np.clip(field / 80, 0, 255).astype(np.uint8)] * 3, axis=-1)
    write_fits(root / "lights" / "M31 L 0001.fits", mono16, {"IMAGETYP": "LIGHT"})
    write_fits(root / "lights" / "M31_gz.fits.gz", mono16, {"IMAGETYP": "LIGHT"})
    write_fits(root / "lights" / "M31_tile.fz", mono16, {"IMAGETYP": "LIGHT"}, compressed=True)
    write_xisf(root / "lights" / "M31.xisf", mono16, {"IMAGETYP": "Light Frame"}, codec="zlib")
    write_tiff(root / "stacks" / "M31_stack.tif", field.astype(np.float32) / 65535)
    write_pillow(root / "processed" / "M31 final.jpg", rgb8, camera_exif())
    write_pillow(root / "processed" / "M31 final.png", rgb8)
    write_dng(root / "dslr" / "LIGHT" / "IMG_0001.dng", field.astype(np.uint16))
    return {
        "M31 L 0001.fits": "light",
        "M31_gz.fits.gz": "light",
        "M31_tile.fz": "light",
        "M31.xisf": "light",
        "M31_stack.tif": "unknown",
        "M31 final.jpg": "processed",
        "M31 final.png": "processed",
        "IMG_0001.dng": "light",
    }


@needs_samples
def test_mixed_library_every_file_indexed_or_explained(tmp_path, astrocat_env, monkeypatch):
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    root = tmp_path / "library"
    expected_types = _synthetic_library(root)
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", f"{root}:{SAMPLES}")
    settings = Settings.from_env()
    sample_files = sorted(p for p in SAMPLES.rglob("*") if p.is_file() and image_format(p))
    sources_before = {p: p.stat().st_mtime_ns for p in [*root.rglob("*"), *sample_files]}

    with dg.instance_for_test() as instance:
        summary = index_library(settings, instance)
        # One run; it ends FAILURE because the cut raw stubs fail (their partitions show
        # failed); every other file is done.
        assert summary.runs == summary.failed_runs == 1

    with open_catalog(settings.database_url) as store:
        rows = {Path(r.image.path).name: r.to_dict() for r in store.search(None)}
    assert len(rows) == len(expected_types) + len(sample_files)
    for name, row in rows.items():
        if row["status"] == "error":
            assert row["error"].startswith(row["path"] + ": "), row["error"]
        else:
            assert row["status"] == "indexed", name
            assert row["thumbnail_path"], name
    for name, frame_type in expected_types.items():
        assert rows[name]["status"] == "indexed", rows[name]["error"]
        assert rows[name]["frame_type"] == frame_type, name
        assert rows[name]["width"] == 160, name
    # Real files that decode are indexed; cut raw files keep their EXIF and say why no picture.
    for name in (
        "M13_blue_0001.fits",
        "M13_blue_0001_derived.xisf",
        "Blackmagic.dng",
        "HorseHead_float32.tif",
        "XISF.xisf",
        "m31_3deg.fits.gz",
        "multi.fits",
    ):
        assert rows[name]["status"] == "indexed", rows[name]["error"]
    nef = rows["Nikon.nef"]
    assert nef["status"] == "error"
    assert "LibRaw cannot decode" in nef["error"]
    assert nef["camera"] == "NIKON D70"
    assert {p: p.stat().st_mtime_ns for p in sources_before} == sources_before
