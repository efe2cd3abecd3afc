"""The realistic frame generator: each condition produces what it claims, deterministically."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from astrocat_pipeline.core.debayer import bayer_pattern_from_keywords
from astrocat_pipeline.core.hints import solve_hints
from astrocat_pipeline.core.loading import load_image, read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.demo.realistic import (
    CatalogSky,
    FrameSpec,
    condition_spec,
    cumulative_count_per_deg2,
    night_sequence,
    render_frame,
    write_fits,
)

# Orion: Hipparcos stars bright and faint, nebulosity-free at 3° x 2° around this point.
BASE = FrameSpec(ra_deg=83.8, dec_deg=-5.4, width_deg=3.0, width_px=600, height_px=400, seed=5)


@pytest.fixture(scope="module")
def sky() -> CatalogSky:
    return CatalogSky(None)  # Hipparcos alone: the same on every machine


@pytest.fixture(scope="module")
def clear(sky):
    return render_frame(BASE, sky)


def _sep_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    a = np.radians([ra1, dec1, ra2, dec2])
    c = math.sin(a[1]) * math.sin(a[3]) + math.cos(a[1]) * math.cos(a[3]) * math.cos(a[0] - a[2])
    return math.degrees(math.acos(min(1.0, c)))


def test_same_spec_same_pixels(sky, clear):
    again = render_frame(BASE, sky)
    assert np.array_equal(again.data, clear.data)
    other = render_frame(dataclasses.replace(BASE, seed=6), sky)
    assert not np.array_equal(other.data, clear.data)


def test_stars_follow_the_luminosity_function_and_not_the_catalogue_order(clear):
    inside = clear.brightest(len(clear.star_x))
    mags = clear.star_v_mag[inside]
    # Counts per magnitude rise about ×2-3 (×3 to V = 12, ×2.2 beyond) down to the limit.
    limit = clear.header["LIMITMAG"]
    bright = np.count_nonzero((mags > limit - 3) & (mags <= limit - 2))
    faint = np.count_nonzero((mags > limit - 1) & (mags <= limit))
    assert 3.0 < faint / bright < 20.0
    assert cumulative_count_per_deg2(7.0) / cumulative_count_per_deg2(6.0) == pytest.approx(3.0)
    # The frame's brightness order is not V's (colour terms and scatter).
    first = inside[:50]
    assert not np.array_equal(np.argsort(clear.star_v_mag[first], kind="stable"), np.arange(50))


def test_header_is_what_nina_writes_and_gives_hints_near_the_truth(tmp_path, clear):
    path = write_fits(clear, tmp_path / "light.fits")
    header = read_header(path)
    metadata = normalize_metadata(str(path), header)
    assert metadata.frame_type == "light"
    assert metadata.exposure_s == BASE.exposure_s
    assert metadata.filter == "L"
    hints = solve_hints(metadata)
    # The header's pointing is off by the pointing error (2' rms), and its scale is right.
    assert hints.ra_deg is not None
    assert hints.dec_deg is not None
    assert _sep_deg(hints.ra_deg, hints.dec_deg, BASE.ra_deg, BASE.dec_deg) < 10 / 60
    assert hints.scale_low_arcsec < BASE.pixel_scale_arcsec < hints.scale_high_arcsec
    data, _ = load_image(path)
    assert np.array_equal(data, clear.data)
    # The true WCS puts the rendered stars where they are: the brightest star's pixel is hot.
    star = clear.brightest(1)[0]
    x, y = round(float(clear.star_x[star])), round(float(clear.star_y[star]))
    assert clear.data[y, x] > np.median(clear.data) + 1000


def test_hint_offset_moves_the_header_pointing(tmp_path, sky):
    frame = render_frame(dataclasses.replace(BASE, hint_offset_deg=(0.0, 10.0)), sky)
    hints = solve_hints(
        normalize_metadata("x.fits", read_header(write_fits(frame, tmp_path / "f.fits")))
    )
    assert _sep_deg(hints.ra_deg, hints.dec_deg, BASE.ra_deg, BASE.dec_deg) == pytest.approx(
        10.0, abs=0.01
    )
    assert hints.dec_deg == pytest.approx(BASE.dec_deg + 10.0, abs=0.01)


def test_sensor_defects_are_where_the_truth_says(sky, clear):
    frame = render_frame(condition_spec(BASE, "sensor_defects"), sky)
    sky_level = np.median(clear.data)
    hot = frame.hot_pixel_xy
    assert len(hot) == 400
    assert np.median(frame.data[hot[:, 1], hot[:, 0]]) > sky_level + 1500
    column = frame.hot_column_x
    assert column is not None
    assert np.median(frame.data[-50:, column]) > np.median(frame.data[-50:, column - 3]) + 500
    cr = frame.cosmic_ray_xy
    assert np.median(frame.data[cr[:, 1], cr[:, 0]]) > sky_level + 800


def test_a_satellite_trail_crosses_the_frame(sky, clear):
    frame = render_frame(condition_spec(BASE, "satellite_trail"), sky)
    assert len(frame.trails) == 2
    x0, y0, x1, y1 = frame.trails[0]
    along = np.linspace(0.05, 0.95, 40)
    xs = np.rint(x0 + (x1 - x0) * along).astype(int)
    ys = np.rint(y0 + (y1 - y0) * along).astype(int)
    assert np.median(frame.data[ys, xs]) > np.median(clear.data) + 5 * BASE.sky_adu


def test_vignetting_darkens_the_corners_and_cloud_dims_the_stars(sky, clear):
    frame = render_frame(dataclasses.replace(BASE, vignetting=0.5), sky)
    centre = np.median(frame.data[180:220, 280:320].astype(float)) - 500
    corner = np.median(frame.data[:20, :20].astype(float)) - 500
    assert corner < 0.7 * centre
    cloudy = render_frame(condition_spec(BASE, "partial_cloud"), sky)
    assert 0.5 < np.mean(cloudy.visible) < 0.9 < np.mean(clear.visible)


def test_foreground_hides_the_bottom_of_the_picture(sky, clear):
    frame = render_frame(condition_spec(BASE, "foreground"), sky)
    top = frame.foreground_top
    assert top is not None
    assert top.min() < BASE.height_px
    rows = np.arange(BASE.height_px)[:, None]
    below = rows >= top[None, :]
    assert 0.15 < below.mean() < 0.5
    # Dark silhouette: below the sky, and no star shows there.
    assert np.median(frame.data[below]) < np.median(frame.data[~below]) - 0.5 * BASE.sky_adu
    hidden = ~frame.visible & (frame.star_y > top[np.clip(frame.star_x.astype(int), 0, 599)])
    assert hidden.sum() > 0


def test_defocus_makes_donuts(sky):
    frame = render_frame(condition_spec(BASE, "defocused"), sky)
    star = frame.brightest(5)[-1]  # bright, not saturated at its ring
    x, y = round(float(frame.star_x[star])), round(float(frame.star_y[star]))
    ring = frame.data[y, x + 4 : x + 6].astype(float).mean()
    assert frame.data[y, x] < ring  # the obstruction's shadow in the middle


def test_elongation_stretches_stars_along_its_angle(sky):
    frame = render_frame(dataclasses.replace(BASE, elongation=3.0, elongation_angle_deg=0.0), sky)
    star = frame.brightest(8)[-1]
    x, y = round(float(frame.star_x[star])), round(float(frame.star_y[star]))
    patch = frame.data[y - 6 : y + 7, x - 6 : x + 7].astype(float) - np.median(frame.data)
    along_x = patch[6, [2, 10]].mean()
    along_y = patch[[2, 10], 6].mean()
    assert along_x > 3 * max(along_y, 1.0)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
@pytest.mark.parametrize("offset", [(0, 0), (1, 1), (1, 0)])
def test_bayer_header_describes_the_mosaic(tmp_path, sky, pattern, offset):
    spec = dataclasses.replace(BASE, bayer_pattern=pattern, bayer_offset=offset, filter_name="OSC")
    frame = render_frame(spec, sky)
    path = write_fits(frame, tmp_path / "osc.fits")
    header = read_header(path)
    assert header.bayer_pattern is not None
    assert bayer_pattern_from_keywords(header.keywords, BASE.height_px) == pattern
    assert header.keywords["XBAYROFF"] == offset[0]
    # The mosaic shows it: red and blue pixels of red stars differ (colour per channel).
    cells = {c: [] for c in "RGB"}
    for i, colour in enumerate(pattern):
        cells[colour].append(frame.data[i // 2 :: 2, i % 2 :: 2].astype(float).sum())
    assert cells["R"][0] != cells["B"][0]


def test_binning_doubles_the_pixel_the_header_gives(tmp_path, sky):
    frame = render_frame(condition_spec(BASE, "binned_2x2"), sky)
    path = write_fits(frame, tmp_path / "bin2.fits")
    metadata = normalize_metadata(str(path), read_header(path))
    assert metadata.binning == 2
    assert metadata.pixel_size_um == pytest.approx(2 * BASE.pixel_size_um)
    hints = solve_hints(metadata)
    assert hints.scale_low_arcsec < BASE.pixel_scale_arcsec < hints.scale_high_arcsec


def test_short_exposures_show_fewer_stars(sky, clear):
    short = render_frame(condition_spec(BASE, "short_exposure"), sky)
    assert short.header["LIMITMAG"] < clear.header["LIMITMAG"] - 2
    assert len(short.star_x) < 0.3 * len(clear.star_x)


def test_a_night_dithers_and_flips(sky):
    specs = night_sequence(BASE, 6, dither_arcmin=1.0, flip_after=3)
    offsets = [_sep_deg(s.ra_deg, s.dec_deg, BASE.ra_deg, BASE.dec_deg) * 60 for s in specs]
    assert all(0 < o <= 1.5 for o in offsets)
    assert [s.pier_side for s in specs] == ["West"] * 3 + ["East"] * 3
    assert [s.rotation_deg for s in specs] == [0.0] * 3 + [180.0] * 3
    flipped = render_frame(specs[4], sky)
    # The flip turns the picture: +x points the other way on the sky.
    cd = flipped.wcs.wcs.cd
    assert cd[0, 0] * render_frame(specs[0], sky).wcs.wcs.cd[0, 0] < 0
