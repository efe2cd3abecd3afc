"""What is not a star never reaches the star list: hot pixels, columns, cosmic rays, trails;
and one-shot-colour mosaics are found on superpixels. On realistic frames (demo/realistic.py).

Each rejection is judged against the frame's own PSF (``core/star_detect.py``); each test here
fails when its rule is switched off (``test_each_rule_is_needed``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import astrocat_pipeline.core.star_detect as star_detect
from astrocat_pipeline.core.star_detect import DetectedStars, detect_stars, remove_line_artifacts
from astrocat_pipeline.demo.realistic import (
    CatalogSky,
    FrameSpec,
    RealisticFrame,
    condition_spec,
    render_frame,
)

BASE = FrameSpec(ra_deg=83.8, dec_deg=-5.4, width_deg=2.2, width_px=900, height_px=600, seed=3)
TOP = 200  # what the solver is given


@pytest.fixture(scope="module")
def sky() -> CatalogSky:
    return CatalogSky(None)


def _near(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray, r: float) -> np.ndarray:
    """For each (x, y): whether one of (px, py) is within r."""
    if len(px) == 0:
        return np.zeros(len(x), dtype=bool)
    d2 = (x[:, None] - px[None, :]) ** 2 + (y[:, None] - py[None, :]) ** 2
    return d2.min(axis=1) <= r * r


def _stars(frame: RealisticFrame) -> DetectedStars:
    cfa = frame.spec.bayer_pattern is not None
    return remove_line_artifacts(detect_stars(frame.data, cfa=cfa)).head(TOP)


def _not_stars(frame: RealisticFrame, stars: DetectedStars) -> int:
    """Detections that are not within 2 px of any rendered star."""
    radius = max(2.0, 1.5 * frame.fwhm_px)
    return int(np.count_nonzero(~_near(stars.x_px, stars.y_px, frame.star_x, frame.star_y, radius)))


def _completeness(frame: RealisticFrame, stars: DetectedStars, count: int = 50) -> float:
    bright = frame.brightest(count)
    radius = max(2.0, 1.5 * frame.fwhm_px)
    found = _near(frame.star_x[bright], frame.star_y[bright], stars.x_px, stars.y_px, radius)
    return float(found.mean())


def _cosmic_rays(sky: CatalogSky) -> RealisticFrame:
    return render_frame(dataclasses.replace(BASE, cosmic_rays=300), sky)


def _hot_column(sky: CatalogSky) -> RealisticFrame:
    return render_frame(dataclasses.replace(BASE, hot_column=True), sky)


def _trail(sky: CatalogSky) -> RealisticFrame:
    return render_frame(condition_spec(BASE, "satellite_trail"), sky)


def _hot_pixels(sky: CatalogSky) -> RealisticFrame:
    return render_frame(dataclasses.replace(BASE, hot_pixels=1500), sky)


def test_cosmic_rays_are_not_stars(sky):
    frame = _cosmic_rays(sky)
    stars = _stars(frame)
    hits = _near(stars.x_px, stars.y_px, frame.cosmic_ray_xy[:, 0], frame.cosmic_ray_xy[:, 1], 4)
    assert _not_stars(frame, stars) <= 2
    assert (
        np.count_nonzero(hits & ~_near(stars.x_px, stars.y_px, frame.star_x, frame.star_y, 2)) <= 2
    )
    assert _completeness(frame, stars) >= 0.9


def test_cosmic_rays_are_flattened_before_the_one_extraction(sky, monkeypatch):
    # The bright stars' PSF (the probe, STAR_PSF_PROBE_SIGMA) tells the rays' sharp pixels
    # before the extraction: the frame is extracted once at the detection threshold, where it
    # was extracted twice (the PSF from a first extraction, the rays flattened, once more),
    # and the list is as clean and as complete.
    frame = _cosmic_rays(sky)
    thresholds: list[float] = []
    extract = star_detect._extract

    def counted(residual: np.ndarray, detect_sigma: float, rms: float) -> np.ndarray:
        thresholds.append(detect_sigma)
        return extract(residual, detect_sigma, rms)

    monkeypatch.setattr(star_detect, "_extract", counted)
    stars = _stars(frame)
    assert thresholds == [star_detect.STAR_PSF_PROBE_SIGMA, star_detect.STAR_SEP_DETECT_SIGMA]
    monkeypatch.setattr(star_detect, "STAR_PSF_PROBE_SIGMA", 0.0)
    thresholds.clear()
    without_probe = _stars(frame)
    assert thresholds == [star_detect.STAR_SEP_DETECT_SIGMA] * 2
    for found in (stars, without_probe):
        assert _not_stars(frame, found) <= 2
        assert _completeness(frame, found) >= 0.9
    # The same stars, but for a few where the two PSF estimates differ.
    same = _near(stars.x_px, stars.y_px, without_probe.x_px, without_probe.y_px, 0.5)
    assert same.mean() >= 0.95


def test_hot_pixels_are_not_stars(sky):
    frame = _hot_pixels(sky)
    stars = _stars(frame)
    assert _not_stars(frame, stars) <= 2
    assert _completeness(frame, stars) >= 0.9


def test_a_hot_column_is_not_stars(sky):
    frame = _hot_column(sky)
    stars = _stars(frame)
    on_column = np.abs(stars.x_px - frame.hot_column_x) < 1.5
    assert (
        np.count_nonzero(on_column & ~_near(stars.x_px, stars.y_px, frame.star_x, frame.star_y, 2))
        == 0
    )


def test_a_satellite_trail_is_not_stars(sky):
    frame = _trail(sky)
    stars = _stars(frame)
    assert _not_stars(frame, stars) <= 2
    assert _completeness(frame, stars) >= 0.9


def test_trailed_and_defocused_stars_are_still_stars(sky):
    # The shape rules compare with the frame's own PSF: elongated or donut-shaped frames keep
    # their stars.
    for condition in ("trailed_stars", "defocused"):
        frame = render_frame(condition_spec(BASE, condition), sky)
        stars = _stars(frame)
        assert _completeness(frame, stars) >= 0.85, condition
        assert len(stars) >= 100, condition


@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
def test_bayer_frames_are_detected_on_superpixels(sky, pattern):
    frame = render_frame(
        dataclasses.replace(BASE, bayer_pattern=pattern, filter_name="OSC", seed=4), sky
    )
    stars = _stars(frame)
    assert _completeness(frame, stars) >= 0.9
    assert _not_stars(frame, stars) <= 2


RULES = {
    # rule switched off -> the frame it guards and what then goes wrong
    "STAR_MIN_SPREAD_FRACTION": (0.0, _cosmic_rays),
    "STAR_MAX_ELONGATION_FACTOR": (1e9, _trail),
    "STAR_MAX_PEAK_FRACTION": (1.01, _hot_pixels),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_is_needed(sky, monkeypatch, rule):
    """Without the rule, its artefacts do reach the first 200 detections (a trail is a few
    long objects, among the brightest: 3 of them already cost a solve)."""
    value, make = RULES[rule]
    frame = make(sky)
    assert _not_stars(frame, _stars(frame)) == 0
    monkeypatch.setattr(star_detect, rule, value)
    assert _not_stars(frame, _stars(frame)) >= 3
