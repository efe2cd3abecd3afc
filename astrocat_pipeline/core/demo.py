"""A small demo library: real sky fields rendered as N.I.N.A.-style FITS frames.

The lights are ~3°×2° fields around well-known targets, rendered from a caller-supplied star
list (in practice the astrometry.net index stars, so the frames plate-solve with the Tycho-2
10-19 index files), plus one dark, one flat and one bias. The headers look like what N.I.N.A.
writes for a ZWO ASI2600MM Pro behind a 135 mm lens, binned 2×2, including a pointing error of a
few arcminutes in OBJCTRA/OBJCTDEC and RA/DEC. They carry no WCS: the pipeline must solve them.

Pixel convention: standard FITS, no ROWORDER keyword. Array row 0 is FITS row 1 (the bottom of
the image as FITS displays it); ``true_wcs`` maps 0-based array ``(x=column, y=row)``.

Everything is deterministic (seeded generators, fixed dates): writing the library twice gives
identical bytes. This module computes and writes files only; it never runs the star query itself.
"""

from __future__ import annotations

import io
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.core.errors import ConfigError

StarList = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(ra_deg, dec_deg, mag) arrays of equal length, ICRS degrees and catalogue magnitudes."""

StarSource = Callable[[float, float, float], StarList]
"""``star_source(ra_deg, dec_deg, radius_deg) -> (ra_deg, dec_deg, mag)``."""

# --- The simulated camera and optics ------------------------------------------------------------
# ZWO ASI2600MM Pro (3.76 µm pixels, 16-bit) binned 2×2; N.I.N.A. writes the binned pixel size.
CAMERA = "ZWO ASI2600MM Pro"
TELESCOPE = "Samyang 135mm f/2.0 ED UMC"
FOCAL_LENGTH_MM = 135.0
FOCAL_RATIO = 2.8  # stopped down, as usual for this lens on the sky
PIXEL_SIZE_UM = 7.52
BINNING = 2
GAIN = 100
OFFSET = 50
SET_TEMP_C = -10.0
SOFTWARE = "N.I.N.A. 3.1.2.9001"
SITE_LAT_DEG = 47.3769
SITE_LONG_DEG = 8.5417
SITE_ELEV_M = 408.0
# A light frame is small on purpose (1.3 MB): the whole library stays under 15 MB.
WIDTH_PX = 1000
HEIGHT_PX = 667

# --- Signal model (ADU, one electron per ADU for simplicity) --------------------------------
BIAS_ADU = 500.0  # offset 50 on an ASI2600 gives ~500 ADU
READ_NOISE_ADU = 7.0
# A V=12 star gives 20 ADU/s through L (6000 ADU in 300 s): stars saturate near V=6.5 in 300 s.
MAG_ZERO_POINT = 15.25  # magnitude giving 1 ADU/s through L
SKY_ADU_PER_S = 6.0  # suburban sky through L at f/2.8: 1800 ADU in 300 s
DARK_CURRENT_ADU_PER_S = 0.003  # at -10 °C
FLAT_LEVEL_ADU = 30000.0
SATURATION_ADU = 65535
# Relative star and sky throughput per filter (a 7 nm Hα filter passes a few % of L).
FILTER_STAR_FACTOR = {"L": 1.0, "Ha": 0.05}
FILTER_SKY_FACTOR = {"L": 1.0, "Ha": 0.03}
# Faint stars that are in no index file (fainter than the Tycho-2 index subset, V ≤ 10.9 here),
# so the frames look like a real star field, not only the ~9 index stars per square degree.
FAINT_STARS_PER_DEG2 = 150.0
FAINT_MAG_RANGE = (11.0, 14.0)
# Fixed sensor defects, the same in every frame (one camera).
SENSOR_SEED = 2600
HOT_PIXEL_COUNT = 40
# Stars are asked for out to the frame's corner plus this, so PSF wings at the edge are drawn.
STAR_QUERY_MARGIN_DEG = 0.1


@dataclass(frozen=True)
class Glow:
    """A smooth extended object (galaxy, nebula, cluster core), elliptical exponential profile."""

    ra_deg: float
    dec_deg: float
    major_arcmin: float  # visible extent (diameter): four exponential scale lengths per side
    minor_arcmin: float
    pa_deg: float  # major axis position angle, east of north
    peak_adu_per_s: float  # through L, before vignetting


@dataclass(frozen=True)
class DemoField:
    """One frame of the demo library.

    Light frames have a true sky centre, rotation and parity; calibration frames (dark, flat,
    bias) have ``ra_deg``/``dec_deg`` None and no stars.
    """

    rel_path: str  # POSIX, relative to the library root
    frame_type: str  # "light", "dark", "flat" or "bias" (core.records.FRAME_TYPES)
    object_name: str | None
    ra_deg: float | None  # true centre of the image, ICRS
    dec_deg: float | None
    rotation_deg: float  # position angle of image "up" (+y) east of north
    flipped: bool  # mirror image (east right when north is up)
    filter_name: str | None
    exposure_s: float
    date_obs: str  # ISO UTC, millisecond precision as N.I.N.A. writes it
    utc_offset_h: int  # local time = UTC + this (for DATE-LOC)
    seed: int
    pointing_error_arcmin: float = 0.0  # header position minus the true centre
    pointing_error_pa_deg: float = 0.0
    ccd_temp_c: float = -10.0
    psf_sigma_px: float = 1.5
    glows: tuple[Glow, ...] = ()
    width_px: int = WIDTH_PX
    height_px: int = HEIGHT_PX
    focal_length_mm: float = FOCAL_LENGTH_MM
    pixel_size_um: float = PIXEL_SIZE_UM  # binned

    @property
    def is_light(self) -> bool:
        return self.frame_type == "light"

    @property
    def pixel_scale_arcsec(self) -> float:
        """True pixel scale, exactly what FOCALLEN and XPIXSZ in the header give."""
        return 206.264806 * self.pixel_size_um / self.focal_length_mm

    @property
    def radius_deg(self) -> float:
        """Centre-to-corner distance in degrees (small-angle approximation)."""
        return math.hypot(self.width_px, self.height_px) / 2.0 * self.pixel_scale_arcsec / 3600.0

    @property
    def centre_deg(self) -> tuple[float, float]:
        """True (ra_deg, dec_deg) of the image centre; ConfigError for a calibration frame."""
        if not self.is_light or self.ra_deg is None or self.dec_deg is None:
            raise ConfigError(f"{self.rel_path}: a {self.frame_type} frame shows no sky")
        return self.ra_deg, self.dec_deg

    @property
    def header_ra_dec_deg(self) -> tuple[float, float]:
        """Where the mount said it pointed (the true centre offset by the pointing error)."""
        ra_deg, dec_deg = self.centre_deg
        ra, dec = offset_by(
            np.array([ra_deg]),
            np.array([dec_deg]),
            np.array([self.pointing_error_arcmin / 60.0]),
            np.array([self.pointing_error_pa_deg]),
        )
        return float(ra[0]), float(dec[0])


def _light(
    rel_path: str,
    *,
    object_name: str,
    ra_deg: float,
    dec_deg: float,
    rotation_deg: float,
    exposure_s: float,
    date_obs: str,
    utc_offset_h: int,
    seed: int,
    pointing_error_arcmin: float,
    pointing_error_pa_deg: float,
    filter_name: str = "L",
    flipped: bool = False,
    ccd_temp_c: float = -10.0,
    psf_sigma_px: float = 1.5,
    glows: tuple[Glow, ...] = (),
) -> DemoField:
    return DemoField(
        rel_path=rel_path,
        frame_type="light",
        object_name=object_name,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        rotation_deg=rotation_deg,
        flipped=flipped,
        filter_name=filter_name,
        exposure_s=exposure_s,
        date_obs=date_obs,
        utc_offset_h=utc_offset_h,
        seed=seed,
        pointing_error_arcmin=pointing_error_arcmin,
        pointing_error_pa_deg=pointing_error_pa_deg,
        ccd_temp_c=ccd_temp_c,
        psf_sigma_px=psf_sigma_px,
        glows=glows,
    )


def _calibration(
    rel_path: str, frame_type: str, filter_name: str | None, exposure_s: float, date_obs: str
) -> DemoField:
    return DemoField(
        rel_path=rel_path,
        frame_type=frame_type,
        object_name=None,
        ra_deg=None,
        dec_deg=None,
        rotation_deg=0.0,
        flipped=False,
        filter_name=filter_name,
        exposure_s=exposure_s,
        date_obs=date_obs,
        utc_offset_h=2,
        seed=zlib.crc32(rel_path.encode()),
    )


# Extended objects drawn as faint glows (positions and sizes rounded from OpenNGC).
_M31_GLOWS = (
    Glow(10.6847, 41.2690, 150.0, 45.0, 35.0, 2.0),  # M31 disc
    Glow(10.6847, 41.2690, 20.0, 14.0, 35.0, 4.0),  # M31 bulge
    Glow(10.6743, 40.8652, 5.0, 4.0, 170.0, 2.0),  # M32
    Glow(10.0920, 41.6853, 17.0, 10.0, 170.0, 0.8),  # M110
)
_M33_GLOWS = (Glow(23.4621, 30.6599, 60.0, 38.0, 23.0, 0.8),)
_M42_GLOWS = (
    Glow(83.8221, -5.3911, 60.0, 50.0, 0.0, 3.0),  # M42
    Glow(83.8900, -5.2700, 12.0, 10.0, 0.0, 1.0),  # M43
    Glow(83.8458, -4.8361, 35.0, 25.0, 0.0, 0.4),  # NGC 1977
)
_M81_GLOWS = (
    Glow(148.8882, 69.0653, 22.0, 11.0, 157.0, 1.5),  # M81
    Glow(148.9685, 69.6797, 10.0, 4.0, 65.0, 1.2),  # M82
)
_M13_GLOWS = (Glow(250.4235, 36.4613, 12.0, 12.0, 0.0, 2.5),)
_M45_GLOWS = (Glow(56.75, 24.12, 90.0, 70.0, 0.0, 0.3),)  # reflection nebulosity
_NGC7789_GLOWS = (Glow(359.3292, 56.7264, 20.0, 20.0, 0.0, 0.3),)  # unresolved cluster light

DEMO_FIELDS: tuple[DemoField, ...] = (
    _light(
        "M31/LIGHT/M31_L_300s_0001.fits",
        object_name="M31",
        ra_deg=10.55,
        dec_deg=41.30,
        rotation_deg=32.5,
        exposure_s=300.0,
        date_obs="2024-10-05T21:14:03.512",
        utc_offset_h=2,
        seed=3101,
        pointing_error_arcmin=4.2,
        pointing_error_pa_deg=115.0,
        glows=_M31_GLOWS,
    ),
    # Same framing a week later through Hα (camera not rotated, re-centred by the mount).
    _light(
        "M31/LIGHT/M31_Ha_300s_0001.fits",
        object_name="M31",
        ra_deg=10.55,
        dec_deg=41.30,
        rotation_deg=32.9,
        filter_name="Ha",
        exposure_s=300.0,
        date_obs="2024-10-12T22:41:27.104",
        utc_offset_h=2,
        seed=3102,
        pointing_error_arcmin=2.6,
        pointing_error_pa_deg=290.0,
        ccd_temp_c=-9.8,
        psf_sigma_px=1.4,
        glows=_M31_GLOWS,
    ),
    _light(
        "M45/LIGHT/M45_L_120s_0001.fits",
        object_name="M45",
        ra_deg=56.80,
        dec_deg=24.05,
        rotation_deg=351.0,
        exposure_s=120.0,
        date_obs="2024-11-28T22:05:48.331",
        utc_offset_h=1,
        seed=4501,
        pointing_error_arcmin=6.5,
        pointing_error_pa_deg=20.0,
        psf_sigma_px=1.6,
        glows=_M45_GLOWS,
    ),
    _light(
        "M42/LIGHT/M42_L_60s_0001.fits",
        object_name="M42",
        ra_deg=83.85,
        dec_deg=-5.20,
        rotation_deg=88.0,
        exposure_s=60.0,
        date_obs="2025-01-18T20:32:10.045",
        utc_offset_h=1,
        seed=4201,
        pointing_error_arcmin=7.4,
        pointing_error_pa_deg=200.0,
        psf_sigma_px=1.7,
        glows=_M42_GLOWS,
    ),
    _light(
        "M13/LIGHT/M13_L_180s_0001.fits",
        object_name="M13",
        ra_deg=250.35,
        dec_deg=36.50,
        rotation_deg=181.5,  # after a meridian flip
        exposure_s=180.0,
        date_obs="2025-06-21T22:10:44.870",
        utc_offset_h=2,
        seed=1301,
        pointing_error_arcmin=3.1,
        pointing_error_pa_deg=330.0,
        ccd_temp_c=-9.9,
        glows=_M13_GLOWS,
    ),
    _light(
        "M81/LIGHT/M81_L_300s_0001.fits",
        object_name="M81",
        ra_deg=148.90,
        dec_deg=69.35,
        rotation_deg=12.0,
        exposure_s=300.0,
        date_obs="2025-03-08T21:47:15.209",
        utc_offset_h=1,
        seed=8101,
        pointing_error_arcmin=5.0,
        pointing_error_pa_deg=75.0,
        glows=_M81_GLOWS,
    ),
    # Mirror image: what a reader gets when a writer stores rows top-down and does not say so.
    _light(
        "M33/LIGHT/M33_L_300s_0001.fits",
        object_name="M33",
        ra_deg=23.50,
        dec_deg=30.60,
        rotation_deg=247.0,
        flipped=True,
        exposure_s=300.0,
        date_obs="2024-10-27T20:58:39.662",
        utc_offset_h=1,
        seed=3301,
        pointing_error_arcmin=2.2,
        pointing_error_pa_deg=160.0,
        glows=_M33_GLOWS,
    ),
    # Crosses RA 0h: the frame's corners lie on both sides of RA 0/360.
    _light(
        "NGC7789/LIGHT/NGC7789_L_180s_0001.fits",
        object_name="NGC 7789",
        ra_deg=0.20,
        dec_deg=56.70,
        rotation_deg=5.0,
        exposure_s=180.0,
        date_obs="2024-09-14T22:30:02.918",
        utc_offset_h=2,
        seed=7789,
        pointing_error_arcmin=3.8,
        pointing_error_pa_deg=250.0,
        glows=_NGC7789_GLOWS,
    ),
    _calibration(
        "calibration/DARK/dark_300s_0001.fits", "dark", None, 300.0, "2024-10-06T08:12:31.207"
    ),
    _calibration(
        "calibration/FLAT/flat_L_2.50s_0001.fits", "flat", "L", 2.5, "2024-10-06T05:02:18.640"
    ),
    # N.I.N.A. records the camera's shortest exposure for a bias.
    _calibration(
        "calibration/BIAS/bias_0001.fits", "bias", None, 3.2e-05, "2024-10-06T08:40:05.019"
    ),
)


# --- Geometry ---------------------------------------------------------------------------------


def offset_by(
    ra_deg: np.ndarray, dec_deg: np.ndarray, sep_deg: np.ndarray, pa_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move points by an angular distance along a position angle (east of north).

    Parameters
    ----------
    ra_deg, dec_deg : numpy.ndarray
        Start points, ICRS degrees, shape (n,).
    sep_deg, pa_deg : numpy.ndarray
        Distance and position angle in degrees, broadcastable to (n,).

    Returns
    -------
    ra_deg, dec_deg : numpy.ndarray
        End points; RA in [0, 360).
    """
    ra0, dec0 = np.radians(ra_deg), np.radians(dec_deg)
    sep, pa = np.radians(sep_deg), np.radians(pa_deg)
    sin_dec = np.sin(dec0) * np.cos(sep) + np.cos(dec0) * np.sin(sep) * np.cos(pa)
    dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(sep) * np.cos(dec0), np.cos(sep) - np.sin(dec0) * sin_dec)
    return np.degrees(ra0 + dra) % 360.0, np.degrees(dec)


def true_wcs(field: DemoField) -> WCS:
    """The WCS the light frame was rendered with (TAN, no distortion, CRPIX at the centre).

    Raises
    ------
    ConfigError
        For a calibration frame, which shows no sky.
    """
    ra_deg, dec_deg = field.centre_deg
    scale_deg = field.pixel_scale_arcsec / 3600.0
    theta = math.radians(field.rotation_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    # Columns are the sky directions (east, north) of +x and +y: +y points to position angle
    # theta; +x is +y turned by 90° towards west (normal parity) or east (mirror image).
    east_x = 1.0 if field.flipped else -1.0
    cd = [[east_x * cos_t, sin_t], [-east_x * sin_t, cos_t]]
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(field.width_px + 1) / 2.0, (field.height_px + 1) / 2.0]
    wcs.wcs.cd = np.array(cd) * scale_deg
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    wcs.pixel_shape = (field.width_px, field.height_px)
    return wcs


# --- Rendering --------------------------------------------------------------------------------


def render_frame(field: DemoField, stars: StarList | None) -> tuple[np.ndarray, fits.Header]:
    """Render one frame of the demo library.

    Parameters
    ----------
    field : DemoField
        The frame to render.
    stars : tuple of numpy.ndarray or None
        ``(ra_deg, dec_deg, mag)`` of the catalogue stars around the field (at least out to
        ``field.radius_deg``); required for a light frame, ignored for calibration frames.

    Returns
    -------
    data : numpy.ndarray
        uint16 array of shape (height_px, width_px); row 0 is FITS row 1.
    header : astropy.io.fits.Header
        N.I.N.A.-style keywords, no WCS.
    """
    rng = np.random.default_rng(field.seed)
    shape = (field.height_px, field.width_px)
    sensor = _Sensor(shape)
    thermal = DARK_CURRENT_ADU_PER_S * field.exposure_s + sensor.hot_rate * field.exposure_s
    if field.frame_type == "light":
        if stars is None:
            raise ConfigError(f"{field.rel_path}: a light frame needs a star list")
        signal = _light_signal(field, stars, rng) * sensor.throughput + thermal
    elif field.frame_type == "flat":
        signal = FLAT_LEVEL_ADU * sensor.throughput + thermal
    elif field.frame_type == "dark":
        signal = np.broadcast_to(thermal, shape)
    elif field.frame_type == "bias":
        signal = np.zeros(shape)
    else:
        raise ConfigError(f"{field.rel_path}: unknown demo frame type {field.frame_type!r}")
    counts = rng.poisson(np.maximum(signal, 0.0)).astype(np.float64)
    counts += BIAS_ADU + sensor.column_pattern + rng.normal(0.0, READ_NOISE_ADU, shape)
    data = np.clip(np.rint(counts), 0, SATURATION_ADU).astype(np.uint16)
    return data, _header(field)


class _Sensor:
    """Fixed pattern of the one simulated camera: hot pixels, column offsets, vignetting, dust."""

    def __init__(self, shape: tuple[int, int]) -> None:
        height, width = shape
        rng = np.random.default_rng(SENSOR_SEED)
        self.hot_rate = np.zeros(shape)
        rows = rng.integers(0, height, HOT_PIXEL_COUNT)
        cols = rng.integers(0, width, HOT_PIXEL_COUNT)
        # Log-uniform 0.05-5 ADU/s: 15-1500 ADU in 300 s (a cooled CMOS sensor has few, mild ones).
        self.hot_rate[rows, cols] = 10.0 ** rng.uniform(
            math.log10(0.05), math.log10(5.0), rows.size
        )
        self.column_pattern = rng.normal(0.0, 1.0, width)[np.newaxis, :]
        y = np.arange(height, dtype=np.float64)[:, np.newaxis]
        x = np.arange(width, dtype=np.float64)[np.newaxis, :]
        cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (cx**2 + cy**2)
        throughput = 1.0 - 0.28 * r2 + 0.06 * r2**2  # ~78 % in the corners
        for dust_x, dust_y, radius_px, depth in (
            (0.26 * width, 0.70 * height, 22.0, 0.05),
            (0.70 * width, 0.27 * height, 30.0, 0.035),
        ):
            # Out-of-focus dust shadow: a soft-edged ring, negligible beyond two radii.
            box = (
                slice(max(int(dust_y - 2 * radius_px), 0), int(dust_y + 2 * radius_px) + 1),
                slice(max(int(dust_x - 2 * radius_px), 0), int(dust_x + 2 * radius_px) + 1),
            )
            d = np.hypot(x[:, box[1]] - dust_x, y[box[0], :] - dust_y) / radius_px
            throughput[box] *= 1.0 - depth * np.exp(-(((d - 0.7) / 0.25) ** 2))
        self.throughput = throughput


def _light_signal(field: DemoField, stars: StarList, rng: np.random.Generator) -> np.ndarray:
    """Sky + gradient + extended glows + stars, in ADU before vignetting and noise."""
    wcs = true_wcs(field)
    shape = (field.height_px, field.width_px)
    filter_name = field.filter_name or "L"
    star_factor = FILTER_STAR_FACTOR.get(filter_name, 1.0) * field.exposure_s
    sky_factor = FILTER_SKY_FACTOR.get(filter_name, 1.0) * field.exposure_s

    y = np.arange(shape[0], dtype=np.float64)[:, np.newaxis]
    x = np.arange(shape[1], dtype=np.float64)[np.newaxis, :]
    gradient_pa = rng.uniform(0.0, 2.0 * math.pi)
    gradient = 0.12 * (
        math.cos(gradient_pa) * (x / shape[1] - 0.5) + math.sin(gradient_pa) * (y / shape[0] - 0.5)
    )
    signal = SKY_ADU_PER_S * sky_factor * (1.0 + gradient)

    for glow in field.glows:
        signal += _glow_image(wcs, glow, x, y, field.pixel_scale_arcsec) * star_factor

    ra, dec, mag = (np.asarray(a, dtype=np.float64) for a in stars)
    faint_ra, faint_dec, faint_mag = _faint_stars(field)
    ra = np.concatenate((ra, faint_ra))
    dec = np.concatenate((dec, faint_dec))
    mag = np.concatenate((mag, faint_mag))
    px, py = wcs.all_world2pix(ra, dec, 0)
    flux = 10.0 ** (-0.4 * (mag - MAG_ZERO_POINT)) * star_factor
    # Seeing varies a little from star to star across the frame.
    sigma = field.psf_sigma_px * rng.uniform(0.95, 1.05, flux.size)
    _add_stars(signal, px, py, flux, sigma, _in_front(wcs, ra, dec))
    return signal


def _in_front(wcs: WCS, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """True for points within 60° of the tangent point (the TAN projection folds beyond 90°)."""
    ra0, dec0 = (math.radians(v) for v in wcs.wcs.crval)
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_sep = math.sin(dec0) * np.sin(dec) + math.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    return cos_sep > 0.5


def _faint_stars(field: DemoField) -> StarList:
    """Random stars fainter than the index stars, the same on every frame of one object."""
    ra_deg, dec_deg = field.centre_deg
    rng = np.random.default_rng(zlib.crc32((field.object_name or "").encode()))
    radius_deg = field.radius_deg + 0.2
    area_deg2 = 2.0 * math.pi * (1.0 - math.cos(math.radians(radius_deg))) * (180.0 / math.pi) ** 2
    count = round(FAINT_STARS_PER_DEG2 * area_deg2)
    # Uniform on the spherical cap around the centre.
    cos_sep = rng.uniform(math.cos(math.radians(radius_deg)), 1.0, count)
    pa = rng.uniform(0.0, 360.0, count)
    ra, dec = offset_by(
        np.full(count, ra_deg),
        np.full(count, dec_deg),
        np.degrees(np.arccos(cos_sep)),
        pa,
    )
    # Star counts grow ~×2.5 per magnitude: sample a truncated exponential in magnitude.
    lo, hi = FAINT_MAG_RANGE
    k = 0.4 * math.log(10.0)
    u = rng.uniform(0.0, 1.0, count)
    mag = lo + np.log1p(u * (math.exp(k * (hi - lo)) - 1.0)) / k
    return ra, dec, mag


def _add_stars(
    image: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    flux: np.ndarray,
    sigma: np.ndarray,
    valid: np.ndarray,
) -> None:
    """Add circular Gaussian stars of total ``flux`` (ADU) centred at 0-based ``(px, py)``."""
    height, width = image.shape
    for x0, y0, f, s, ok in zip(px, py, flux, sigma, valid, strict=True):
        if not ok or not (np.isfinite(x0) and np.isfinite(y0) and f > 0):
            continue
        peak = f / (2.0 * math.pi * s * s)
        # Stamp out to where the profile drops below 0.2 ADU, at least 3 sigma.
        half = math.ceil(s * math.sqrt(2.0 * math.log(max(peak / 0.2, 90.0))))
        x_lo, x_hi = max(math.floor(x0) - half, 0), min(math.floor(x0) + half + 2, width)
        y_lo, y_hi = max(math.floor(y0) - half, 0), min(math.floor(y0) + half + 2, height)
        if x_lo >= x_hi or y_lo >= y_hi:
            continue
        gx = np.exp(-0.5 * ((np.arange(x_lo, x_hi) - x0) / s) ** 2)
        gy = np.exp(-0.5 * ((np.arange(y_lo, y_hi) - y0) / s) ** 2)
        image[y_lo:y_hi, x_lo:x_hi] += peak * np.outer(gy, gx)


def _glow_image(
    wcs: WCS, glow: Glow, x: np.ndarray, y: np.ndarray, scale_arcsec: float
) -> np.ndarray:
    """Elliptical exponential profile of one glow on the pixel grid (ADU/s through L)."""
    cx, cy = wcs.all_world2pix([glow.ra_deg], [glow.dec_deg], 0)
    # Direction of the major axis on the image: project a point 1' along the position angle.
    ra1, dec1 = offset_by(
        np.array([glow.ra_deg]),
        np.array([glow.dec_deg]),
        np.array([1.0 / 60.0]),
        np.array([glow.pa_deg]),
    )
    ax, ay = wcs.all_world2pix(ra1, dec1, 0)
    angle = math.atan2(float(ay[0] - cy[0]), float(ax[0] - cx[0]))
    dx, dy = x - float(cx[0]), y - float(cy[0])
    along = (dx * math.cos(angle) + dy * math.sin(angle)) * scale_arcsec / 60.0
    across = (-dx * math.sin(angle) + dy * math.cos(angle)) * scale_arcsec / 60.0
    # major/minor are diameters spanning four exponential scale lengths on each side.
    r = np.hypot(along / (glow.major_arcmin / 8.0), across / (glow.minor_arcmin / 8.0))
    return glow.peak_adu_per_s * np.exp(-r)


# --- Header -----------------------------------------------------------------------------------


def format_ra_hms(ra_deg: float) -> str:
    """RA as N.I.N.A.'s OBJCTRA: 'HH MM SS.s'."""
    tenths = round((ra_deg % 360.0) / 15.0 * 36000.0) % (24 * 36000)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    return f"{hours:02d} {minutes:02d} {rest // 10:02d}.{rest % 10}"


def format_dec_dms(dec_deg: float) -> str:
    """Dec as N.I.N.A.'s OBJCTDEC: '+DD MM SS'."""
    sign = "-" if dec_deg < 0 else "+"
    arcsec = round(abs(dec_deg) * 3600.0)
    degrees, rest = divmod(arcsec, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{degrees:02d} {minutes:02d} {seconds:02d}"


def _local_time(date_obs: str, utc_offset_h: int) -> str:
    local = datetime.fromisoformat(date_obs) + timedelta(hours=utc_offset_h)
    return local.isoformat(timespec="milliseconds")


def _header(field: DemoField) -> fits.Header:
    header = fits.Header()
    header["IMAGETYP"] = (field.frame_type.upper(), "Type of exposure")
    header["EXPOSURE"] = (field.exposure_s, "[s] Exposure duration")
    header["EXPTIME"] = (field.exposure_s, "[s] Exposure duration")
    header["DATE-LOC"] = (
        _local_time(field.date_obs, field.utc_offset_h),
        "Time of observation (local)",
    )
    header["DATE-OBS"] = (field.date_obs, "Time of observation (UTC)")
    header["XBINNING"] = (BINNING, "X axis binning factor")
    header["YBINNING"] = (BINNING, "Y axis binning factor")
    header["GAIN"] = (GAIN, "Sensor gain")
    header["OFFSET"] = (OFFSET, "Sensor gain offset")
    header["EGAIN"] = (1.0, "[e-/ADU] Electrons per A/D unit")
    header["XPIXSZ"] = (field.pixel_size_um, "[um] Pixel X axis size")
    header["YPIXSZ"] = (field.pixel_size_um, "[um] Pixel Y axis size")
    header["INSTRUME"] = (CAMERA, "Imaging instrument name")
    header["SET-TEMP"] = (SET_TEMP_C, "[degC] CCD temperature setpoint")
    header["CCD-TEMP"] = (field.ccd_temp_c, "[degC] CCD temperature")
    header["READOUTM"] = ("Normal", "Sensor readout mode")
    header["TELESCOP"] = (TELESCOPE, "Name of telescope")
    header["FOCALLEN"] = (field.focal_length_mm, "[mm] Focal length")
    header["FOCRATIO"] = (FOCAL_RATIO, "Focal ratio")
    if field.is_light:
        ra, dec = field.header_ra_dec_deg
        header["RA"] = (round(ra, 6), "[deg] RA of telescope")
        header["DEC"] = (round(dec, 6), "[deg] Declination of telescope")
    header["SITEELEV"] = (SITE_ELEV_M, "[m] Observation site elevation")
    header["SITELAT"] = (SITE_LAT_DEG, "[deg] Observation site latitude")
    header["SITELONG"] = (SITE_LONG_DEG, "[deg] Observation site longitude")
    if field.is_light:
        header["OBJECT"] = (field.object_name, "Name of the object of interest")
        header["OBJCTRA"] = (format_ra_hms(ra), "[H M S] RA of imaged object")
        header["OBJCTDEC"] = (format_dec_dms(dec), "[D M S] Declination of imaged object")
    if field.filter_name is not None:
        header["FWHEEL"] = ("ZWO EFW", "Filter Wheel name")
        header["FILTER"] = (field.filter_name, "Active filter name")
    header["EQUINOX"] = (2000.0, "Equinox of celestial coordinate system")
    header["SWCREATE"] = (SOFTWARE, "Software that created this file")
    return header


# --- Writing the library ----------------------------------------------------------------------


def frame_bytes(field: DemoField, stars: StarList | None) -> bytes:
    """The complete FITS file of one frame (uint16 stored with BZERO 32768)."""
    data, header = render_frame(field, stars)
    buffer = io.BytesIO()
    fits.PrimaryHDU(data=data, header=header).writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def _partial_name(path: Path) -> Path:
    # Fixed name, so a crashed run leaves at most one stale file that the next run replaces.
    return path.with_name(f".{path.name}.partial")


def _check_out_dir(out_dir: Path) -> None:
    """Refuse to write into a folder that holds anything but a previous demo library."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"demo library target {out_dir} exists and is not a directory")
    allowed: set[PurePosixPath] = set()
    for field in DEMO_FIELDS:
        rel = PurePosixPath(field.rel_path)
        allowed.add(rel)
        allowed.add(rel.with_name(f".{rel.name}.partial"))
        allowed.update(p for p in rel.parents if str(p) != ".")
    foreign = sorted(
        str(p.relative_to(out_dir).as_posix())
        for p in out_dir.rglob("*")
        if PurePosixPath(p.relative_to(out_dir).as_posix()) not in allowed
    )
    if foreign:
        listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ConfigError(
            f"{out_dir} is not empty and does not look like a demo library "
            f"({len(foreign)} unexpected entries: {listed}); choose an empty or new folder"
        )


def write_demo_library(out_dir: Path, star_source: StarSource) -> list[Path]:
    """Write every frame of ``DEMO_FIELDS`` under ``out_dir`` and return their paths.

    ``star_source(ra_deg, dec_deg, radius_deg)`` is asked once per light frame for the
    catalogue stars around its true centre. Re-running on the same folder rewrites nothing that
    is already identical (files keep their bytes and modification times). Each file is written
    to a temporary name and renamed, so a reader never sees half a frame.

    Raises
    ------
    ConfigError
        If ``out_dir`` exists and holds anything that is not part of a demo library.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    written: list[Path] = []
    for field in DEMO_FIELDS:
        stars = None
        if field.is_light:
            ra_deg, dec_deg = field.centre_deg
            stars = star_source(ra_deg, dec_deg, field.radius_deg + STAR_QUERY_MARGIN_DEG)
        content = frame_bytes(field, stars)
        path = out_dir.joinpath(*PurePosixPath(field.rel_path).parts)
        written.append(path)
        partial = _partial_name(path)
        if path.is_file() and path.read_bytes() == content:
            partial.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    return written
