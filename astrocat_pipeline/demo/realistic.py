"""Realistic light frames for tests and benchmarks: what cameras really record, with the truth.

The demo library (:mod:`.library`) draws its frames from the solver's own index stars on a clean
sky, so their brightest detections are exactly the stars the solver matches, in its order. The
frames made here are meant to break a star finder or a solver the way users' frames do:

- **Stars** from a real catalogue plus a faint population. :class:`CatalogSky` gives the real
  stars: every Hipparcos star (its magnitude Hp and B-V colour), plus the Tycho-2 stars that
  the installed astrometry.net index files hold and Hipparcos lacks (the real sky has them; a
  frame without them could not be matched by index files that go to magnitude 10-12). The
  faint population fills the number counts up to the frame's limiting magnitude: cumulative
  counts ``N(<m)`` rise ×3 per magnitude to m = 12 and ×2.2 per magnitude beyond (the
  flattening of star counts, e.g. Allen's Astrophysical Quantities), scaled to the field's own
  density of Hipparcos stars brighter than m = 8 within 5° (the Milky Way is denser), at random
  positions with random colours. Index stars are a small minority of what a frame shows.
- **Brightness order differs from the catalogue's**: the magnitude a frame records is
  ``V + colour_term(filter) × (B-V)`` plus a random scatter (variability, bandpass mismatch);
  one-shot-colour frames weigh each Bayer pixel by the star's colour in that channel.
- **Optics and sky**: Gaussian PSF from seeing and optics (at least ``OPTICS_FWHM_PX``),
  tracking elongation, defocus (a donut), saturation; sky gradient, vignetting, amp glow,
  large diffuse nebulosity, partial cloud (dimming and scattered light), a foreground
  silhouette (trees or a roof) over the bottom of the picture.
- **Sensor**: hot pixels, a hot column, cosmic rays, satellite trails, shot and read noise, a
  pedestal; binning; Bayer mosaics for each pattern with the keywords capture software writes.
- **Headers** as N.I.N.A. writes them (RA/DEC, OBJCTRA/OBJCTDEC with a pointing error, FOCALLEN,
  XPIXSZ (binned), XBINNING, DATE-OBS, EXPTIME, FILTER, BAYERPAT/XBAYROFF/YBAYROFF, PIERSIDE,
  ROWORDER = 'TOP-DOWN').

Everything is deterministic: a :class:`FrameSpec` (with its seed) and the same catalogue give the
same pixels. Pixel convention: :attr:`RealisticFrame.wcs` maps the 0-based array coordinates
``(x=column, y=row)`` of the array as written (and as ``core.loading.load_image`` returns it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.core.debayer import BAYER_PATTERNS, normalize_bayer_pattern
from astrocat_pipeline.core.wcs_geometry import offset_by

__all__ = [
    "CONDITIONS",
    "CatalogSky",
    "FrameSpec",
    "RealisticFrame",
    "SkyStars",
    "condition_spec",
    "night_sequence",
    "render_frame",
    "write_fits",
]

# --- where the numbers come from -----------------------------------------------------------

# Cumulative star counts per square degree brighter than V = 6 over the whole sky (about 5,000
# naked-eye stars / 41,253 deg²), rising ×3 per magnitude to V = 12 (Tycho-2's 2.5 million stars
# to V ≈ 11.5 give 60 /deg², this law 51) and ×2.2 per magnitude beyond, where counts flatten.
_COUNT_AT_6_PER_DEG2 = 0.12
_COUNT_RATIO_BRIGHT = 3.0
_COUNT_RATIO_FAINT = 2.2
_COUNT_KNEE_MAG = 12.0
# Hipparcos is complete to V ≈ 8: its count brighter than that within this radius sets the
# field's star density relative to the sky average (bounded: a 5° circle holds ~85 such stars).
_DENSITY_MAG = 8.0
_DENSITY_RADIUS_DEG = 5.0
_DENSITY_BOUNDS = (0.3, 6.0)
# A frame's stars are sampled at this magnitude step when filling the counts.
_MAG_STEP = 0.1
# The faintest stars rendered: a little beyond the limit (they still add up to a grainy sky).
_RENDER_BEYOND_LIMIT_MAG = 0.5
# The PSF of the optics alone (lenses and small refractors are rarely sharper than this).
OPTICS_FWHM_PX = 1.5
# Stamps extend this many sigmas of the PSF's major axis.
_STAMP_SIGMAS = 3.5
# Photometry: gain 1 e-/ADU, read noise and a pedestal typical of a cooled CMOS camera; the
# limiting magnitude is where a star's optimal S/N is 5.
_READ_NOISE_E = 3.5
_PEDESTAL_ADU = 500.0
_FULL_WELL_ADU = 65535.0
_LIMIT_SNR = 5.0
# Colour terms (mag per mag of B-V) and scatter of the magnitude a filter records against V.
FILTER_COLOUR_TERMS = {"L": 0.0, "R": -0.5, "G": 0.0, "B": 0.7, "Ha": -0.6, "OSC": 0.0}
_MAG_SCATTER = 0.15
# One-shot colour: relative channel response per mag of B-V around a solar colour (0.65).
_CHANNEL_COLOUR_TERMS = {"R": -0.5, "G": 0.0, "B": 0.7}
_SOLAR_B_V = 0.65
# Narrowband: stars are this much fainter (a 7 nm H-alpha filter passes ~2 % of V's band).
_HA_DIMMING_MAG = 4.0
# A 26 Mpx APS-C sensor (IMX571) and a 62 Mpx full-frame one (IMX455): pixels and pitch.
SENSOR_26MP = (6248, 4176, 3.76)
SENSOR_62MP = (9576, 6388, 3.76)


@dataclass(frozen=True)
class SkyStars:
    """Stars of a patch of sky: ICRS degrees, V magnitude, B-V colour, and whether the star is
    one of the solver's index stars (for counting how few of the detections they are)."""

    ra_deg: np.ndarray
    dec_deg: np.ndarray
    v_mag: np.ndarray
    b_v: np.ndarray
    in_index: np.ndarray

    def take(self, keep: np.ndarray) -> SkyStars:
        return SkyStars(*(getattr(self, f.name)[keep] for f in dataclasses.fields(self)))


class CatalogSky:
    """The real stars: Hipparcos (loaded once per instance) and the index files' Tycho-2 stars.

    Parameters
    ----------
    index_dir : Path, optional
        astrometry.net index files to add the stars of (see the module docstring); None for
        Hipparcos alone.
    """

    def __init__(self, index_dir: Path | None = None) -> None:
        from astrocat_pipeline.adapters.bright_stars import load_hipparcos_sky

        self.index_dir = index_dir
        ra, dec, mag, b_v = load_hipparcos_sky()
        self._hip = (ra, dec, mag, b_v)
        self._hip_xyz = _unit(ra, dec)

    def stars(self, ra_deg: float, dec_deg: float, radius_deg: float) -> SkyStars:
        """Every catalogue star within ``radius_deg``; an index star that Hipparcos also has
        (within 5") is kept once, with Hipparcos's magnitude and colour."""
        centre = _unit(np.array([ra_deg]), np.array([dec_deg]))[0]
        near = self._hip_xyz @ centre >= math.cos(math.radians(radius_deg))
        ra, dec, mag, b_v = (column[near] for column in self._hip)
        in_index = np.zeros(len(ra), dtype=bool)
        if self.index_dir is not None:
            from astrocat_pipeline.adapters.star_index import list_index_stars

            i_ra, i_dec, i_mag = list_index_stars(ra_deg, dec_deg, radius_deg, self.index_dir)
            if len(i_ra):
                hip_xyz, idx_xyz = _unit(ra, dec), _unit(i_ra, i_dec)
                close = math.cos(math.radians(5.0 / 3600.0))
                in_hip = _has_match(idx_xyz, hip_xyz, close)
                in_index |= _has_match(hip_xyz, idx_xyz, close)
                new = ~in_hip
                # Tycho-2 stars beyond Hipparcos: colours as the field's stars have them.
                rng = np.random.default_rng(_seed_of(ra_deg, dec_deg))
                ra = np.r_[ra, i_ra[new]]
                dec = np.r_[dec, i_dec[new]]
                mag = np.r_[mag, i_mag[new]]
                b_v = np.r_[b_v, rng.normal(0.7, 0.35, int(new.sum()))]
                in_index = np.r_[in_index, np.ones(int(new.sum()), dtype=bool)]
        return SkyStars(ra, dec, mag, b_v, in_index)

    def density_scale(self, ra_deg: float, dec_deg: float) -> float:
        """The field's star density against the sky average, from Hipparcos stars brighter
        than V = 8 within 5° (bounded to ``_DENSITY_BOUNDS``)."""
        centre = _unit(np.array([ra_deg]), np.array([dec_deg]))[0]
        near = self._hip_xyz @ centre >= math.cos(math.radians(_DENSITY_RADIUS_DEG))
        count = int(np.count_nonzero(near & (self._hip[2] < _DENSITY_MAG)))
        area = (
            2 * math.pi * (1 - math.cos(math.radians(_DENSITY_RADIUS_DEG))) * (180 / math.pi) ** 2
        )
        expected = cumulative_count_per_deg2(_DENSITY_MAG) * area
        return float(np.clip(count / expected, *_DENSITY_BOUNDS))


def cumulative_count_per_deg2(mag: float | np.ndarray) -> np.ndarray:
    """Stars per square degree brighter than ``mag`` (V), averaged over the sky."""
    m = np.asarray(mag, dtype=np.float64)
    bright = _COUNT_AT_6_PER_DEG2 * _COUNT_RATIO_BRIGHT ** (np.minimum(m, _COUNT_KNEE_MAG) - 6.0)
    return bright * _COUNT_RATIO_FAINT ** np.maximum(m - _COUNT_KNEE_MAG, 0.0)


@dataclass(frozen=True)
class FrameSpec:
    """One frame to render: pointing, optics, sensor, conditions and what the header says.

    Widths are of the frame's long (x) side. Fractions are of the sky level unless said.
    """

    ra_deg: float
    dec_deg: float
    width_deg: float
    width_px: int = 1200
    height_px: int = 800
    seed: int = 0
    rotation_deg: float = 0.0  # position angle of the picture's up (+y), east of north
    flipped: bool = False
    seeing_arcsec: float = 2.5
    elongation: float = 1.0  # major / minor axis of the PSF (tracking error)
    elongation_angle_deg: float = 30.0
    defocus_px: float = 0.0  # outer radius of a donut (0: in focus)
    limiting_mag: float | None = None  # None: from the field width (see ``default_limit``)
    exposure_s: float = 120.0
    filter_name: str = "L"
    sky_adu: float = 800.0  # sky background above the pedestal (e- = ADU)
    gradient: float = 0.0  # sky change from one edge to the other (fraction of the sky)
    vignetting: float = 0.0  # light lost in the corners (fraction)
    amp_glow: float = 0.0  # glow at one corner (fraction of the sky)
    nebulosity: float = 0.0  # peak of diffuse nebulosity (fraction of the sky)
    hot_pixels: int = 0
    hot_column: bool = False
    cosmic_rays: int = 0
    satellite_trails: int = 0
    cloud: float = 0.0  # fraction of the frame under cloud
    foreground: float = 0.0  # fraction of the height covered by trees or a roof (bottom)
    bayer_pattern: str | None = None  # pattern at the array's origin; None: mono
    bayer_offset: tuple[int, int] = (0, 0)  # XBAYROFF, YBAYROFF written to the header
    binning: int = 1
    pixel_size_um: float = 3.76  # unbinned
    pointing_error_arcmin: float = 2.0  # how far the header's RA/DEC is from the truth
    hint_offset_deg: tuple[float, float] | None = None  # header pointing: (east, north) of truth
    pier_side: str = "West"
    object_name: str = "FIELD"
    date_obs: datetime = datetime(2026, 3, 14, 21, 0, 0)

    @property
    def pixel_scale_arcsec(self) -> float:
        return self.width_deg * 3600.0 / self.width_px

    @property
    def height_deg(self) -> float:
        return self.width_deg * self.height_px / self.width_px

    @property
    def focal_length_mm(self) -> float:
        """The focal length the header gives, from the binned pixel and the scale."""
        return 206.264806 * self.pixel_size_um * self.binning / self.pixel_scale_arcsec

    def default_limit(self) -> float:
        """Limiting magnitude of a sub-exposure: deeper for narrower (larger-aperture) optics
        (16 at 0.5°, 15.3 at 1°, 11.5 at 40°), 2.5 log10 shallower per factor of exposure time
        below 120 s (S/N of a sky-limited faint star goes with sqrt(t))."""
        limit = 15.3 - 2.4 * math.log10(self.width_deg)
        if self.exposure_s < 120.0:
            limit -= 1.25 * math.log10(120.0 / self.exposure_s)
        if self.filter_name == "Ha":
            limit -= _HA_DIMMING_MAG / 2.0  # the sky is darker too: S/N loses half of it
        return limit


@dataclass(frozen=True)
class RealisticFrame:
    """A rendered frame: pixels (uint16, as written), header, the true WCS, and the truth."""

    data: np.ndarray
    header: fits.Header
    wcs: WCS
    spec: FrameSpec
    # Rendered stars, brightest (in the frame's own light) first: array x, y (0-based), flux in
    # ADU (before vignetting, cloud and foreground), V magnitude, index membership.
    star_x: np.ndarray
    star_y: np.ndarray
    star_flux: np.ndarray
    star_v_mag: np.ndarray
    star_in_index: np.ndarray
    visible: np.ndarray  # not behind the foreground nor deep in cloud
    fwhm_px: float
    hot_pixel_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    cosmic_ray_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    hot_column_x: int | None = None
    trails: tuple[tuple[float, float, float, float], ...] = ()  # (x0, y0, x1, y1) per trail
    foreground_top: np.ndarray | None = None  # per column: rows below this are foreground

    def brightest(self, count: int) -> np.ndarray:
        """Indices of the ``count`` brightest visible stars inside the frame."""
        inside = (
            self.visible
            & (self.star_x >= 0)
            & (self.star_x <= self.spec.width_px - 1)
            & (self.star_y >= 0)
            & (self.star_y <= self.spec.height_px - 1)
        )
        return np.flatnonzero(inside)[:count]


# --- conditions -----------------------------------------------------------------------------

# Named conditions for tests and the benchmark: each changes one thing of a clear frame.
CONDITIONS: dict[str, dict[str, object]] = {
    "clear": {},
    "gradient_vignetting": {"gradient": 0.6, "vignetting": 0.45, "amp_glow": 1.5},
    "nebulosity": {"nebulosity": 3.0},
    "sensor_defects": {"hot_pixels": 400, "hot_column": True, "cosmic_rays": 60},
    "satellite_trail": {"satellite_trails": 2},
    "trailed_stars": {"elongation": 2.5},
    "defocused": {"defocus_px": 6.0},
    "partial_cloud": {"cloud": 0.4},
    "foreground": {"foreground": 0.3},
    "short_exposure": {"exposure_s": 2.0, "sky_adu": 15.0},
    "narrowband_ha": {"filter_name": "Ha", "sky_adu": 60.0},
    "bayer_rggb": {"bayer_pattern": "RGGB", "filter_name": "OSC"},
    "bayer_gbrg_offset": {"bayer_pattern": "GBRG", "filter_name": "OSC", "bayer_offset": (1, 1)},
    "binned_2x2": {"binning": 2},
    "meridian_flip": {"rotation_deg": 180.0, "pier_side": "East"},
    "everything": {
        "gradient": 0.4,
        "vignetting": 0.3,
        "nebulosity": 1.5,
        "hot_pixels": 200,
        "hot_column": True,
        "cosmic_rays": 30,
        "satellite_trails": 1,
        "elongation": 1.5,
        "cloud": 0.2,
        "foreground": 0.15,
    },
}


def condition_spec(base: FrameSpec, condition: str) -> FrameSpec:
    """``base`` with one named condition of :data:`CONDITIONS` applied."""
    return dataclasses.replace(base, **CONDITIONS[condition])  # type: ignore[arg-type]


def night_sequence(
    base: FrameSpec, count: int, *, dither_arcmin: float = 1.0, flip_after: int | None = None
) -> list[FrameSpec]:
    """Frames of one target in one night: each dithered by up to ``dither_arcmin`` around the
    target, one exposure apart; after ``flip_after`` frames the mount flips (rotation + 180°,
    pier side East)."""
    rng = np.random.default_rng(base.seed + 7919)
    specs = []
    for number in range(count):
        offset = rng.uniform(-dither_arcmin, dither_arcmin, 2) / 60.0
        ra, dec = _move(base.ra_deg, base.dec_deg, float(offset[0]), float(offset[1]))
        flipped = flip_after is not None and number >= flip_after
        specs.append(
            dataclasses.replace(
                base,
                ra_deg=ra,
                dec_deg=dec,
                seed=base.seed * 1000 + number,
                rotation_deg=(base.rotation_deg + (180.0 if flipped else 0.0)) % 360.0,
                pier_side="East" if flipped else base.pier_side,
                date_obs=base.date_obs + timedelta(seconds=number * (base.exposure_s + 10.0)),
            )
        )
    return specs


# --- rendering ------------------------------------------------------------------------------


def true_wcs(spec: FrameSpec) -> WCS:
    """The TAN WCS of the array (row 0 first, the picture's top: ROWORDER = 'TOP-DOWN')."""
    scale_deg = spec.pixel_scale_arcsec / 3600.0
    theta = math.radians(spec.rotation_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    east_x = 1.0 if spec.flipped else -1.0
    up_y = -1.0  # top-down rows: the picture's up is -y
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [spec.ra_deg % 360.0, spec.dec_deg]
    wcs.wcs.crpix = [(spec.width_px + 1) / 2.0, (spec.height_px + 1) / 2.0]
    wcs.wcs.cd = np.array([[east_x * cos_t, up_y * sin_t], [-east_x * sin_t, up_y * cos_t]])
    wcs.wcs.cd = wcs.wcs.cd * scale_deg
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    wcs.pixel_shape = (spec.width_px, spec.height_px)
    return wcs


def render_frame(spec: FrameSpec, sky: CatalogSky) -> RealisticFrame:
    """Render ``spec`` with the stars of ``sky``: deterministic for a given spec and sky."""
    rng = np.random.default_rng(spec.seed)
    height, width = spec.height_px, spec.width_px
    wcs = true_wcs(spec)
    limit = spec.limiting_mag if spec.limiting_mag is not None else spec.default_limit()
    faintest = limit + _RENDER_BEYOND_LIMIT_MAG
    radius = 0.5 * math.hypot(spec.width_deg, spec.height_deg) * 1.02
    stars = sky.stars(spec.ra_deg, spec.dec_deg, radius)
    stars = stars.take(stars.v_mag <= faintest)
    stars = _with_faint_population(stars, spec, sky, faintest, radius, rng)
    x, y = wcs.wcs_world2pix(stars.ra_deg, stars.dec_deg, 0)
    margin = 10.0
    on = (x > -margin) & (x < width - 1 + margin) & (y > -margin) & (y < height - 1 + margin)
    stars, x, y = stars.take(on), x[on], y[on]

    # What the frame records: its filter's colour term and a random scatter.
    term = FILTER_COLOUR_TERMS.get(spec.filter_name, 0.0)
    inst_mag = stars.v_mag + term * (stars.b_v - _SOLAR_B_V)
    inst_mag = inst_mag + rng.normal(0.0, _MAG_SCATTER, len(inst_mag))
    if spec.filter_name == "Ha":
        inst_mag = inst_mag + _HA_DIMMING_MAG

    fwhm = math.hypot(spec.seeing_arcsec / spec.pixel_scale_arcsec, OPTICS_FWHM_PX)
    sigma = fwhm / 2.3548
    noise_e = math.sqrt(spec.sky_adu + _READ_NOISE_E**2)
    # Flux at the limiting magnitude: S/N 5 with an optimal (PSF-weighted) measure.
    limit_flux = (
        _LIMIT_SNR * noise_e * math.sqrt(4.0 * math.pi) * sigma * max(1.0, spec.elongation) ** 0.5
    )
    if spec.defocus_px > 0:
        limit_flux *= max(1.0, spec.defocus_px / sigma)
    limit_inst = limit + (_HA_DIMMING_MAG if spec.filter_name == "Ha" else 0.0)
    flux = limit_flux * 10.0 ** (-0.4 * (inst_mag - limit_inst))
    order = np.argsort(-flux, kind="stable")
    stars, x, y, flux = stars.take(order), x[order], y[order], flux[order]

    # Light that reaches the sensor: vignetting, cloud and foreground multiply it.
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    aspect = height / width
    r2 = (xx**2 + (yy * aspect) ** 2) / (1.0 + aspect**2)  # 1 at the corners
    transmission = np.ones((height, width), dtype=np.float32)
    if spec.vignetting > 0:
        transmission *= (1.0 - spec.vignetting * r2).astype(np.float32)
    cloud = np.zeros((height, width), dtype=np.float32)
    if spec.cloud > 0:
        cloud = _cloud_mask(height, width, spec.cloud, rng)
        transmission *= (10.0 ** (-0.4 * 4.0 * cloud)).astype(np.float32)  # up to 4 mag
    foreground_top = None
    if spec.foreground > 0:
        foreground_top = _foreground_profile(width, height, spec.foreground, rng)
        rows = np.arange(height)[:, None]
        transmission[rows >= foreground_top[None, :]] = 0.0

    image = np.zeros((height, width), dtype=np.float32)
    colour = None
    if spec.bayer_pattern is not None:
        pattern = normalize_bayer_pattern(spec.bayer_pattern)
        colour = np.stack(
            [10.0 ** (-0.4 * _CHANNEL_COLOUR_TERMS[c] * (stars.b_v - _SOLAR_B_V)) for c in pattern],
            axis=1,
        ).astype(np.float32)  # (N, 4): weight in each cell position of the 2×2 pattern
    _add_stars(image, x, y, flux, spec, sigma, colour)

    # The sky: level, gradient, amp glow, nebulosity (nebulosity and sky also pass the optics).
    angle = rng.uniform(0, 2 * math.pi)
    sky_map = spec.sky_adu * (
        1.0 + spec.gradient * 0.5 * (math.cos(angle) * xx + math.sin(angle) * yy)
    )
    if spec.nebulosity > 0:
        sky_map = sky_map + spec.sky_adu * spec.nebulosity * _nebulosity(height, width, rng)
    image += sky_map.astype(np.float32)
    image *= transmission
    if spec.cloud > 0:  # scattered light from the cloud
        image += (0.5 * spec.sky_adu * cloud).astype(np.float32)
    if foreground_top is not None:  # a dark silhouette, faintly lit by light pollution
        rows = np.arange(height)[:, None]
        image[rows >= foreground_top[None, :]] += 0.1 * spec.sky_adu
    if spec.amp_glow > 0:
        corner = np.hypot(xx + 1.0, (yy - 1.0) * aspect)
        image += (spec.amp_glow * spec.sky_adu * np.exp(-corner / 0.15)).astype(np.float32)

    trails = []
    for _ in range(spec.satellite_trails):
        trails.append(_add_trail(image, rng, sigma, spec.sky_adu))

    # Shot and read noise, pedestal.
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise *= np.sqrt(np.maximum(image, 0.0) + _READ_NOISE_E**2)
    image += noise
    image += _PEDESTAL_ADU

    hot_xy = np.zeros((0, 2))
    if spec.hot_pixels:
        hot_xy = np.c_[
            rng.integers(0, width, spec.hot_pixels), rng.integers(0, height, spec.hot_pixels)
        ]
        image[hot_xy[:, 1], hot_xy[:, 0]] += rng.uniform(2000, 60000, spec.hot_pixels).astype(
            np.float32
        )
    hot_column = None
    if spec.hot_column:
        hot_column = int(rng.integers(width // 8, width - width // 8))
        start = int(rng.integers(0, height // 2))
        image[start:, hot_column] += float(rng.uniform(800, 3000))
    cr_xy = np.zeros((0, 2))
    if spec.cosmic_rays:
        cr_xy = _add_cosmic_rays(image, rng, spec.cosmic_rays)

    data = np.clip(np.rint(image), 0, _FULL_WELL_ADU).astype(np.uint16)
    visible = _visible(x, y, transmission, width, height)
    header = _header(spec, limit)
    return RealisticFrame(
        data=data,
        header=header,
        wcs=wcs,
        spec=spec,
        star_x=x,
        star_y=y,
        star_flux=flux,
        star_v_mag=stars.v_mag,
        star_in_index=stars.in_index,
        visible=visible,
        fwhm_px=fwhm,
        hot_pixel_xy=hot_xy,
        cosmic_ray_xy=cr_xy,
        hot_column_x=hot_column,
        trails=tuple(trails),
        foreground_top=foreground_top,
    )


def write_fits(frame: RealisticFrame, path: Path) -> Path:
    """Write the frame as capture software does: unsigned 16-bit (BZERO 32768), no WCS."""
    # astropy stores uint16 as int16 with BZERO = 32768 by itself (on a copy: the frame's
    # array is left alone).
    hdu = fits.PrimaryHDU(data=frame.data.copy(), header=frame.header.copy())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    hdu.writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path


# --- helpers ----------------------------------------------------------------------------------


def _unit(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _has_match(points: np.ndarray, others: np.ndarray, min_cos: float) -> np.ndarray:
    """For each unit vector of ``points``: whether one of ``others`` is within the angle whose
    cosine is ``min_cos`` (in blocks, so that a 40° field's 20,000 × 5,000 stars stay small)."""
    found = np.zeros(len(points), dtype=bool)
    if len(points) == 0 or len(others) == 0:
        return found
    step = max(1, 2_000_000 // len(others))
    for start in range(0, len(points), step):
        found[start : start + step] = (points[start : start + step] @ others.T).max(
            axis=1
        ) >= min_cos
    return found


def _move(ra_deg: float, dec_deg: float, east_deg: float, north_deg: float) -> tuple[float, float]:
    """A position moved by ``east_deg`` and ``north_deg`` (on the sky, great circle)."""
    sep = math.hypot(east_deg, north_deg)
    pa = math.degrees(math.atan2(east_deg, north_deg))
    ra, dec = offset_by(np.array([ra_deg]), np.array([dec_deg]), np.array(sep), np.array(pa))
    return float(ra[0]), float(dec[0])


def _seed_of(ra_deg: float, dec_deg: float) -> int:
    return round(float(ra_deg * 1000)) * 200_000 + round(float((dec_deg + 90) * 1000))


def _with_faint_population(
    stars: SkyStars,
    spec: FrameSpec,
    sky: CatalogSky,
    faintest: float,
    radius_deg: float,
    rng: np.random.Generator,
) -> SkyStars:
    """Add random stars so that the counts per magnitude step reach the luminosity function
    (scaled to the field's density); catalogue stars already there count towards it."""
    area = 2 * math.pi * (1 - math.cos(math.radians(radius_deg))) * (180 / math.pi) ** 2
    scale = sky.density_scale(spec.ra_deg, spec.dec_deg)
    edges = np.arange(_DENSITY_MAG, faintest + _MAG_STEP, _MAG_STEP)
    if len(edges) < 2:
        return stars
    expected = np.diff(cumulative_count_per_deg2(edges)) * area * scale
    have = np.histogram(stars.v_mag, edges)[0]
    missing = rng.poisson(np.maximum(expected - have, 0.0))
    total = int(missing.sum())
    mags = np.repeat(edges[:-1], missing) + rng.uniform(0, _MAG_STEP, total)
    # Uniform on the spherical cap around the centre.
    cos_r = rng.uniform(math.cos(math.radians(radius_deg)), 1.0, total)
    distance = np.degrees(np.arccos(cos_r))
    bearing = rng.uniform(0, 2 * math.pi, total)
    ra, dec = offset_by(
        np.full(total, spec.ra_deg), np.full(total, spec.dec_deg), distance, np.degrees(bearing)
    )
    return SkyStars(
        np.r_[stars.ra_deg, np.asarray(ra)],
        np.r_[stars.dec_deg, np.asarray(dec)],
        np.r_[stars.v_mag, mags],
        np.r_[stars.b_v, rng.normal(0.75, 0.4, total)],
        np.r_[stars.in_index, np.zeros(total, dtype=bool)],
    )


def _add_stars(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    spec: FrameSpec,
    sigma: float,
    colour: np.ndarray | None,
) -> None:
    """Add each star's PSF (normalized over its stamp) to ``image`` in place."""
    height, width = image.shape
    major = sigma * max(1.0, spec.elongation)
    half = math.ceil(_STAMP_SIGMAS * major + spec.defocus_px) + 1
    steps = np.arange(-half, half + 1, dtype=np.float32)
    dy_grid, dx_grid = np.meshgrid(steps, steps, indexing="ij")
    angle = math.radians(spec.elongation_angle_deg)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    chunk = max(1, 4_000_000 // dy_grid.size)
    for start in range(0, len(x), chunk):
        cx, cy = x[start : start + chunk], y[start : start + chunk]
        ix, iy = np.rint(cx).astype(np.intp), np.rint(cy).astype(np.intp)
        fx = (dx_grid[None] - (cx - ix)[:, None, None]).astype(np.float32)
        fy = (dy_grid[None] - (cy - iy)[:, None, None]).astype(np.float32)
        u = fx * cos_a + fy * sin_a
        v = -fx * sin_a + fy * cos_a
        if spec.defocus_px > 0:
            # A donut: the pupil's annulus (secondary obstruction 40 %), blurred by the seeing.
            r = np.sqrt(u * u + v * v)
            outer, inner = spec.defocus_px, 0.4 * spec.defocus_px
            psf = _soft_step(outer - r, sigma) * _soft_step(r - inner, sigma)
        else:
            psf = np.exp(-0.5 * ((u / major) ** 2 + (v / sigma) ** 2))
        psf /= psf.sum(axis=(1, 2), keepdims=True)
        px = ix[:, None, None] + dx_grid[None].astype(np.intp)
        py = iy[:, None, None] + dy_grid[None].astype(np.intp)
        values = psf * flux[start : start + chunk, None, None].astype(np.float32)
        if colour is not None:
            cell = (py % 2) * 2 + (px % 2)
            values *= np.take_along_axis(
                colour[start : start + chunk], cell.reshape(len(cx), -1), axis=1
            ).reshape(cell.shape)
        inside = (px >= 0) & (px < width) & (py >= 0) & (py < height)
        np.add.at(image, (py[inside], px[inside]), values[inside])


def _soft_step(distance: np.ndarray, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-distance / max(width * 0.5, 0.3)))


def _smooth_noise(height: int, width: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field in about [-1, 1]: coarse Gaussian noise, interpolated bilinearly."""
    n_y = max(2, round(cells * height / max(height, width)) + 1)
    n_x = max(2, round(cells * width / max(height, width)) + 1)
    coarse = rng.standard_normal((n_y, n_x)).astype(np.float32)
    gy = np.linspace(0, n_y - 1, height, dtype=np.float32)
    gx = np.linspace(0, n_x - 1, width, dtype=np.float32)
    y0 = np.minimum(gy.astype(np.intp), n_y - 2)
    x0 = np.minimum(gx.astype(np.intp), n_x - 2)
    fy, fx = (gy - y0)[:, None], (gx - x0)[None, :]
    # Smoothstep weights: no creases along the coarse grid.
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _nebulosity(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Large diffuse nebulosity, peak about 1: a few broad clouds with structure inside."""
    big = _smooth_noise(height, width, 3, rng)
    mid = _smooth_noise(height, width, 9, rng)
    field_ = np.maximum(big + 0.4 * mid, 0.0)
    return field_ / max(float(field_.max()), 1e-6)


def _cloud_mask(height: int, width: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Cloud thickness in [0, 1] over about ``fraction`` of the frame, with soft edges."""
    noise = _smooth_noise(height, width, 4, rng)
    threshold = float(np.quantile(noise[::8, ::8], 1.0 - fraction))
    spread = float(noise.std()) * 0.3 + 1e-6
    return np.clip((noise - threshold) / spread, 0.0, 1.0).astype(np.float32)


def _foreground_profile(
    width: int, height: int, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Top row of the foreground per column: a roof (straight edges) or trees (jagged)."""
    base = height * (1.0 - fraction)
    columns = np.arange(width)
    if rng.random() < 0.5:  # a roof: a ridge at a random column
        ridge = rng.uniform(0.2, 0.8) * width
        top = base - 0.3 * fraction * height * (1 - np.abs(columns - ridge) / width)
    else:  # trees: crowns of random width and height
        top = np.full(width, base + 0.3 * fraction * height)
        for _ in range(max(3, width // 150)):
            centre, crown = rng.uniform(0, width), rng.uniform(0.03, 0.12) * width
            peak = base - rng.uniform(0.0, 0.5) * fraction * height
            inside = np.abs(columns - centre) < crown
            shape = peak + (np.abs(columns - centre) / crown) ** 0.7 * fraction * height * 0.5
            top[inside] = np.minimum(top[inside], shape[inside])
        top += rng.normal(0, 2.0, width)  # leaves
    return np.clip(top, 0, height).astype(np.float64)


def _add_trail(
    image: np.ndarray, rng: np.random.Generator, sigma: float, sky_adu: float
) -> tuple[float, float, float, float]:
    """A satellite trail edge to edge: a line with the PSF's profile, bright and uneven
    (glints); returns its end points."""
    height, width = image.shape
    x0, y0 = 0.0, rng.uniform(0, height - 1)
    x1, y1 = width - 1.0, rng.uniform(0, height - 1)
    if rng.random() < 0.5:  # more vertical: swap roles
        x0, y0, x1, y1 = rng.uniform(0, width - 1), 0.0, rng.uniform(0, width - 1), height - 1.0
    length = math.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    # Peak above the sky: tens of sky levels, flaring (tumbling satellites glint).
    peak = sky_adu * rng.uniform(10, 40)
    half = math.ceil(4 * sigma) + 1
    along = np.arange(0, length, 0.5)
    glint = 1.0 + 1.5 * np.maximum(np.sin(along / rng.uniform(30, 200)), 0) ** 8
    for offset in np.arange(-half, half + 1):
        px = np.rint(x0 + (x1 - x0) * along / length + nx * offset).astype(np.intp)
        py = np.rint(y0 + (y1 - y0) * along / length + ny * offset).astype(np.intp)
        ok = (px >= 0) & (px < width) & (py >= 0) & (py < height)
        value = peak * glint * math.exp(-0.5 * (offset / max(sigma, 0.7)) ** 2)
        # Each pixel is visited about twice (0.5-px steps): half the value per visit.
        pixels = np.unique(py[ok] * width + px[ok], return_index=True)[1]
        image.ravel()[(py[ok] * width + px[ok])[pixels]] += value[ok][pixels].astype(np.float32)
    return (x0, y0, x1, y1)


def _add_cosmic_rays(image: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Cosmic-ray hits: sharp tracks of 1-4 pixels, a few thousand ADU each."""
    height, width = image.shape
    xs = rng.integers(2, width - 2, count)
    ys = rng.integers(2, height - 2, count)
    for x, y in zip(xs, ys, strict=True):
        length = int(rng.integers(1, 5))
        step_x, step_y = rng.integers(-1, 2), rng.integers(-1, 2)
        for k in range(length):
            px, py = x + k * step_x, y + k * step_y
            if 0 <= px < width and 0 <= py < height:
                image[py, px] += float(rng.uniform(1000, 20000))
    return np.c_[xs, ys]


def _visible(
    x: np.ndarray, y: np.ndarray, transmission: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Stars whose light mostly gets through (transmission at the centre ≥ 0.5)."""
    ix = np.clip(np.rint(x).astype(np.intp), 0, width - 1)
    iy = np.clip(np.rint(y).astype(np.intp), 0, height - 1)
    return transmission[iy, ix] >= 0.5


def _sexagesimal(value: float, hours: bool) -> str:
    sign = "-" if value < 0 else ("+" if not hours else "")
    value = abs(value) / (15.0 if hours else 1.0)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return f"{sign}{d:02d} {m:02d} {s:05.2f}" if hours else f"{sign}{d:02d} {m:02d} {s:04.1f}"


def _header(spec: FrameSpec, limit: float) -> fits.Header:
    """A N.I.N.A.-style header: pointing with an error, optics, sensor, filter, time."""
    rng = np.random.default_rng(spec.seed + 104729)
    if spec.hint_offset_deg is not None:
        ra, dec = _move(spec.ra_deg, spec.dec_deg, *spec.hint_offset_deg)
    else:
        error = rng.normal(0.0, spec.pointing_error_arcmin / 60.0 / math.sqrt(2), 2)
        ra, dec = _move(spec.ra_deg, spec.dec_deg, float(error[0]), float(error[1]))
    ra = float(ra) % 360.0
    dec = float(dec)
    h = fits.Header()
    h["IMAGETYP"] = ("LIGHT", "Type of exposure")
    h["EXPOSURE"] = (spec.exposure_s, "[s] Exposure duration")
    h["EXPTIME"] = (spec.exposure_s, "[s] Exposure duration")
    h["DATE-LOC"] = (
        spec.date_obs.isoformat(timespec="milliseconds"),
        "Time of observation (local)",
    )
    h["DATE-OBS"] = (spec.date_obs.isoformat(timespec="milliseconds"), "Time of observation (UTC)")
    h["XBINNING"] = (spec.binning, "X axis binning factor")
    h["YBINNING"] = (spec.binning, "Y axis binning factor")
    h["GAIN"] = (100, "Sensor gain")
    h["OFFSET"] = (50, "Sensor gain offset")
    h["EGAIN"] = (1.0, "[e-/ADU] Electrons per A/D unit")
    h["XPIXSZ"] = (spec.pixel_size_um * spec.binning, "[um] Pixel X axis size")
    h["YPIXSZ"] = (spec.pixel_size_um * spec.binning, "[um] Pixel Y axis size")
    h["INSTRUME"] = (
        "ZWO ASI2600MC Pro" if spec.bayer_pattern else "ZWO ASI2600MM Pro",
        "Imaging instrument name",
    )
    h["SET-TEMP"] = (-10.0, "[degC] CCD temperature setpoint")
    h["CCD-TEMP"] = (-10.0, "[degC] CCD temperature")
    if spec.bayer_pattern is not None:
        # The header's pattern and offsets describe the same array origin: shifting the
        # pattern by XBAYROFF/YBAYROFF gives the pattern at the origin.
        pattern = normalize_bayer_pattern(spec.bayer_pattern)
        h["BAYERPAT"] = (_shift_pattern(pattern, *spec.bayer_offset), "Sensor Bayer pattern")
        h["XBAYROFF"] = (spec.bayer_offset[0], "Bayer pattern X axis offset")
        h["YBAYROFF"] = (spec.bayer_offset[1], "Bayer pattern Y axis offset")
    h["TELESCOP"] = ("Realistic optics", "Name of telescope")
    h["FOCALLEN"] = (round(spec.focal_length_mm, 1), "[mm] Focal length")
    h["RA"] = (round(ra, 6), "[deg] RA of telescope")
    h["DEC"] = (round(dec, 6), "[deg] Declination of telescope")
    h["PIERSIDE"] = (spec.pier_side, "Telescope pointing state")
    h["OBJECT"] = (spec.object_name, "Name of the object of interest")
    h["OBJCTRA"] = (_sexagesimal(ra, True), "[H M S] RA of imaged object")
    h["OBJCTDEC"] = (_sexagesimal(dec, False), "[D M S] Declination of imaged object")
    h["FILTER"] = (spec.filter_name, "Active filter name")
    h["ROWORDER"] = ("TOP-DOWN", "FITS Image Orientation")
    h["EQUINOX"] = (2000.0, "Equinox of celestial coordinate system")
    h["SWCREATE"] = ("N.I.N.A. 3.1.2.9001 (x64)", "Software that created this file")
    h["LIMITMAG"] = (round(limit, 2), "astrocat realistic frame: limiting V magnitude")
    return h


def _shift_pattern(pattern: str, x_offset: int, y_offset: int) -> str:
    """The header pattern that, shifted by the offsets, is ``pattern`` at the array origin:
    BAYERPAT names the pattern at (XBAYROFF, YBAYROFF)."""
    cells = [pattern[0:2], pattern[2:4]]
    if y_offset % 2:
        cells = cells[::-1]
    if x_offset % 2:
        cells = [row[::-1] for row in cells]
    shifted = "".join(cells)
    assert shifted in BAYER_PATTERNS
    return shifted
