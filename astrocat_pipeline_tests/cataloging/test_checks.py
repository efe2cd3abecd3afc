"""The decisions of the per-file asset checks, without Dagster."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.wcs import WCS
from PIL import Image

from astrocat_pipeline.cataloging import checks
from astrocat_pipeline.cataloging.checks import Severity
from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.records import CatalogMatch, ImageMetadata, SolveHints
from astrocat_pipeline.core.wcs_geometry import field_geometry

WIDTH, HEIGHT = 640, 480


def geometry(ra_deg: float = 83.82, dec_deg: float = -5.39, scale_deg: float = 0.001):
    """A 640x480 field of 3.6"/px centred on (ra_deg, dec_deg)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(WIDTH + 1) / 2, (HEIGHT + 1) / 2]
    wcs.wcs.cdelt = [-scale_deg, scale_deg]
    return field_geometry(wcs, WIDTH, HEIGHT)


def hints(**values: float) -> SolveHints:
    base = {
        "scale_low_arcsec": 3.0,
        "scale_high_arcsec": 4.5,
        "ra_deg": 83.9,
        "dec_deg": -5.3,
        "radius_deg": 1.0,
    }
    return SolveHints(**{**base, **values})


def match(x_px: float, y_px: float, ra_deg: float, dec_deg: float, size: float | None = None):
    return CatalogMatch(
        catalog="NGC",
        designation="NGC 1976",
        name=None,
        object_type="Neb",
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        x_px=x_px,
        y_px=y_px,
        major_axis_arcmin=size,
    )


def light(**values: object) -> ImageMetadata:
    base: dict[str, object] = {
        "path": "/lib/m42.fits",
        "format": "fits",
        "frame_type": FrameType.LIGHT,
        "exposure_s": 30.0,
        "date_obs": datetime(2026, 12, 1, 22, tzinfo=UTC),
        "ra_deg": 83.82,
        "dec_deg": -5.39,
    }
    return ImageMetadata(**{**base, **values})  # type: ignore[arg-type]


# --- thumbnail -----------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0, 64, 255])
def test_one_level_is_blank_whatever_the_level(level):
    verdict = checks.pixels_verdict(np.full((60, 80), level, np.uint8))
    assert not verdict.passed
    assert verdict.severity is Severity.ERROR
    assert verdict.description.startswith("blank thumbnail")
    assert verdict.metadata["pixel_std_dn"] == 0.0


def test_a_dark_sky_with_its_noise_is_not_blank():
    rng = np.random.default_rng(3)
    sky = np.clip(rng.normal(20, 4, (60, 80)), 0, 255).astype(np.uint8)
    assert checks.pixels_verdict(sky).passed


def write_jpeg(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels).save(path, format="JPEG", quality=85)
    return str(path)


def test_a_thumbnail_file_is_read_from_the_cache(tmp_path):
    rng = np.random.default_rng(1)
    stars = np.clip(rng.normal(64, 6, (60, 80, 3)), 0, 255).astype(np.uint8)
    good = checks.thumbnail_verdict(write_jpeg(tmp_path / "good.jpg", stars))
    blank = checks.thumbnail_verdict(
        write_jpeg(tmp_path / "blank.jpg", np.zeros((60, 80, 3), np.uint8))
    )
    assert good.passed
    assert good.metadata["path"] == str(tmp_path / "good.jpg")
    assert not blank.passed
    assert "blank thumbnail" in blank.description


def test_a_missing_or_broken_thumbnail_fails(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    missing = checks.thumbnail_verdict(str(tmp_path / "gone.jpg"))
    unreadable = checks.thumbnail_verdict(str(broken))
    unrecorded = checks.thumbnail_verdict(None)
    assert not missing.passed
    assert "missing from the cache" in missing.description
    assert not unreadable.passed
    assert "unreadable" in unreadable.description
    assert not unrecorded.passed
    assert "no thumbnail recorded" in unrecorded.description


# --- metadata ------------------------------------------------------------------------------


def test_a_light_with_its_exposure_date_and_pointing_passes():
    verdict = checks.metadata_verdict(light())
    assert verdict.passed
    assert verdict.severity is Severity.WARN


def test_a_light_needs_a_pointing_or_an_object_name():
    named = checks.metadata_verdict(light(ra_deg=None, dec_deg=None, object="M 42"))
    lost = checks.metadata_verdict(light(ra_deg=None, dec_deg=None))
    half = checks.metadata_verdict(light(dec_deg=None))
    assert named.passed
    assert not lost.passed
    assert lost.severity is Severity.WARN
    assert lost.metadata["missing"] == ["pointing (RA/Dec) or object name"]
    assert not half.passed


def test_missing_fields_are_named():
    verdict = checks.metadata_verdict(light(exposure_s=None, date_obs=None))
    assert not verdict.passed
    assert verdict.metadata["missing"] == ["exposure_s", "date_obs"]
    assert verdict.description == "light frame without exposure_s, date_obs"


def test_calibration_frames_need_no_pointing_and_a_zero_exposure_counts():
    bias = light(frame_type=FrameType.BIAS, exposure_s=0.0, ra_deg=None, dec_deg=None)
    flat = light(frame_type=FrameType.FLAT, exposure_s=None, ra_deg=None, dec_deg=None)
    assert checks.metadata_verdict(bias).passed
    assert checks.metadata_verdict(flat).metadata["missing"] == ["exposure_s"]


def test_processed_images_and_master_biases_need_only_their_frame_type():
    for frame_type in (FrameType.PROCESSED, FrameType.MASTER_BIAS):
        bare = ImageMetadata(path="/lib/final.jpg", format="jpeg", frame_type=frame_type)
        assert checks.metadata_verdict(bare).passed, frame_type


def test_an_unknown_frame_type_is_reported():
    verdict = checks.metadata_verdict(light(frame_type=FrameType.UNKNOWN))
    assert not verdict.passed
    assert verdict.severity is Severity.WARN
    assert verdict.description.startswith("frame type unknown")


def test_every_frame_type_but_unknown_says_what_it_needs():
    assert set(checks._REQUIRED) == set(FrameType) - {FrameType.UNKNOWN}


# --- plate solution against its hints ------------------------------------------------------


def test_a_solution_within_its_hints_passes():
    verdict = checks.solution_verdict(geometry(), hints())
    assert verdict is not None
    assert verdict.passed
    assert verdict.metadata["pixel_scale_arcsec"] == pytest.approx(3.6, rel=1e-3)
    assert verdict.metadata["centre_offset_deg"] == pytest.approx(0.12, abs=0.01)


def test_a_scale_outside_the_hinted_range_is_a_possible_false_solution():
    verdict = checks.solution_verdict(geometry(scale_deg=0.002), hints())
    assert verdict is not None
    assert not verdict.passed
    assert verdict.severity is Severity.ERROR
    assert verdict.description.startswith('possible false solution: scale 7.2"/px outside')


def test_a_centre_beyond_the_hinted_radius_is_a_possible_false_solution():
    verdict = checks.solution_verdict(geometry(ra_deg=10.68, dec_deg=41.27), hints())
    assert verdict is not None
    assert not verdict.passed
    assert verdict.severity is Severity.ERROR
    assert "possible false solution: centre" in verdict.description
    assert "beyond its 1° radius" in verdict.description


def test_both_disagreements_are_named():
    verdict = checks.solution_verdict(geometry(10.68, 41.27, 0.002), hints())
    assert verdict is not None
    assert "scale" in verdict.description
    assert "centre" in verdict.description


def test_the_hinted_position_is_compared_across_ra_zero():
    verdict = checks.solution_verdict(
        geometry(ra_deg=359.8, dec_deg=10.0), hints(ra_deg=0.2, dec_deg=10.0)
    )
    assert verdict is not None
    assert verdict.passed
    assert verdict.metadata["centre_offset_deg"] == pytest.approx(0.394, abs=0.001)


def test_only_the_hints_there_are_are_compared():
    scale_only = SolveHints(scale_low_arcsec=3.0, scale_high_arcsec=4.5)
    far_position = hints(scale_low_arcsec=None, scale_high_arcsec=None, ra_deg=10.0)
    far_scale_ok = checks.solution_verdict(geometry(10.68, 41.27), scale_only)
    assert far_scale_ok is not None
    assert far_scale_ok.passed
    position_only = checks.solution_verdict(geometry(scale_deg=0.01), far_position)
    assert position_only is not None
    assert "scale" not in position_only.description


def test_nothing_to_compare_is_not_evaluated():
    assert checks.solution_verdict(None, hints()) is None  # not solved
    assert checks.solution_verdict(geometry(), None) is None
    assert checks.solution_verdict(geometry(), SolveHints()) is None
    # Unusable hints (a radius of 0, a scale range upside down) are no hints.
    bad = SolveHints(scale_low_arcsec=5.0, scale_high_arcsec=3.0, ra_deg=0, dec_deg=0)
    assert checks.solution_verdict(geometry(), bad) is None


# --- matches inside the field --------------------------------------------------------------


def test_matches_inside_the_frame_pass():
    field = geometry()
    matches = [match(320, 240, 83.82, -5.39), match(0, 0, 0, 0)]
    # The second one's sky position: where pixel (0, 0) is.
    corner = field.corners_deg[0]
    matches[1] = dataclasses.replace(matches[1], ra_deg=corner[0], dec_deg=corner[1])
    verdict = checks.matches_verdict(matches, WIDTH, HEIGHT, field)
    assert verdict.passed
    assert verdict.metadata == {"match_count": 2, "outside": 0}


def test_an_object_straddling_the_edge_passes_by_its_extent():
    field = geometry()
    # 60 px (0.06°) beyond the right edge, 10' across: its ellipse reaches 83 px in.
    ra_beyond = 83.82 - (320 + 60) * 0.001 / np.cos(np.radians(5.39))
    verdict = checks.matches_verdict(
        [match(WIDTH + 60, 240, ra_beyond, -5.39, size=10.0)], WIDTH, HEIGHT, field
    )
    assert verdict.passed, verdict.description
    point = checks.matches_verdict([match(WIDTH + 60, 240, ra_beyond, -5.39)], WIDTH, HEIGHT, field)
    assert not point.passed


def test_a_match_of_another_field_fails():
    verdict = checks.matches_verdict(
        [match(320, 240, 83.82, -5.39), match(5000, -900, 10.68, 41.27)], WIDTH, HEIGHT, geometry()
    )
    assert not verdict.passed
    assert verdict.severity is Severity.ERROR
    assert verdict.description.startswith("1 of 2 matches outside the field: NGC 1976 (x 5000")


def test_a_match_whose_sky_position_is_off_the_footprint_fails():
    # Pixel position inside, sky position a degree away: from an earlier solution.
    verdict = checks.matches_verdict([match(320, 240, 84.82, -5.39)], WIDTH, HEIGHT, geometry())
    assert not verdict.passed
    assert "outside the footprint" in verdict.description


def test_no_matches_pass():
    verdict = checks.matches_verdict([], WIDTH, HEIGHT, geometry())
    assert verdict.passed
    assert verdict.metadata["match_count"] == 0


def test_an_unknown_check_is_refused(catalog_store):
    with pytest.raises(ValueError, match="unknown check 'sharpness'"):
        checks.check_file(catalog_store, None, "none/such.fits", ["sharpness"])


def test_a_file_not_in_the_catalog_has_no_verdicts(catalog_store):
    assert (
        checks.check_file(catalog_store, None, "none/such.fits", [checks.METADATA_COMPLETE]) == {}
    )
