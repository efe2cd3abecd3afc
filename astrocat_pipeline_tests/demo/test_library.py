"""The demo library: fields, formats, headers, star positions, calibration frames,
determinism.

No solver here: stars come from a seeded stand-in for the index star query, and positions are
checked against ``true_wcs``, in the written files as the project's loader reads them.
``adapters/test_demo_solves.py`` solves the real thing.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.hints import pixel_scale_arcsec
from astrocat_pipeline.core.loading import load_image, read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.demo.library import (
    DEMO_FIELDS,
    DemoField,
    StarList,
    render_frame,
    true_wcs,
    write_demo_library,
)

LIGHTS = [f for f in DEMO_FIELDS if f.frame_type == "light"]
SKY = [f for f in DEMO_FIELDS if f.shows_sky]  # lights and processed pictures
CALIBRATION = [f for f in DEMO_FIELDS if not f.shows_sky]
FITS_FIELDS = [f for f in DEMO_FIELDS if f.file_format == "fits"]
OTHER_FORMATS = [f for f in DEMO_FIELDS if f.file_format != "fits"]
# The FITS frames the library has always had; tests elsewhere rely on these paths.
ORIGINAL_FITS_PATHS = (
    "M31/LIGHT/M31_L_300s_0001.fits",
    "M31/LIGHT/M31_Ha_300s_0001.fits",
    "M45/LIGHT/M45_L_120s_0001.fits",
    "M42/LIGHT/M42_L_60s_0001.fits",
    "M13/LIGHT/M13_L_180s_0001.fits",
    "M81/LIGHT/M81_L_300s_0001.fits",
    "M33/LIGHT/M33_L_300s_0001.fits",
    "NGC7789/LIGHT/NGC7789_L_180s_0001.fits",
    "calibration/DARK/dark_300s_0001.fits",
    "calibration/FLAT/flat_L_2.50s_0001.fits",
    "calibration/BIAS/bias_0001.fits",
)
WCS_KEYWORDS = ("CTYPE", "CRVAL", "CRPIX", "CD1_", "CD2_", "PC1_", "PC2_", "CDELT", "WCSAXES")


def _field(rel_path_part: str) -> DemoField:
    (field,) = [f for f in DEMO_FIELDS if rel_path_part in f.rel_path]
    return field


def _random_stars(ra_deg: float, dec_deg: float, radius_deg: float) -> StarList:
    """Stand-in for the index star query: ~10 stars/deg², V 4-10.5, seeded by the position."""
    rng = np.random.default_rng(round(ra_deg * 1000) * 1000 + round(dec_deg * 1000) + 10**9)
    area = 2 * math.pi * (1 - math.cos(math.radians(radius_deg))) * (180 / math.pi) ** 2
    n = round(10 * area)
    sep = np.degrees(np.arccos(rng.uniform(math.cos(math.radians(radius_deg)), 1.0, n)))
    pa = np.radians(rng.uniform(0, 360, n))
    centre = SkyCoord(ra_deg, dec_deg, unit="deg")
    points = centre.directional_offset_by(pa * u.rad, sep * u.deg)
    return points.ra.deg, points.dec.deg, rng.uniform(4.0, 10.5, n)


def _one_star_at(field: DemoField, x_px: float, y_px: float, mag: float) -> StarList:
    ra, dec = true_wcs(field).all_pix2world([x_px], [y_px], 0)
    return np.asarray(ra), np.asarray(dec), np.array([mag])


def _centroid(
    data: np.ndarray, x_px: float, y_px: float, half: int = 4, *, search: bool = True
) -> tuple[float, float]:
    """Background-subtracted centroid in a box around the brightest pixel near (x, y), or
    around (x, y) itself when not ``search``."""
    xi, yi = round(x_px), round(y_px)
    box = data[yi - 6 : yi + 7, xi - 6 : xi + 7].astype(float)
    dy, dx = np.unravel_index(np.argmax(box), box.shape)
    yc, xc = (yi - 6 + int(dy), xi - 6 + int(dx)) if search else (yi, xi)
    stamp = data[yc - half : yc + half + 1, xc - half : xc + half + 1].astype(float)
    ring = data[yc - 12 : yc + 13, xc - 12 : xc + 13].astype(float)
    stamp = np.clip(stamp - np.median(ring), 0, None)
    ys, xs = np.mgrid[yc - half : yc + half + 1, xc - half : xc + half + 1]
    return float((xs * stamp).sum() / stamp.sum()), float((ys * stamp).sum() / stamp.sum())


def _parse_hms(text: str) -> float:
    h, m, s = (float(v) for v in text.split())
    return 15 * (h + m / 60 + s / 3600)


def _parse_dms(text: str) -> float:
    d, m, s = (float(v) for v in text.split())
    sign = -1 if text.strip().startswith("-") else 1
    return sign * (abs(d) + m / 60 + s / 3600)


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "library"
    write_demo_library(out, _random_stars)
    return out


# --- The fields ---------------------------------------------------------------------------


def test_library_holds_the_promised_targets_and_calibration_frames():
    objects = {f.object_name for f in LIGHTS}
    assert {"M31", "M45", "M42", "M13", "M81", "M33", "NGC 7789", "M27", "M8"} <= objects
    assert [f.rel_path for f in FITS_FIELDS] == list(ORIGINAL_FITS_PATHS)
    assert sorted(f.filter_name for f in LIGHTS if f.object_name == "M31") == ["Ha", "L"]
    assert sorted(f.frame_type for f in CALIBRATION) == ["bias", "dark", "flat"]
    assert len({f.rel_path for f in DEMO_FIELDS}) == len(DEMO_FIELDS)
    assert len({f.seed for f in DEMO_FIELDS}) == len(DEMO_FIELDS)
    assert _field("M31_L").rel_path == "M31/LIGHT/M31_L_300s_0001.fits"
    assert _field("dark").rel_path.startswith("calibration/DARK/")


def test_library_holds_several_formats():
    formats = {f.rel_path: (f.file_format, f.frame_type) for f in OTHER_FORMATS}
    assert sorted(formats.values()) == [
        ("jpeg", "processed"),
        ("raw", "light"),
        ("tiff", "processed"),
        ("xisf", "light"),
    ]
    assert all(f.shows_sky for f in OTHER_FORMATS)
    assert [f.bottom_up for f in DEMO_FIELDS] == [f.file_format == "fits" for f in DEMO_FIELDS]


@pytest.mark.parametrize("field", SKY, ids=lambda f: f.rel_path)
def test_light_fields_are_about_3_by_2_degrees_at_the_header_scale(field: DemoField):
    wcs = true_wcs(field)
    scale_arcsec = math.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
    assert scale_arcsec == pytest.approx(
        206.265 * field.pixel_size_um / field.focal_length_mm, rel=1e-4
    )
    assert scale_arcsec == pytest.approx(field.pixel_scale_arcsec, rel=1e-9)
    width_deg = field.width_px * scale_arcsec / 3600
    height_deg = field.height_px * scale_arcsec / 3600
    assert 2.8 < width_deg < 3.4
    assert 1.9 < height_deg < 2.3
    # The image centre (0-based) is the true centre.
    ra, dec = wcs.all_pix2world([(field.width_px - 1) / 2], [(field.height_px - 1) / 2], 0)
    assert (
        SkyCoord(ra[0], dec[0], unit="deg")
        .separation(SkyCoord(*field.centre_deg, unit="deg"))
        .arcsec
        < 0.01
    )


@pytest.mark.parametrize("field", SKY, ids=lambda f: f.rel_path)
def test_rotation_and_parity_follow_the_documented_convention(field: DemoField):
    wcs = true_wcs(field)
    cx, cy = (field.width_px - 1) / 2, (field.height_px - 1) / 2
    # The picture's "up": +y in FITS (row 0 at the bottom), -y in the top-down formats.
    up = 20 if field.bottom_up else -20
    (ra0, ra_up), (dec0, dec_up) = wcs.all_pix2world([cx, cx], [cy, cy + up], 0)
    up_pa = SkyCoord(ra0, dec0, unit="deg").position_angle(SkyCoord(ra_up, dec_up, unit="deg"))
    assert (up_pa.deg - field.rotation_deg + 180) % 360 - 180 == pytest.approx(0, abs=0.05)
    # Normal parity (east left of north) has a negative determinant in FITS pixel axes (y up);
    # in the array of a top-down file, whose y runs down, the sign is the other way round.
    mirrored_in_array = field.flipped != (not field.bottom_up)
    assert np.sign(np.linalg.det(wcs.pixel_scale_matrix)) == (1 if mirrored_in_array else -1)


def test_fields_vary_in_rotation_and_include_a_mirror_image():
    assert len({round(f.rotation_deg) % 360 for f in SKY}) >= 8
    assert any(f.flipped for f in LIGHTS)
    assert not all(f.flipped for f in LIGHTS)


def _inside(field: DemoField, ra_deg: float, dec_deg: float, margin_px: float = 20) -> bool:
    x, y = true_wcs(field).all_world2pix([ra_deg], [dec_deg], 0)
    return bool(
        margin_px <= x[0] <= field.width_px - 1 - margin_px
        and margin_px <= y[0] <= field.height_px - 1 - margin_px
    )


@pytest.mark.parametrize("path_part", ["M31_L", "M31_Ha"])
def test_m31_frames_show_m32_and_m110(path_part: str):
    field = _field(path_part)
    assert _inside(field, 10.6847, 41.2690)  # M31
    assert _inside(field, 10.6743, 40.8652)  # M32
    assert _inside(field, 10.0920, 41.6853)  # M110


@pytest.mark.parametrize(
    ("path_part", "ra_deg", "dec_deg"),
    [
        ("M45_", 56.75, 24.12),
        ("M42_", 83.82, -5.39),
        ("M13_", 250.42, 36.46),
        ("M81_", 148.888, 69.065),
        ("M81_", 148.970, 69.680),  # M82
        ("M33_", 23.462, 30.660),
        ("NGC7789_", 359.33, 56.73),
        ("M27_", 299.902, 22.721),
        ("IMG_0417", 270.922, -24.380),  # M8
        ("IMG_0417", 270.675, -22.972),  # M20
        ("IMG_0417", 271.056, -22.490),  # M21
        ("NGC869_", 34.744, 57.117),
        ("NGC869_", 35.634, 57.144),  # NGC 884
        ("NGC7000_", 314.821, 44.529),
        ("NGC7000_", 312.753, 44.402),  # IC 5070
    ],
)
def test_each_target_is_in_its_frame(path_part: str, ra_deg: float, dec_deg: float):
    assert _inside(_field(path_part), ra_deg, dec_deg)


def test_ngc7789_frame_crosses_ra_zero():
    field = _field("NGC7789_")
    corners = true_wcs(field).calc_footprint(center=False)
    ras = corners[:, 0]
    assert ras.min() >= 0
    assert ras.max() < 360
    assert (ras > 350).any()
    assert (ras < 10).any()


def test_calibration_frames_have_no_wcs():
    with pytest.raises(ConfigError, match="dark"):
        true_wcs(_field("dark"))


# --- Headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", FITS_FIELDS, ids=lambda f: f.rel_path)
def test_header_looks_like_nina_and_carries_no_wcs(field: DemoField, demo_library: Path):
    header = fits.getheader(demo_library / field.rel_path)
    assert header["IMAGETYP"] == field.frame_type.upper()
    assert header["EXPTIME"] == field.exposure_s
    assert header["INSTRUME"] == "ZWO ASI2600MM Pro"
    assert header["XBINNING"] == header["YBINNING"] == 2
    assert header["XPIXSZ"] == header["YPIXSZ"] == pytest.approx(7.52)
    assert header["FOCALLEN"] == pytest.approx(135.0)
    assert header["CCD-TEMP"] == pytest.approx(header["SET-TEMP"], abs=0.5)
    date_obs = datetime.fromisoformat(header["DATE-OBS"])
    date_loc = datetime.fromisoformat(header["DATE-LOC"])
    assert 0 < (date_loc - date_obs).total_seconds() / 3600 <= 2
    assert header["BITPIX"] == 16
    assert header["BZERO"] == 32768
    assert "ROWORDER" not in header
    assert not any(key.startswith(WCS_KEYWORDS) for key in header)
    # fix=False: the fix-ups only derive MJD-OBS from DATE-OBS (and warn about it).
    assert not WCS(header, fix=False).has_celestial


@pytest.mark.parametrize(
    "field", [f for f in LIGHTS if f.file_format in ("fits", "xisf")], ids=lambda f: f.rel_path
)
def test_header_pointing_is_a_few_arcminutes_off(field: DemoField, demo_library: Path):
    header = read_header(demo_library / field.rel_path).keywords
    true_centre = SkyCoord(*field.centre_deg, unit="deg")
    pointed = SkyCoord(header["RA"], header["DEC"], unit="deg")
    assert 2.0 <= pointed.separation(true_centre).arcmin <= 8.0
    typed = SkyCoord(_parse_hms(header["OBJCTRA"]), _parse_dms(header["OBJCTDEC"]), unit="deg")
    assert typed.separation(pointed).arcsec < 2.0
    assert header["OBJECT"] == field.object_name
    assert header["FILTER"] == field.filter_name


def test_xisf_light_has_ninas_keywords_and_pixinsights_properties(demo_library: Path):
    field = _field(".xisf")
    header = read_header(demo_library / field.rel_path)
    assert not header.bottom_up
    assert (header.width, header.height, header.bit_depth) == (1000, 667, 16)
    keywords = header.keywords
    assert keywords["IMAGETYP"] == "LIGHT"
    assert keywords["INSTRUME"] == keywords["Instrument:Camera:Name"] == "ZWO ASI2600MM Pro"
    assert keywords["Instrument:Telescope:FocalLength"] == pytest.approx(0.135)  # metres
    assert keywords["Instrument:Sensor:XPixelSize"] == pytest.approx(7.52)
    assert keywords["Instrument:ExposureTime"] == pytest.approx(300.0)
    assert keywords["Observation:Object:Name"] == "M27"
    assert keywords["Observation:Object:RA"] == pytest.approx(keywords["RA"])
    assert not any(key.startswith(WCS_KEYWORDS) for key in keywords)
    assert header.fits_header is None  # nothing WCS-like to parse


@pytest.mark.parametrize("field", OTHER_FORMATS, ids=lambda f: f.rel_path)
def test_other_formats_give_the_pipeline_camera_date_and_scale(
    field: DemoField, demo_library: Path
):
    path = demo_library / field.rel_path
    metadata = normalize_metadata(str(path), read_header(path))
    assert metadata.format == field.file_format
    assert (metadata.width, metadata.height) == (field.width_px, field.height_px)
    # A 16-bit TIFF says nothing about being processed (only 8-bit pictures are taken as
    # finished ones), so "unknown" is all the pipeline can know; it still gets solved.
    allowed = {"tiff": {"processed", "unknown"}}.get(field.file_format, {field.frame_type})
    assert metadata.frame_type in allowed
    assert metadata.camera == field.camera
    assert metadata.telescope == field.telescope
    total_s = field.exposure_s * (field.stacked_frames if field.file_format == "tiff" else 1)
    assert metadata.exposure_s == pytest.approx(total_s)
    # EXIF gives the camera's local time and its UTC offset: the UTC time comes back.
    assert metadata.date_obs is not None
    true_date = datetime.fromisoformat(field.date_obs + "+00:00")
    assert abs((metadata.date_obs - true_date).total_seconds()) < 1.0
    # Focal length and pixel size (XPIXSZ, or EXIF's focal-plane resolution) give the scale.
    scale = pixel_scale_arcsec(metadata.focal_length_mm, metadata.pixel_size_um)
    assert scale == pytest.approx(field.pixel_scale_arcsec, rel=1e-3)
    assert metadata.channels == (3 if field.file_format in ("raw", "jpeg") else 1)
    if field.file_format == "raw":
        assert metadata.iso == 1600
        assert metadata.bayer_pattern == "RGGB"
        assert metadata.bit_depth == 14
    assert not metadata.has_wcs


def test_calibration_headers_have_no_pointing(demo_library: Path):
    for field in CALIBRATION:
        header = fits.getheader(demo_library / field.rel_path)
        for key in ("RA", "DEC", "OBJCTRA", "OBJCTDEC", "OBJECT"):
            assert key not in header, (field.rel_path, key)
    assert fits.getheader(demo_library / _field("flat").rel_path)["FILTER"] == "L"


# --- Pixels --------------------------------------------------------------------------------


EXPECTED_ARRAYS = {
    "fits": (np.uint16, 2),
    "xisf": (np.uint16, 2),
    "raw": (np.uint16, 2),  # the CFA mosaic as stored
    "tiff": (np.uint16, 2),
    "jpeg": (np.uint8, 3),
}


@pytest.mark.parametrize("field", SKY, ids=lambda f: f.rel_path)
def test_a_star_lands_where_the_true_wcs_puts_it(field: DemoField):
    # Off-centre, so a wrong rotation, parity or axis order would move it far away.
    x_px, y_px = 0.27 * field.width_px + 0.3, 0.71 * field.height_px - 0.4
    data, _ = render_frame(field, _one_star_at(field, x_px, y_px, mag=8.5))
    dtype, ndim = EXPECTED_ARRAYS[field.file_format]
    assert data.dtype == dtype
    assert data.ndim == ndim
    assert data.shape[:2] == (field.height_px, field.width_px)
    mono = data.astype(float).sum(axis=2) if data.ndim == 3 else data
    xc, yc = _centroid(mono, x_px, y_px)
    assert math.hypot(xc - x_px, yc - y_px) < 0.3


def _isolated_stars(field: DemoField, count: int = 3) -> list[tuple[float, float]]:
    """Pixel positions (0-based, in the loader's array) of bright-ish, well separated stars of
    the demo_library fixture's star list, away from the edges."""
    ra, dec, mag = _random_stars(*field.centre_deg, field.radius_deg + 0.1)
    x, y = true_wcs(field).all_world2pix(ra, dec, 0)
    inside = (x > 30) & (x < field.width_px - 31) & (y > 30) & (y < field.height_px - 31)
    picked: list[tuple[float, float]] = []
    for i in np.argsort(mag):
        if not inside[i] or mag[i] < 6.5:
            continue  # saturated stars of the raw frames have flat tops
        near = np.hypot(x - x[i], y - y[i]) < 15
        if near.sum() == 1:
            picked.append((float(x[i]), float(y[i])))
        if len(picked) == count:
            break
    return picked


@pytest.mark.parametrize("field", SKY, ids=lambda f: f.rel_path)
def test_the_written_file_shows_its_stars_where_the_true_wcs_puts_them(
    field: DemoField, demo_library: Path
):
    # Through the project's loader: a wrong row order for the format would mirror the stars
    # (hundreds of pixels away); demosaicing or JPEG compression must not move them either.
    data, header = load_image(demo_library / field.rel_path)
    assert header.bottom_up == field.bottom_up
    mono = data.astype(float).sum(axis=2) if data.ndim == 3 else data.astype(float)
    stars = _isolated_stars(field)
    assert len(stars) == 3
    for x_px, y_px in stars:
        xc, yc = _centroid(mono, x_px, y_px)
        # Stretched stars have broad flat (saturated) tops: centre the stamp on the star.
        xc, yc = _centroid(mono, xc, yc, half=6, search=False)
        ring = mono[round(yc) - 15 : round(yc) + 16, round(xc) - 15 : round(xc) + 16]
        noise = 1.4826 * np.median(np.abs(ring - np.median(ring)))
        assert mono[round(yc), round(xc)] - np.median(ring) > 10 * noise  # a star, not noise
        assert math.hypot(xc - x_px, yc - y_px) < 0.5, (x_px, y_px, xc, yc)


def test_brighter_stars_give_more_signal_and_saturate_without_wrapping():
    field = _field("M31_L")
    stars = _one_star_at(field, 400, 300, mag=8.0)
    faint = _one_star_at(field, 400, 300, mag=9.0)
    bright = _one_star_at(field, 400, 300, mag=3.0)
    sums = []
    for star_list in (stars, faint):
        data, _ = render_frame(field, star_list)
        around = data[280:321, 380:421].astype(float)
        ring = np.ones(around.shape, dtype=bool)
        ring[10:31, 10:31] = False
        box = around[10:31, 10:31]
        sums.append(box.sum() - np.median(around[ring]) * box.size)
    assert sums[0] / sums[1] == pytest.approx(10**0.4, rel=0.1)
    data, _ = render_frame(field, bright)
    assert data[300, 400] == 65535
    assert data.min() > 0


def test_colour_picture_shows_red_nebulae_white_stars_and_a_dark_background(
    demo_library: Path,
):
    field = _field("NGC7000_")
    data, _ = load_image(demo_library / field.rel_path)
    wcs = true_wcs(field)
    x, y = wcs.all_world2pix([314.8214, 312.7530], [44.5288, 44.4015], 0)  # NGC 7000, IC 5070
    for xi, yi in zip(x, y, strict=True):
        patch = data[round(yi) - 5 : round(yi) + 6, round(xi) - 5 : round(xi) + 6]
        red, green, blue = np.median(patch.reshape(-1, 3).astype(float), axis=0)
        assert red > 1.3 * green
        assert red > 1.3 * blue
    corner = np.median(data[:80, -80:].reshape(-1, 3).astype(float), axis=0)
    assert (corner > 15).all()  # a processed picture's black point, not clipped to black
    assert (corner < 50).all()
    assert np.ptp(corner) < 8  # a neutral background


def test_raw_frame_is_a_14_bit_mosaic_above_the_black_level():
    field = _field(".dng")
    stars = _random_stars(*field.centre_deg, field.radius_deg + 0.1)
    data, header = render_frame(field, stars)
    assert len(header) == 0  # EXIF, no FITS keywords
    assert data.max() <= 16383
    assert 1900 < np.percentile(data, 1) < 2300  # black level 2048 plus sky, minus noise
    # The sky is reddish (light pollution): R pixels (even rows, even columns) above B pixels.
    assert np.median(data[0::2, 0::2]) > np.median(data[1::2, 1::2]) + 20


def test_ha_frame_is_darker_than_l():
    stars = _random_stars(*_field("M31_L").centre_deg, 2.0)
    l_data, _ = render_frame(_field("M31_L"), stars)
    ha_data, _ = render_frame(_field("M31_Ha"), stars)
    assert np.median(ha_data) < 0.5 * np.median(l_data)


def test_light_frame_needs_a_star_list():
    with pytest.raises(ConfigError, match="star list"):
        render_frame(_field("M31_L"), None)


@pytest.mark.parametrize("field", CALIBRATION, ids=lambda f: f.rel_path)
def test_calibration_frames_ignore_stars(field: DemoField):
    with_stars, _ = render_frame(field, _random_stars(10.0, 40.0, 3.0))
    without, _ = render_frame(field, None)
    np.testing.assert_array_equal(with_stars, without)


def _median3x3(data: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(data.astype(float), (3, 3))
    return np.median(windows, axis=(-2, -1))


def test_bias_is_offset_plus_read_noise():
    data, _ = render_frame(_field("bias"), None)
    assert np.median(data) == pytest.approx(500, abs=5)
    assert 5 < np.std(data) < 10
    assert data.max() < 600  # no hot pixels, no stars


def test_dark_has_isolated_hot_pixels_and_no_stars():
    data, _ = render_frame(_field("dark"), None)
    level = np.median(data)
    noise = 1.4826 * np.median(np.abs(data - level))
    hot = data > level + 10 * noise
    assert 10 <= hot.sum() <= 200
    # Hot pixels are single pixels: the 3x3 median removes them; a star would survive it.
    assert _median3x3(data).max() < level + 6 * noise


def test_flat_is_vignetted_illumination_near_30000_adu():
    data, _ = render_frame(_field("flat"), None)
    height, width = data.shape
    centre = np.median(data[height // 2 - 20 : height // 2 + 20, width // 2 - 20 : width // 2 + 20])
    corner = np.median(data[:40, :40])
    assert 27000 < centre < 33000
    assert corner < 0.9 * centre
    # No point sources: the frame is smooth apart from noise.
    smooth = _median3x3(data)
    assert np.abs(data[1:-1, 1:-1] - smooth).max() < 10 * math.sqrt(centre)


# --- Writing -------------------------------------------------------------------------------


def test_library_holds_exactly_the_demo_files_and_is_small(demo_library: Path):
    files = {p.relative_to(demo_library).as_posix() for p in demo_library.rglob("*") if p.is_file()}
    assert files == {f.rel_path for f in DEMO_FIELDS}
    total = sum(p.stat().st_size for p in demo_library.rglob("*") if p.is_file())
    assert total < 20_000_000


def test_files_read_back_as_the_rendered_arrays(demo_library: Path):
    field = _field("M81_")
    stars = _random_stars(*field.centre_deg, field.radius_deg + 0.1)
    expected, _ = render_frame(field, stars)
    with fits.open(demo_library / field.rel_path) as hdul:
        np.testing.assert_array_equal(hdul[0].data, expected)
        assert hdul[0].data.dtype == np.uint16


@pytest.mark.parametrize("path_part", [".xisf", ".tif", ".jpg"])
def test_other_formats_read_back_as_the_rendered_arrays(path_part: str, demo_library: Path):
    field = _field(path_part)
    stars = _random_stars(*field.centre_deg, field.radius_deg + 0.1)
    expected, _ = render_frame(field, stars)
    loaded, _ = load_image(demo_library / field.rel_path)
    assert loaded.dtype == expected.dtype
    if field.file_format == "jpeg":
        # Lossy: the pixel noise is not kept, the picture is (means of 8x8 blocks).
        def blocks(a: np.ndarray) -> np.ndarray:
            h, w = (a.shape[0] // 8) * 8, (a.shape[1] // 8) * 8
            return a[:h, :w].astype(float).reshape(h // 8, 8, w // 8, 8, 3).mean(axis=(1, 3))

        assert np.abs(blocks(loaded) - blocks(expected)).mean() < 1.5
    else:
        np.testing.assert_array_equal(loaded, expected)


def test_raw_frame_reads_back_as_the_rendered_mosaic(demo_library: Path):
    import rawpy

    field = _field(".dng")
    stars = _random_stars(*field.centre_deg, field.radius_deg + 0.1)
    expected, _ = render_frame(field, stars)
    with rawpy.imread(str(demo_library / field.rel_path)) as raw:
        np.testing.assert_array_equal(raw.raw_image, expected)
        assert list(raw.black_level_per_channel) == [2048] * 4
        assert raw.white_level == 16383


def test_rendering_is_deterministic():
    field = _field("M42_")
    stars = _random_stars(*field.centre_deg, 2.0)
    first, header1 = render_frame(field, stars)
    second, header2 = render_frame(field, stars)
    np.testing.assert_array_equal(first, second)
    assert header1 == header2


def test_rewriting_gives_identical_bytes_and_leaves_files_alone(tmp_path: Path, demo_library: Path):
    calls: list[tuple[float, float, float]] = []

    def source(ra_deg: float, dec_deg: float, radius_deg: float) -> StarList:
        calls.append((ra_deg, dec_deg, radius_deg))
        return _random_stars(ra_deg, dec_deg, radius_deg)

    out = tmp_path / "again"
    paths = write_demo_library(out, source)
    # The star source is asked once per sky frame, around its true centre, out to its corners.
    assert [(ra, dec) for ra, dec, _ in calls] == [f.centre_deg for f in SKY]
    assert all(radius >= f.radius_deg for (_, _, radius), f in zip(calls, SKY, strict=True))
    assert [p.relative_to(out).as_posix() for p in paths] == [f.rel_path for f in DEMO_FIELDS]
    for path in paths:
        assert path.read_bytes() == (demo_library / path.relative_to(out)).read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    assert write_demo_library(out, _random_stars) == paths
    assert {p: p.stat().st_mtime_ns for p in paths} == mtimes


def test_a_damaged_frame_is_rewritten_and_a_stale_partial_is_replaced(tmp_path: Path):
    out = tmp_path / "lib"
    paths = write_demo_library(out, _random_stars)
    damaged = [paths[0], *(p for p in paths if p.suffix in (".xisf", ".dng"))]
    originals = [p.read_bytes() for p in damaged]
    for path in damaged:
        path.write_bytes(b"garbage")
    stale = [p.with_name(f".{p.name}.partial") for p in (paths[1], paths[-5])]
    for path in stale:
        path.write_bytes(b"half a frame")
    write_demo_library(out, _random_stars)
    assert [p.read_bytes() for p in damaged] == originals
    assert not any(path.exists() for path in stale)


@pytest.mark.parametrize(
    "make_foreign",
    [
        lambda root: (root / "notes.txt").write_text("mine"),
        lambda root: (root / "M31" / "LIGHT" / "M31_L_300s_0002.fits").write_bytes(b""),
        lambda root: (root / "Pictures").mkdir(),
    ],
    ids=["file", "frame-like file", "folder"],
)
def test_refuses_a_folder_that_is_not_a_demo_library(
    tmp_path: Path, make_foreign: Callable[[Path], object]
):
    out = tmp_path / "lib"
    (out / "M31" / "LIGHT").mkdir(parents=True)
    make_foreign(out)
    with pytest.raises(ConfigError, match="does not look like a demo library"):
        write_demo_library(out, _random_stars)
    assert not (out / "M31" / "LIGHT" / "M31_L_300s_0001.fits").exists()


def test_refuses_a_file_as_target(tmp_path: Path):
    target = tmp_path / "lib"
    target.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        write_demo_library(target, _random_stars)


def test_demo_module_does_not_import_dagster():
    code = "import sys, astrocat_pipeline.demo.library; print('dagster' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
