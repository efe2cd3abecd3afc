"""The independent check of a plate solution (core/solution_check.py): true WCSs of realistic
frames and of the real-sky samples are confirmed, wrong ones rejected (also one right in a
corner only), and a field with too few reference stars is left undecided."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.adapters.reference_stars import HipparcosStars
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.solution_check import (
    CONFIRMED,
    REJECTED,
    UNDECIDED,
    check_solution,
)
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.demo.realistic import CatalogSky, FrameSpec, render_frame
from astrocat_pipeline_tests.samples import needs_samples, sample

WIDE = FrameSpec(
    ra_deg=83.8, dec_deg=-5.4, width_deg=20.0, width_px=1500, height_px=1000, seed=5,
    rotation_deg=30.0, gradient=0.4, vignetting=0.3,
)  # fmt: skip


@pytest.fixture(scope="module")
def hipparcos() -> HipparcosStars:
    return HipparcosStars()


@pytest.fixture(scope="module")
def sky() -> CatalogSky:
    return CatalogSky(None)  # Hipparcos and the faint population: no index files needed


def _check(wcs: WCS, size: tuple[int, int], stars: DetectedStars, hipparcos: HipparcosStars):
    centre = wcs.pixel_to_world_values((size[0] - 1) / 2, (size[1] - 1) / 2)
    ra, dec, mag = hipparcos.around(float(centre[0]), float(centre[1]), 30.0)
    return check_solution(wcs, size[0], size[1], stars, ra, dec, mag)


def _shifted(wcs: WCS, dx_px: float, scale: float) -> WCS:
    """``wcs`` moved by ``dx_px`` along x and scaled: the engine's 40° false solution of the
    corpus was 15 px and 2 % off."""
    wrong = copy.deepcopy(wcs)
    wrong.wcs.crpix = wrong.wcs.crpix + np.array([dx_px, 0.0])
    wrong.wcs.cd = wrong.wcs.cd * scale
    wrong.wcs.set()
    return wrong


@pytest.fixture(scope="module")
def wide(sky):
    frame = render_frame(WIDE, sky)
    return frame, frame_stars(frame.data)


def test_a_true_wcs_is_confirmed(wide, hipparcos):
    frame, stars = wide
    verdict = _check(frame.wcs, (1500, 1000), stars, hipparcos)
    assert verdict.verdict == CONFIRMED, verdict.reason
    whole = verdict.regions[0]
    assert whole.found >= 0.8 * whole.tested
    assert whole.chance < 0.15 * whole.tested


def test_a_wcs_15_px_and_2_percent_off_is_rejected_and_the_reason_says_how(wide, hipparcos):
    frame, stars = wide
    verdict = _check(_shifted(frame.wcs, 15.0, 1.02), (1500, 1000), stars, hipparcos)
    assert verdict.verdict == REJECTED
    assert verdict.reason.startswith("the solution's stars do not match the frame: ")
    assert "Hipparcos stars found" in verdict.reason
    assert "expected by chance" in verdict.reason


def test_a_wcs_right_in_one_corner_only_is_rejected_by_its_quarters(wide, hipparcos):
    """Scaled 1.5 % about the top-left corner: that corner stays right (most of its quarter's
    stars still match), the far corner is 27 px off."""
    frame, stars = wide
    wrong = copy.deepcopy(frame.wcs)
    # Pixel (0, 0) (FITS 1, 1) keeps its sky position while the scale changes.
    scale, corner = 1.015, np.array([1.0, 1.0])
    wrong.wcs.crpix = corner - (corner - frame.wcs.wcs.crpix) / scale
    wrong.wcs.cd = frame.wcs.wcs.cd * scale
    wrong.wcs.set()
    assert np.allclose(wrong.pixel_to_world_values(0, 0), frame.wcs.pixel_to_world_values(0, 0))
    verdict = _check(wrong, (1500, 1000), stars, hipparcos)
    assert verdict.verdict == REJECTED, verdict.reason
    top_left = verdict.regions[1]
    assert top_left.name == "the quarter x 0-750, y 0-500 px"
    assert top_left.log10_evidence > 0  # the corner itself still matches
    assert "quarter" in verdict.reason or "whole frame" in verdict.reason


def test_foreground_over_a_third_of_the_frame_does_not_reject_the_true_wcs(sky, hipparcos):
    spec = dataclasses.replace(WIDE, foreground=0.35, cloud=0.3, seed=6)
    frame = render_frame(spec, sky)
    verdict = _check(frame.wcs, (1500, 1000), frame_stars(frame.data), hipparcos)
    assert verdict.verdict == CONFIRMED, verdict.reason


def test_a_narrow_deep_field_with_a_few_hipparcos_stars_is_undecided_either_way(sky, hipparcos):
    """0.5°: one or two Hipparcos stars; the check cannot tell and says so."""
    spec = dataclasses.replace(WIDE, width_deg=0.5, ra_deg=200.0, dec_deg=60.0, seed=3)
    frame = render_frame(spec, sky)
    stars = frame_stars(frame.data)
    for wcs in (frame.wcs, _shifted(frame.wcs, 40.0, 1.05)):
        verdict = _check(wcs, (1500, 1000), stars, hipparcos)
        assert verdict.verdict == UNDECIDED
        assert "Hipparcos star" in verdict.reason


def test_no_detections_is_undecided(wide, hipparcos):
    frame, _ = wide
    empty = DetectedStars(np.zeros(0), np.zeros(0), np.zeros(0))
    assert _check(frame.wcs, (1500, 1000), empty, hipparcos).verdict == UNDECIDED


@needs_samples
def test_real_sky_sample_true_wcs_confirmed_and_a_wrong_one_rejected(hipparcos):
    """m31_3deg is drawn from the Tycho-2 index stars alone (not from Hipparcos): only the
    Hipparcos stars the index files kept are in it."""
    data, _ = load_image(sample("synthetic/m31_3deg.fits.gz"))
    truth = json.loads(sample("synthetic/m31_3deg.truth.json").read_text())
    header = fits.Header()
    for key, value in truth["wcs"].items():
        header[key] = value
    wcs = WCS(header)
    stars = frame_stars(data)
    size = (data.shape[1], data.shape[0])
    assert _check(wcs, size, stars, hipparcos).verdict == CONFIRMED
    rotated = copy.deepcopy(wcs)
    angle = np.radians(4.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated.wcs.pc = rotation @ wcs.wcs.pc
    rotated.wcs.set()
    assert _check(rotated, size, stars, hipparcos).verdict == REJECTED
