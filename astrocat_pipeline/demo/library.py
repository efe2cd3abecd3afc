"""A small demo library: real sky fields as the files capture and processing software write.

The lights are ~3°×2° fields around well-known targets, rendered from a caller-supplied star
list (in practice the astrometry.net index stars, so the frames plate-solve with the Tycho-2
10-19 index files), plus one dark, one flat and one bias. Most are N.I.N.A.-style FITS frames
of a ZWO ASI2600MM Pro behind a 135 mm lens, binned 2×2, including a pointing error of a few
arcminutes in OBJCTRA/OBJCTDEC and RA/DEC. The other formats:

- an XISF light of the same camera, as N.I.N.A. writes it (FITS keywords plus XISF
  ``Instrument:*``/``Observation:*`` properties, uint16, zlib with byte shuffling);
- a camera-raw light of a DSLR as a DNG (14-bit RGGB mosaic, the EXIF a camera writes,
  including the focal-plane resolution the pixel size is derived from);
- a processed stack of the mono camera as a 16-bit TIFF (stretched, with EXIF);
- a processed colour picture of the DSLR as an 8-bit JPEG (stretched, with the camera's EXIF).

None carries a WCS: the pipeline must solve them.

Pixel convention: ``true_wcs`` maps the 0-based array ``(x=column, y=row)`` that
``core.loading.load_image`` returns, for every format. FITS (no ROWORDER keyword) stores rows
bottom-up: array row 0 is FITS row 1, the bottom of the picture as FITS viewers draw it. XISF,
camera raw, TIFF and JPEG store rows top-down: array row 0 is the top of the picture. Each file
is written so its picture is the right way up for its format (``DemoField.rotation_deg`` and
``flipped`` describe the picture as displayed), so the array-coordinate WCS of a top-down file
has the opposite handedness of a FITS frame of the same framing. The solver input
(``adapters.solvers.input``) writes the loaded array as it is (array row 0 = FITS row 1), so what
solve-field returns is in these same array coordinates.

Everything is deterministic (seeded generators, fixed dates): writing the library twice gives
identical bytes. This module computes and writes files only; it never runs the star query itself.
"""

from __future__ import annotations

import io
import math
import os
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import tifffile
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image, TiffImagePlugin, TiffTags

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.wcs_geometry import offset_by

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
# A light frame is small on purpose (1.3 MB): the whole library stays under 20 MB.
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
# The XISF light: N.I.N.A. writes XISF as well as FITS (same keywords, plus XISF properties).
TELESCOPE_APERTURE_M = FOCAL_LENGTH_MM / FOCAL_RATIO / 1000.0
XISF_BLOCK_ALIGNMENT = 4096  # PixInsight's default data block alignment
XISF_ZLIB_LEVEL = 6  # zlib's default level, PixInsight's too

# --- The DSLR (DNG light, processed JPEG) ---------------------------------------------------
# Canon EOS R6 (20 Mpx, 35.9 mm / 5472 px = 6.56 µm, 14-bit) with the EF 135mm f/2L at f/2.8.
# The frames are a 1080×720 crop at full resolution (1.5 MB): 10.0"/px, 3.0°×2.0°.
DSLR_MAKE = "Canon"
DSLR_MODEL = "Canon EOS R6"
DSLR_LENS = "EF135mm f/2L USM"
DSLR_PIXEL_SIZE_UM = 6.56
DSLR_WIDTH_PX = 1080
DSLR_HEIGHT_PX = 720
DSLR_ISO = 1600
DSLR_SOFTWARE = "Firmware Version 1.8.2"
DSLR_BLACK_ADU = 2048  # Canon's 14-bit black level
DSLR_WHITE_ADU = 16383
DSLR_READ_NOISE_ADU = 3.0  # ISO 1600, 14-bit
DSLR_DARK_CURRENT_ADU_PER_S = 0.05  # uncooled, on a summer night
DSLR_SENSOR_SEED = 6001
# Share of the mono camera's L signal that reaches the R, G and B pixels of the Bayer mosaic.
DSLR_CHANNEL_FACTOR = (0.30, 0.40, 0.28)
# Colour of the light-polluted sky (sodium and warm LED light), relative to the channel factors.
SKY_TINT_RGB = (1.3, 1.0, 0.6)
# Star colours: B-V drawn around the Sun's (0.65); R and B scale by 10^(±STAR_TINT_PER_BV·ΔB-V).
STAR_BV_MEAN = 0.65
STAR_BV_SPREAD = 0.4
STAR_TINT_PER_BV = 0.32
# What wrote the processed files (TIFF and EXIF Software tag); they were saved this long after
# the first frame of their stack (TIFF and EXIF DateTime).
PROCESSED_SOFTWARE_TIFF = "PixInsight 1.8.9-3"
PROCESSED_SOFTWARE_JPEG = "Adobe Photoshop 26.1 (Windows)"
PROCESSED_AFTER = timedelta(days=2, hours=13, minutes=27)
JPEG_QUALITY = 92

# --- Processing of the stacks (the TIFF and the JPEG) -------------------------------------------
# Arcsinh stretch of the background-subtracted, colour-calibrated stack in ADU/s through L:
# linear below STRETCH_SOFTENING, logarithmic above; STRETCH_WHITE (the peak of a V≈8 star)
# maps to 1; the background sits at STRETCH_PEDESTAL, as a processed picture's black point does.
STRETCH_SOFTENING_ADU_PER_S = 0.15
STRETCH_WHITE_ADU_PER_S = 60.0
STRETCH_PEDESTAL = 0.12


@dataclass(frozen=True)
class Glow:
    """A smooth extended object (galaxy, nebula, cluster core), elliptical exponential profile."""

    ra_deg: float
    dec_deg: float
    major_arcmin: float  # visible extent (diameter): four exponential scale lengths per side
    minor_arcmin: float
    pa_deg: float  # major axis position angle, east of north
    peak_adu_per_s: float  # through L, before vignetting
    colour_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)  # relative R, G, B (colour frames)


@dataclass(frozen=True)
class DemoField:
    """One frame of the demo library; its format follows from the file name.

    Light and processed frames have a true sky centre, rotation and parity; calibration frames
    (dark, flat, bias) have ``ra_deg``/``dec_deg`` None and no stars.
    """

    rel_path: str  # POSIX, relative to the library root
    frame_type: str  # "light", "processed", "dark", "flat" or "bias" (core.frame_types.FrameType)
    object_name: str | None
    ra_deg: float | None  # true centre of the image, ICRS
    dec_deg: float | None
    # Position angle (east of north) of the picture's "up" as its format displays it: +y for
    # FITS (row 0 at the bottom), -y for the top-down formats (row 0 at the top).
    rotation_deg: float
    flipped: bool  # mirror image as displayed (east right when north is up)
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
    camera: str = CAMERA
    telescope: str = TELESCOPE
    stacked_frames: int = 1  # processed frames: subframes of exposure_s integrated

    @property
    def is_light(self) -> bool:
        return self.frame_type == "light"

    @property
    def shows_sky(self) -> bool:
        """True for light and processed frames (they have a sky position and stars)."""
        return self.ra_deg is not None and self.dec_deg is not None

    @property
    def file_format(self) -> str:
        """``"fits"``, ``"xisf"``, ``"raw"``, ``"tiff"`` or ``"jpeg"`` (core.formats)."""
        fmt = image_format(self.rel_path)
        if fmt not in _WRITERS:
            raise ConfigError(f"{self.rel_path}: the demo library writes no {fmt} files")
        return fmt

    @property
    def bottom_up(self) -> bool:
        """Rows stored bottom-up (FITS); every other format stores them top-down."""
        return self.file_format == "fits"

    @property
    def is_colour(self) -> bool:
        """Rendered in colour: the DSLR's mosaic and the colour JPEG."""
        return self.file_format in ("raw", "jpeg")

    @property
    def pixel_scale_arcsec(self) -> float:
        """True pixel scale, exactly what the file's focal length and pixel size give."""
        return 206.264806 * self.pixel_size_um / self.focal_length_mm

    @property
    def radius_deg(self) -> float:
        """Centre-to-corner distance in degrees (small-angle approximation)."""
        return math.hypot(self.width_px, self.height_px) / 2.0 * self.pixel_scale_arcsec / 3600.0

    @property
    def centre_deg(self) -> tuple[float, float]:
        """True (ra_deg, dec_deg) of the image centre; ConfigError for a calibration frame."""
        if self.ra_deg is None or self.dec_deg is None:
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
    filter_name: str | None = "L",
    flipped: bool = False,
    ccd_temp_c: float = -10.0,
    psf_sigma_px: float = 1.5,
    glows: tuple[Glow, ...] = (),
    frame_type: str = "light",
    stacked_frames: int = 1,
    dslr: bool = False,
) -> DemoField:
    # The DSLR's own sensor and size; the mono camera's are DemoField's defaults.
    camera_settings: dict[str, Any] = (
        {
            "camera": DSLR_MODEL,
            "telescope": DSLR_LENS,
            "pixel_size_um": DSLR_PIXEL_SIZE_UM,
            "width_px": DSLR_WIDTH_PX,
            "height_px": DSLR_HEIGHT_PX,
        }
        if dslr
        else {}
    )
    return DemoField(
        rel_path=rel_path,
        frame_type=frame_type,
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
        stacked_frames=stacked_frames,
        **camera_settings,
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
_M27_GLOWS = (Glow(299.9016, 22.7210, 8.0, 5.6, 35.0, 3.0),)
# Colours: emission nebulae glow in Hα (red) with some Hβ/[O III]; reflection nebulae are blue.
_EMISSION_RGB = (2.6, 0.5, 0.7)
_REFLECTION_RGB = (0.5, 0.9, 1.9)
_M8_GLOWS = (
    Glow(270.9220, -24.3802, 90.0, 40.0, 75.0, 2.5, _EMISSION_RGB),  # M8
    Glow(271.1293, -24.3581, 10.0, 10.0, 0.0, 0.6, (1.0, 1.0, 1.2)),  # NGC 6530 (cluster)
    Glow(270.6755, -22.9719, 28.0, 28.0, 0.0, 1.2, _EMISSION_RGB),  # M20
    Glow(270.6600, -22.8800, 20.0, 16.0, 0.0, 0.5, _REFLECTION_RGB),  # M20's reflection part
    Glow(271.0560, -22.4901, 8.0, 8.0, 0.0, 0.3),  # M21 (cluster)
)
_NGC7000_GLOWS = (
    Glow(314.8214, 44.5288, 120.0, 100.0, 20.0, 1.0, _EMISSION_RGB),  # NGC 7000
    Glow(312.7530, 44.4015, 60.0, 50.0, 0.0, 0.8, _EMISSION_RGB),  # IC 5070
)
_DOUBLE_CLUSTER_GLOWS = (
    Glow(34.7440, 57.1173, 14.0, 14.0, 0.0, 0.4),  # NGC 869
    Glow(35.6338, 57.1441, 10.0, 10.0, 0.0, 0.3),  # NGC 884
)

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
    # The same camera and lens saving XISF: rows top-down, PixInsight's properties as well.
    _light(
        "M27/LIGHT/M27_L_300s_0001.xisf",
        object_name="M27",
        ra_deg=299.75,
        dec_deg=22.85,
        rotation_deg=296.0,
        exposure_s=300.0,
        date_obs="2025-08-23T21:05:12.337",
        utc_offset_h=2,
        seed=2701,
        pointing_error_arcmin=3.4,
        pointing_error_pa_deg=140.0,
        ccd_temp_c=-10.1,
        glows=_M27_GLOWS,
    ),
    # A DSLR light (camera raw, converted to DNG): M8, M20 and M21 along the long side.
    _light(
        "M8/LIGHT/IMG_0417.dng",
        object_name="M8",
        ra_deg=270.84,
        dec_deg=-23.50,
        rotation_deg=95.0,
        exposure_s=120.0,
        date_obs="2025-07-04T21:52:40.310",
        utc_offset_h=2,
        seed=801,
        pointing_error_arcmin=0.0,  # a camera records no pointing
        pointing_error_pa_deg=0.0,
        filter_name=None,  # a DSLR's Bayer filters
        psf_sigma_px=1.6,
        glows=_M8_GLOWS,
        dslr=True,
    ),
    # A processed stack of the mono camera, saved as a 16-bit TIFF.
    _light(
        "NGC869/processed/NGC869_NGC884_stack_24x180s.tif",
        frame_type="processed",
        object_name="NGC 869",
        ra_deg=35.19,
        dec_deg=57.13,
        rotation_deg=8.0,
        exposure_s=180.0,
        stacked_frames=24,
        date_obs="2024-12-03T19:40:18.552",
        utc_offset_h=1,
        seed=8691,
        pointing_error_arcmin=0.0,
        pointing_error_pa_deg=0.0,
        glows=_DOUBLE_CLUSTER_GLOWS,
    ),
    # A finished colour picture of a DSLR stack, as an 8-bit JPEG with the camera's EXIF.
    _light(
        "NGC7000/processed/NGC7000_IC5070_final.jpg",
        frame_type="processed",
        object_name="NGC 7000",
        ra_deg=313.80,
        dec_deg=44.45,
        rotation_deg=4.0,
        exposure_s=120.0,
        stacked_frames=30,
        date_obs="2025-06-27T22:31:05.120",
        utc_offset_h=2,
        seed=7001,
        pointing_error_arcmin=0.0,
        pointing_error_pa_deg=0.0,
        filter_name=None,  # a DSLR's Bayer filters
        psf_sigma_px=1.7,
        glows=_NGC7000_GLOWS,
        dslr=True,
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


def true_wcs(field: DemoField) -> WCS:
    """The WCS the frame was rendered with (TAN, no distortion, CRPIX at the centre).

    It maps the 0-based array coordinates ``(x=column, y=row)`` of the array
    ``core.loading.load_image`` returns for the written file (for camera raw: the demosaiced
    array, the same size as the mosaic). In a FITS frame the picture's "up" is +y; in every
    other format, whose rows are stored top-down, it is -y, so there the y column of the CD
    matrix is reversed. This is also the WCS solve-field finds for the file: the solver input
    is the loaded array written as it is (array row 0 = FITS row 1).

    Raises
    ------
    ConfigError
        For a calibration frame, which shows no sky.
    """
    ra_deg, dec_deg = field.centre_deg
    scale_deg = field.pixel_scale_arcsec / 3600.0
    theta = math.radians(field.rotation_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    # Columns are the sky directions (east, north) of +x and of the picture's "up": "up" points
    # to position angle theta; +x is "up" turned by 90° towards west (normal parity) or east
    # (mirror image). "Up" is +y bottom-up and -y top-down.
    east_x = 1.0 if field.flipped else -1.0
    up_y = 1.0 if field.bottom_up else -1.0
    cd = [[east_x * cos_t, up_y * sin_t], [-east_x * sin_t, up_y * cos_t]]
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
        ``field.radius_deg``); required for a frame that shows the sky, ignored for calibration
        frames.

    Returns
    -------
    data : numpy.ndarray
        The pixels as the file stores them, in its own row order (``true_wcs`` maps them), of
        shape (height_px, width_px):

        - FITS, XISF: uint16, the mono camera's frame (FITS: row 0 is FITS row 1);
        - camera raw: uint16, the DSLR's 14-bit RGGB mosaic, black level included;
        - TIFF: uint16, the stretched mono stack;
        - JPEG: uint8 of shape (height_px, width_px, 3), the stretched colour stack.
    header : astropy.io.fits.Header
        The N.I.N.A.-style keywords of a FITS or XISF frame, no WCS; empty for camera raw, TIFF
        and JPEG, which carry EXIF instead (``frame_bytes`` writes it).
    """
    if field.shows_sky and stars is None:
        raise ConfigError(f"{field.rel_path}: a {field.frame_type} frame needs a star list")
    fmt = field.file_format
    if fmt == "raw" and stars is not None:
        return _dslr_mosaic(field, stars), fits.Header()
    if fmt in ("tiff", "jpeg") and stars is not None:
        picture = _processed_picture(field, stars)
        if fmt == "jpeg":
            return np.rint(picture * 255.0).astype(np.uint8), fits.Header()
        return np.rint(picture * 65535.0).astype(np.uint16), fits.Header()
    rng = np.random.default_rng(field.seed)
    shape = (field.height_px, field.width_px)
    sensor = _Sensor(shape)
    thermal = DARK_CURRENT_ADU_PER_S * field.exposure_s + sensor.hot_rate * field.exposure_s
    if field.frame_type == "light":
        if stars is None:
            raise ConfigError(f"{field.rel_path}: a light frame needs a star list")
        signal = _light_layers(field, stars, rng)[1] * sensor.throughput + thermal
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


def _dslr_mosaic(field: DemoField, stars: StarList) -> np.ndarray:
    """The DSLR's raw frame: the colour sky sampled through an RGGB mosaic, 14-bit."""
    rng = np.random.default_rng(field.seed)
    shape = (field.height_px, field.width_px)
    sensor = _Sensor(shape, DSLR_SENSOR_SEED)
    rgb = _colour_layers(field, stars, rng)[1]
    # R G / G B from the top-left pixel of the stored (top-down) array, as CFAPattern says.
    mosaic = np.empty(shape)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    thermal = (DSLR_DARK_CURRENT_ADU_PER_S + sensor.hot_rate) * field.exposure_s
    signal = mosaic * sensor.throughput + thermal
    counts = rng.poisson(np.maximum(signal, 0.0)).astype(np.float64)
    counts += DSLR_BLACK_ADU + sensor.column_pattern + rng.normal(0.0, DSLR_READ_NOISE_ADU, shape)
    return np.clip(np.rint(counts), 0, DSLR_WHITE_ADU).astype(np.uint16)


def _processed_picture(field: DemoField, stars: StarList) -> np.ndarray:
    """A processed stack in [0, 1]: (H, W) mono or (H, W, 3) colour.

    The stack of ``stacked_frames`` calibrated subframes has the noise of one divided by the
    square root of their number; flats took out vignetting and dust, darks the hot pixels,
    gradient removal the sky. Colour is calibrated so a Sun-like star is white, then the
    picture is stretched (arcsinh) above a black-point pedestal.
    """
    rng = np.random.default_rng(field.seed)
    if field.is_colour:
        sky, signal = _colour_layers(field, stars, rng)
        per_s: float | np.ndarray = np.array(DSLR_CHANNEL_FACTOR) * field.exposure_s
        read_noise = DSLR_READ_NOISE_ADU
    else:
        sky, signal = _light_layers(field, stars, rng)
        per_s = FILTER_STAR_FACTOR.get(field.filter_name or "L", 1.0) * field.exposure_s
        read_noise = READ_NOISE_ADU
    sigma = np.sqrt(np.maximum(signal, 0.0) + read_noise**2) / math.sqrt(field.stacked_frames)
    linear = (signal - sky + sigma * rng.standard_normal(signal.shape)) / per_s
    soft = STRETCH_SOFTENING_ADU_PER_S
    stretched = np.arcsinh(linear / soft) / math.asinh(STRETCH_WHITE_ADU_PER_S / soft)
    return np.clip(STRETCH_PEDESTAL + (1.0 - STRETCH_PEDESTAL) * stretched, 0.0, 1.0)


class _Sensor:
    """Fixed pattern of one simulated camera: hot pixels, column offsets, vignetting, dust."""

    def __init__(self, shape: tuple[int, int], seed: int = SENSOR_SEED) -> None:
        height, width = shape
        rng = np.random.default_rng(seed)
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


def _sky_tilt(
    shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel grids ``x`` (1, W) and ``y`` (H, 1), and the sky's relative level (H, W): 1 ± 6 %
    in a random direction (light pollution)."""
    y = np.arange(shape[0], dtype=np.float64)[:, np.newaxis]
    x = np.arange(shape[1], dtype=np.float64)[np.newaxis, :]
    gradient_pa = rng.uniform(0.0, 2.0 * math.pi)
    gradient = 0.12 * (
        math.cos(gradient_pa) * (x / shape[1] - 0.5) + math.sin(gradient_pa) * (y / shape[0] - 0.5)
    )
    return x, y, 1.0 + gradient


def _all_stars(field: DemoField, stars: StarList) -> StarList:
    """The catalogue stars followed by the faint ones (``_faint_stars``)."""
    ra, dec, mag = (np.asarray(a, dtype=np.float64) for a in stars)
    faint_ra, faint_dec, faint_mag = _faint_stars(field)
    return (
        np.concatenate((ra, faint_ra)),
        np.concatenate((dec, faint_dec)),
        np.concatenate((mag, faint_mag)),
    )


def _light_layers(
    field: DemoField, stars: StarList, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The sky alone, and sky + glows + stars, through the field's filter: (H, W) ADU before
    vignetting and noise."""
    wcs = true_wcs(field)
    shape = (field.height_px, field.width_px)
    filter_name = field.filter_name or "L"
    star_factor = FILTER_STAR_FACTOR.get(filter_name, 1.0) * field.exposure_s
    sky_factor = FILTER_SKY_FACTOR.get(filter_name, 1.0) * field.exposure_s

    x, y, tilt = _sky_tilt(shape, rng)
    sky = SKY_ADU_PER_S * sky_factor * tilt
    signal = sky.copy()

    for glow in field.glows:
        signal += _glow_image(wcs, glow, x, y, field.pixel_scale_arcsec) * star_factor

    ra, dec, mag = _all_stars(field, stars)
    px, py = wcs.all_world2pix(ra, dec, 0)
    flux = 10.0 ** (-0.4 * (mag - MAG_ZERO_POINT)) * star_factor
    # Seeing varies a little from star to star across the frame.
    sigma = field.psf_sigma_px * rng.uniform(0.95, 1.05, flux.size)
    _add_stars(signal, px, py, flux, sigma, _in_front(wcs, ra, dec))
    return sky, signal


def _colour_layers(
    field: DemoField, stars: StarList, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The sky alone, and sky + glows + stars, as the DSLR's R, G and B pixels see them:
    (H, W, 3) ADU before vignetting and noise."""
    wcs = true_wcs(field)
    shape = (field.height_px, field.width_px)
    channel = np.array(DSLR_CHANNEL_FACTOR) * field.exposure_s

    x, y, tilt = _sky_tilt(shape, rng)
    sky = (SKY_ADU_PER_S * tilt)[:, :, np.newaxis] * (channel * np.array(SKY_TINT_RGB))
    signal = sky.copy()

    for glow in field.glows:
        image = _glow_image(wcs, glow, x, y, field.pixel_scale_arcsec)
        signal += image[:, :, np.newaxis] * (channel * np.array(glow.colour_rgb))

    ra, dec, mag = _all_stars(field, stars)
    px, py = wcs.all_world2pix(ra, dec, 0)
    # Redder stars (larger B-V) give more R and less B than a Sun-like one.
    bv = np.clip(rng.normal(STAR_BV_MEAN, STAR_BV_SPREAD, ra.size), -0.3, 1.9)
    shift = STAR_TINT_PER_BV * (bv - STAR_BV_MEAN)
    tint = np.stack((10.0**shift, np.ones(ra.size), 10.0**-shift), axis=1)
    flux = (10.0 ** (-0.4 * (mag - MAG_ZERO_POINT)))[:, np.newaxis] * tint * channel
    sigma = field.psf_sigma_px * rng.uniform(0.95, 1.05, ra.size)
    _add_stars(signal, px, py, flux, sigma, _in_front(wcs, ra, dec))
    return sky, signal


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
    """Add circular Gaussian stars of total ``flux`` (ADU) centred at 0-based ``(px, py)``.

    ``image`` is (H, W) with ``flux`` of shape (n,), or (H, W, C) with ``flux`` (n, C).
    """
    height, width = image.shape[:2]
    for x0, y0, f, s, ok in zip(px, py, flux, sigma, valid, strict=True):
        brightest = float(np.max(f))
        if not ok or not (np.isfinite(x0) and np.isfinite(y0) and brightest > 0):
            continue
        peak = f / (2.0 * math.pi * s * s)
        # Stamp out to where the profile drops below 0.2 ADU, at least 3 sigma.
        top = brightest / (2.0 * math.pi * s * s)
        half = math.ceil(s * math.sqrt(2.0 * math.log(max(top / 0.2, 90.0))))
        x_lo, x_hi = max(math.floor(x0) - half, 0), min(math.floor(x0) + half + 2, width)
        y_lo, y_hi = max(math.floor(y0) - half, 0), min(math.floor(y0) + half + 2, height)
        if x_lo >= x_hi or y_lo >= y_hi:
            continue
        gx = np.exp(-0.5 * ((np.arange(x_lo, x_hi) - x0) / s) ** 2)
        gy = np.exp(-0.5 * ((np.arange(y_lo, y_hi) - y0) / s) ** 2)
        stamp = np.outer(gy, gx)
        if image.ndim == 3:
            image[y_lo:y_hi, x_lo:x_hi] += stamp[:, :, np.newaxis] * peak
        else:
            image[y_lo:y_hi, x_lo:x_hi] += peak * stamp


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


def _exif_times(field: DemoField) -> dict[int, str]:
    """DateTimeOriginal in the camera's local time, its hundredths and its UTC offset."""
    local = datetime.fromisoformat(field.date_obs) + timedelta(hours=field.utc_offset_h)
    return {
        _TAG_DATE_ORIGINAL: local.strftime("%Y:%m:%d %H:%M:%S"),
        _TAG_SUBSEC_ORIGINAL: f"{local.microsecond // 10000:02d}",
        _TAG_OFFSET_TIME_ORIGINAL: f"{field.utc_offset_h:+03d}:00",
    }


def _saved_time(field: DemoField) -> str:
    """EXIF/TIFF DateTime of a processed file: when it was saved, local time."""
    local = datetime.fromisoformat(field.date_obs) + timedelta(hours=field.utc_offset_h)
    return (local + PROCESSED_AFTER).strftime("%Y:%m:%d %H:%M:%S")


def _make(field: DemoField) -> str:
    """EXIF Make: the maker's name, which starts the camera name ("ZWO", "Canon")."""
    return field.camera.split()[0]


def _exif(field: DemoField) -> dict[int, Any]:
    """The EXIF tags a camera writes (and a converter keeps): exposure, ISO, date, optics.

    A processed TIFF records the total integration time; the JPEG keeps the EXIF of the first
    raw frame of its stack, as a raw converter and editor carry it along.
    """
    exposure_s = field.exposure_s
    if field.file_format == "tiff":
        exposure_s *= field.stacked_frames
    tags: dict[int, Any] = {
        _TAG_EXPOSURE: exposure_s,
        _TAG_FNUMBER: FOCAL_RATIO,
        **_exif_times(field),
        _TAG_FOCAL_LENGTH: field.focal_length_mm,
        # Pixels per inch of the sensor: the pixel size is 25400 µm / this.
        _TAG_FOCAL_PLANE_X: 25400.0 / field.pixel_size_um,
        _TAG_FOCAL_PLANE_Y: 25400.0 / field.pixel_size_um,
        _TAG_FOCAL_PLANE_UNIT: 2,  # inch
        _TAG_LENS_MODEL: field.telescope,
    }
    if field.is_colour:
        tags[_TAG_ISO] = DSLR_ISO
    return tags


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
    header["INSTRUME"] = (field.camera, "Imaging instrument name")
    header["SET-TEMP"] = (SET_TEMP_C, "[degC] CCD temperature setpoint")
    header["CCD-TEMP"] = (field.ccd_temp_c, "[degC] CCD temperature")
    header["READOUTM"] = ("Normal", "Sensor readout mode")
    header["TELESCOP"] = (field.telescope, "Name of telescope")
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


# TIFF/EXIF tag numbers. TIFF/EP (and so DNG) allows the EXIF tags in IFD0, where the DNG has
# them; TIFF and JPEG keep them in the EXIF IFD.
_TAG_IMAGE_DESCRIPTION, _TAG_MAKE, _TAG_MODEL, _TAG_ORIENTATION = 270, 271, 272, 274
_TAG_SOFTWARE, _TAG_DATETIME, _TAG_EXIF_IFD = 305, 306, 34665
_TAG_EXPOSURE, _TAG_FNUMBER, _TAG_ISO = 33434, 33437, 34855
_TAG_DATE_ORIGINAL, _TAG_OFFSET_TIME_ORIGINAL, _TAG_SUBSEC_ORIGINAL = 36867, 36881, 37521
_TAG_FOCAL_LENGTH, _TAG_LENS_MODEL = 37386, 42036
_TAG_FOCAL_PLANE_X, _TAG_FOCAL_PLANE_Y, _TAG_FOCAL_PLANE_UNIT = 41486, 41487, 41488
_TAG_CFA_REPEAT, _TAG_CFA_PATTERN = 33421, 33422
_TAG_DNG_VERSION, _TAG_DNG_BACKWARD_VERSION, _TAG_UNIQUE_CAMERA_MODEL = 50706, 50707, 50708
_TAG_BLACK_LEVEL, _TAG_WHITE_LEVEL, _TAG_COLOR_MATRIX_1 = 50714, 50717, 50721
_TAG_ILLUMINANT_1 = 50778
_PHOTOMETRIC_CFA = 32803
_D65 = 21  # EXIF LightSource code of CIE D65
_XISF_NS = "http://www.pixinsight.com/xisf"


def frame_bytes(field: DemoField, stars: StarList | None) -> bytes:
    """The complete file of one frame, in the format its name says (see the module docstring).

    Written in memory: every format's writer takes a stream, and comparing bytes is how
    ``write_demo_library`` leaves identical files alone.
    """
    data, header = render_frame(field, stars)
    return _WRITERS[field.file_format](field, data, header)


def _fits_bytes(field: DemoField, data: np.ndarray, header: fits.Header) -> bytes:
    """FITS, uint16 stored with BZERO 32768."""
    buffer = io.BytesIO()
    fits.PrimaryHDU(data=data, header=header).writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def _fits_value_text(value: Any) -> str:
    """A keyword value as the text of an XISF FITSKeyword element (FITS card syntax)."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _xisf_properties(field: DemoField) -> list[tuple[str, str, Any]]:
    """The XISF properties N.I.N.A. writes beside the FITS keywords: (id, type, value)."""
    ra_deg, dec_deg = field.header_ra_dec_deg
    start = datetime.fromisoformat(field.date_obs)
    end = start + timedelta(seconds=field.exposure_s)
    return [
        ("Instrument:Camera:Name", "String", field.camera),
        ("Instrument:Camera:XBinning", "Int32", BINNING),
        ("Instrument:Camera:YBinning", "Int32", BINNING),
        ("Instrument:ExposureTime", "Float32", field.exposure_s),
        ("Instrument:Filter:Name", "String", field.filter_name),
        ("Instrument:Sensor:Temperature", "Float32", field.ccd_temp_c),
        ("Instrument:Sensor:TargetTemperature", "Float32", SET_TEMP_C),
        ("Instrument:Sensor:XPixelSize", "Float32", field.pixel_size_um),
        ("Instrument:Sensor:YPixelSize", "Float32", field.pixel_size_um),
        ("Instrument:Telescope:Name", "String", field.telescope),
        # XISF gives lengths in metres.
        ("Instrument:Telescope:FocalLength", "Float32", field.focal_length_mm / 1000.0),
        ("Instrument:Telescope:Aperture", "Float32", TELESCOPE_APERTURE_M),
        ("Observation:Object:Name", "String", field.object_name),
        ("Observation:Object:RA", "Float64", round(ra_deg, 6)),
        ("Observation:Object:Dec", "Float64", round(dec_deg, 6)),
        ("Observation:Location:Latitude", "Float64", SITE_LAT_DEG),
        ("Observation:Location:Longitude", "Float64", SITE_LONG_DEG),
        ("Observation:Location:Elevation", "Float64", SITE_ELEV_M),
        ("Observation:Time:Start", "TimePoint", start.isoformat(timespec="milliseconds") + "Z"),
        ("Observation:Time:End", "TimePoint", end.isoformat(timespec="milliseconds") + "Z"),
    ]


def _xisf_property(parent: ET.Element, prop_id: str, prop_type: str, value: Any) -> None:
    if value is None:
        return
    if prop_type == "String":
        ET.SubElement(parent, "Property", {"id": prop_id, "type": prop_type}).text = str(value)
    else:
        text = repr(round(value, 6)) if isinstance(value, float) else str(value)
        ET.SubElement(parent, "Property", {"id": prop_id, "type": prop_type, "value": text})


def _xisf_bytes(field: DemoField, data: np.ndarray, header: fits.Header) -> bytes:
    """XISF 1.0 as N.I.N.A. writes it: one uint16 mono image in an attached data block, zlib
    with byte shuffling, the FITS keywords and the XISF properties.

    Written here rather than with the ``xisf`` package, which stamps the current time into
    ``XISF:CreationTime``: the demo files must come out byte-identical on every run.
    """
    height, width = data.shape
    raw = np.ascontiguousarray(data, dtype="<u2").tobytes()
    # Byte shuffling: every sample's low byte, then every high byte (compresses better).
    shuffled = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2).T.tobytes()
    block = zlib.compress(shuffled, XISF_ZLIB_LEVEL)
    root = ET.Element(
        "xisf",
        {
            "version": "1.0",
            "xmlns": _XISF_NS,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": f"{_XISF_NS} http://pixinsight.com/xisf/xisf-1.0.xsd",
        },
    )
    image = ET.SubElement(
        root,
        "Image",
        {
            "geometry": f"{width}:{height}:1",
            "sampleFormat": "UInt16",
            "colorSpace": "Gray",
            "compression": f"zlib+sh:{len(raw)}:2",
            "location": "",
        },
    )
    for card in header.cards:
        ET.SubElement(
            image,
            "FITSKeyword",
            {"name": card.keyword, "value": _fits_value_text(card.value), "comment": card.comment},
        )
    for prop_id, prop_type, value in _xisf_properties(field):
        _xisf_property(image, prop_id, prop_type, value)
    metadata = ET.SubElement(root, "Metadata")
    saved = datetime.fromisoformat(field.date_obs) + timedelta(seconds=field.exposure_s + 2.0)
    _xisf_property(
        metadata, "XISF:CreationTime", "String", saved.isoformat(timespec="seconds") + "Z"
    )
    _xisf_property(metadata, "XISF:CreatorApplication", "String", SOFTWARE)
    _xisf_property(metadata, "XISF:BlockAlignmentSize", "UInt16", XISF_BLOCK_ALIGNMENT)
    _xisf_property(metadata, "XISF:CompressionCodecs", "String", "zlib+sh")
    # The data block starts at the first aligned offset after the header, which names that
    # offset: grow it until the header fits in front of it.
    position = XISF_BLOCK_ALIGNMENT
    while True:
        image.set("location", f"attachment:{position}:{len(block)}")
        # (ET writes no declaration of its own for UTF-8.)
        xml = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8")
        head = b"XISF0100" + len(xml).to_bytes(4, "little") + bytes(4) + xml
        if len(head) <= position:
            break
        position = -(-len(head) // XISF_BLOCK_ALIGNMENT) * XISF_BLOCK_ALIGNMENT
    return head + bytes(position - len(head)) + block


def _rationals(values: Any) -> tuple[int, ...]:
    """Numbers as TIFF RATIONALs to 1/1000: flat (numerator, denominator) pairs."""
    pairs: list[int] = []
    for value in np.atleast_1d(values):
        numerator = round(float(value) * 1000)
        divisor = math.gcd(numerator, 1000)
        pairs += [numerator // divisor, 1000 // divisor]
    return tuple(pairs)


def _tifffile_tag(code: int, value: Any) -> tuple[int, str, int, Any, bool]:
    """An ``extratags`` entry of tifffile: strings ASCII, ints SHORT, floats RATIONAL."""
    if isinstance(value, str):
        return code, "s", 0, value, True
    if isinstance(value, int):
        return code, "H", 1, value, True
    return code, "2I", 1, _rationals(value), True


def _dng_bytes(field: DemoField, data: np.ndarray, header: fits.Header) -> bytes:
    """A DNG of the raw mosaic: uncompressed 14-bit RGGB CFA with the camera's EXIF in IFD0.

    An identity colour matrix and no white balance (AsShotNeutral): decoded, the picture has
    the raw colours of the mosaic, with no colour science.
    """
    tags: list[tuple[int, str, int, Any, bool]] = [
        (_TAG_DNG_VERSION, "B", 4, (1, 4, 0, 0), True),
        (_TAG_DNG_BACKWARD_VERSION, "B", 4, (1, 1, 0, 0), True),
        (_TAG_UNIQUE_CAMERA_MODEL, "s", 0, field.camera, True),
        (_TAG_CFA_REPEAT, "H", 2, (2, 2), True),
        (_TAG_CFA_PATTERN, "B", 4, (0, 1, 1, 2), True),  # R G / G B
        (_TAG_BLACK_LEVEL, "H", 1, DSLR_BLACK_ADU, True),
        (_TAG_WHITE_LEVEL, "H", 1, DSLR_WHITE_ADU, True),
        (_TAG_COLOR_MATRIX_1, "2i", 9, _rationals(np.eye(3).ravel()), True),
        (_TAG_ILLUMINANT_1, "H", 1, _D65, True),
        _tifffile_tag(_TAG_MAKE, _make(field)),
        _tifffile_tag(_TAG_MODEL, field.camera),
        _tifffile_tag(_TAG_ORIENTATION, 1),  # top-left: rows top-down
        *(_tifffile_tag(code, value) for code, value in _exif(field).items()),
    ]
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        data,
        photometric=_PHOTOMETRIC_CFA,
        extratags=tags,
        software=DSLR_SOFTWARE,
        metadata=None,
    )
    return buffer.getvalue()


def _tiff_bytes(field: DemoField, data: np.ndarray, header: fits.Header) -> bytes:
    """A 16-bit mono TIFF with its EXIF IFD, uncompressed (Pillow writes the EXIF IFD only
    without compression; tifffile cannot write one)."""
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[_TAG_IMAGE_DESCRIPTION] = (
        f"{field.object_name}: {field.stacked_frames} x {field.exposure_s:g} s "
        f"{field.filter_name or ''}, integrated and stretched"
    )
    info[_TAG_MAKE] = _make(field)
    info[_TAG_MODEL] = field.camera
    info[_TAG_SOFTWARE] = PROCESSED_SOFTWARE_TIFF
    info[_TAG_DATETIME] = _saved_time(field)
    info[_TAG_EXIF_IFD] = _exif(field)
    info.tagtype[_TAG_EXIF_IFD] = TiffTags.LONG
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="TIFF", tiffinfo=info)
    return buffer.getvalue()


def _jpeg_bytes(field: DemoField, data: np.ndarray, header: fits.Header) -> bytes:
    """An 8-bit colour JPEG with the camera's EXIF and the editor's Software/DateTime."""
    exif = Image.Exif()
    exif[_TAG_MAKE] = _make(field)
    exif[_TAG_MODEL] = field.camera
    exif[_TAG_SOFTWARE] = PROCESSED_SOFTWARE_JPEG
    exif[_TAG_DATETIME] = _saved_time(field)
    exif.get_ifd(_TAG_EXIF_IFD).update(_exif(field))
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="JPEG", quality=JPEG_QUALITY, exif=exif)
    return buffer.getvalue()


_WRITERS: dict[str, Callable[[DemoField, np.ndarray, fits.Header], bytes]] = {
    "fits": _fits_bytes,
    "xisf": _xisf_bytes,
    "raw": _dng_bytes,
    "tiff": _tiff_bytes,
    "jpeg": _jpeg_bytes,
}


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

    ``star_source(ra_deg, dec_deg, radius_deg)`` is asked once per frame that shows the sky
    (light and processed frames) for the catalogue stars around its true centre. Re-running on
    the same folder rewrites nothing that is already identical (files keep their bytes and
    modification times). Each file is written to a temporary name and renamed, so a reader
    never sees half a frame.

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
        if field.shows_sky:
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
