"""Stars in a frame, for plate solving: where they are and how bright, brightest first.

astrometry.net's ``solve-field`` finds stars itself (image2xy) and then reorders the list with
two helper scripts run by the system Python (``removelines``, ``uniformize``); on the demo
frames that was 1.1 s of a 1.3 s hinted solve, and 2.5 s of a blind one. This module does the
same job on the array the project's loader already returns, in a few tens of milliseconds
with numpy alone, so that the solver adapter can hand ``astrometry-engine`` a star list.

The method is the usual one (SExtractor, astrometry.net's simplexy): a background mesh (medians
of cells of about ``STAR_BACKGROUND_BOX_PX``, 3×3 median-filtered, interpolated bilinearly), a
Gaussian filter of about a star's width, local maxima above ``STAR_DETECT_SIGMA`` times the
filtered noise, sub-pixel positions from parabolas through each peak and its neighbours, and
fluxes summed in a 5×5 box. Peaks with nearly all their light in one pixel (hot pixels, cosmic
rays) are dropped: star light is spread by the optics and the seeing.

Pixel convention: 0-based array coordinates (x = column, y = row) of the array as given, pixel
centres at integers, also when the frame was binned for detection.

Memory: the detection works on one float32 plane (a copy of the image, or with
``overwrite_input`` the plane the caller gives up): the background is estimated on a coarse
mesh and subtracted from it in place, band by band, so no other plane of its size is made;
sep's pixel stack is sized for the objects of ordinary frames and grown only when a frame
needs it. A 26-Mpx frame's 2×2-binned plane (26 MB) is detected in about 50 MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from astrocat_pipeline.core.tuning import (
    MAD_TO_SIGMA,
    STAR_BACKGROUND_BOX_PX,
    STAR_DETECT_SIGMA,
    STAR_MAX_ELONGATION_FACTOR,
    STAR_MAX_PEAK_FRACTION,
    STAR_MIN_SPREAD_FRACTION,
    STAR_PSF_PROBE_SIGMA,
    STAR_PSF_REFERENCE_COUNT,
    STAR_REFINE_COUNT,
    STAR_SEP_DETECT_SIGMA,
    STAR_SEP_MIN_AREA_PX,
    STAR_SEP_PIXSTACK_FRACTION,
    STAR_SEP_TARGET_WIDTH_PX,
    STAR_SMOOTH_SIGMA_PX,
    STAR_SPARSE_BELOW,
    STAR_UNIFORMIZE_CELLS,
)

__all__ = [
    "DETECTORS",
    "DetectedStars",
    "detect_stars",
    "mono_image",
    "remove_line_artifacts",
    "uniformize",
]

# Half-size of the 5×5 box a star's flux is summed in; peaks closer to the edge are skipped.
_FLUX_HALF_BOX_PX = 2
# Every third row and column is enough for the noise estimate (~75,000 values for 1 Mpx).
_NOISE_STRIDE = 3
# Noise below this fraction of the largest pixel value is float32 rounding: the frame is flat
# (float32 resolves 6e-8; a 16-bit frame's read noise is >= 1.5e-5 of its range).
_FLAT_NOISE_FRACTION = 1e-6
# astrometry.net's removelines.py: a row or column of sources is cut at this significance.
_LINE_LOG_SIGNIFICANCE = 100.0
# Rows of a plane whose background is interpolated at once: the band's two float32 buffers
# stay in the CPU cache (a few hundred kB for a 26-Mpx frame's binned plane) instead of four
# full-size temporaries.
_BAND_ROWS = 32
# sep's own default pixel stack (sep.set_extract_pixstack): the least it is given.
_SEP_PIXSTACK_MIN = 300_000
# sep's default detection filter (SExtractor's default.conv), normalized: (dy, dx, weight).
_SEP_KERNEL = tuple(
    (dy, dx, (2 - abs(dy)) * (2 - abs(dx)) / 16.0) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
)


@dataclass(frozen=True)
class DetectedStars:
    """Stars found in a frame, in the order given (``detect_stars``: brightest first).

    Attributes
    ----------
    x_px, y_px : numpy.ndarray
        (N,) float64, 0-based column and row in the frame's own pixels.
    flux : numpy.ndarray
        (N,) float64, background-subtracted sum in the image's units (per binned pixel when the
        frame was binned): good for ranking, not calibrated photometry.
    """

    x_px: np.ndarray
    y_px: np.ndarray
    flux: np.ndarray

    def __len__(self) -> int:
        return len(self.x_px)

    def take(self, index: np.ndarray | slice) -> DetectedStars:
        """The stars at ``index`` (an index array, a boolean mask or a slice), in that order."""
        return DetectedStars(self.x_px[index], self.y_px[index], self.flux[index])

    def head(self, count: int) -> DetectedStars:
        """The first ``count`` stars (all of them when there are fewer)."""
        return self.take(slice(0, max(0, count)))


def mono_image(data: np.ndarray) -> np.ndarray:
    """A 2-D float32 copy of an image: colour channels averaged, non-finite pixels set to the
    median of the finite ones (0 if there are none), so they read as flat background.

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) or (H, W, C), any numeric type; not modified.
    """
    mono = np.array(data, dtype=np.float32, copy=True)
    if mono.ndim == 3:
        mono = mono.mean(axis=2, dtype=np.float32)
    if mono.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {data.shape}")
    _fill_non_finite(mono)
    return mono


def _fill_non_finite(mono: np.ndarray) -> None:
    """Set, in place, the non-finite pixels of a float plane to the median of the finite ones
    (0 if there are none). The plane's minimum and maximum are finite exactly when all its
    pixels are (NaN propagates through both), which spares a boolean plane for most frames."""
    if mono.size == 0 or (np.isfinite(mono.min()) and np.isfinite(mono.max())):
        return
    finite = np.isfinite(mono)
    mono[~finite] = float(np.median(mono[finite])) if finite.any() else 0.0


def _working_plane(image: np.ndarray, overwrite_input: bool) -> np.ndarray:
    """The float32 plane the detection may overwrite: ``image`` itself when the caller gives it
    up and it is one already (2-D, float32, C-contiguous, writeable), else ``mono_image``'s
    copy."""
    if (
        overwrite_input
        and image.ndim == 2
        and image.dtype == np.float32
        and image.flags.c_contiguous
        and image.flags.writeable
    ):
        _fill_non_finite(image)
        return image
    return mono_image(image)


DETECTORS: tuple[str, ...] = ("sep", "numpy")


def detect_stars(
    image: np.ndarray,
    *,
    bin_factor: int = 1,
    detect_sigma: float | None = None,
    cfa: bool = False,
    method: str = "sep",
    overwrite_input: bool = False,
) -> DetectedStars:
    """Stars in an image, brightest first; artefacts that are not stars left out.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) or (H, W, C); colour is averaged, non-finite pixels count as background. Not
        modified.
    bin_factor : int
        Detect on ``bin_factor``×``bin_factor`` block means (faster on big frames, which
        oversample their stars); positions are still in the pixels of ``image``.
    detect_sigma : float, optional
        Detection threshold in noise sigmas (of the matched-filtered image for ``"sep"``, of
        the Gaussian-filtered one for ``"numpy"``); None: ``STAR_SEP_DETECT_SIGMA`` or
        ``STAR_DETECT_SIGMA``.
    cfa : bool
        ``image`` is a one-shot-colour (Bayer) mosaic: it is detected on 2×2 superpixels (the
        cell's mean, red, two greens and blue, whatever the pattern), so ``bin_factor`` is
        raised to the next even number of at least 2.
    method : str
        ``"sep"`` (default): SExtractor's extraction through ``sep`` (background mesh, matched
        filter, segmentation and deblending, isophotal shapes), then the shape tests against
        the frame's PSF (``STAR_MIN_SPREAD_FRACTION``, ``STAR_MAX_ELONGATION_FACTOR``) and the
        hot-pixel test (``STAR_MAX_PEAK_FRACTION``); pixels sharper than the PSF allows
        (cosmic rays, bad columns) are flattened before the extraction, against the PSF of
        the objects ``STAR_PSF_PROBE_SIGMA`` up (after it, and the frame extracted again, when
        those are too few to tell). ``"numpy"``: the earlier peak finder (background mesh,
        Gaussian filter, local maxima, hot-pixel test only), kept for comparison in
        ``bench/solve_bench.py``.
    overwrite_input : bool
        The caller gives ``image`` up: when it is a 2-D C-contiguous float32 array, the
        detection works in it (its pixels are overwritten) instead of in a copy, as
        ``numpy.median``'s ``overwrite_input``. Any other array is copied as usual.

    Returns
    -------
    DetectedStars
        Sorted by flux, brightest first; empty for a frame without stars (or a flat one).
    """
    if bin_factor < 1:
        raise ValueError(f"bin_factor must be 1 or more, got {bin_factor}")
    if method not in DETECTORS:
        raise ValueError(f"method must be one of {DETECTORS}, got {method!r}")
    if cfa:
        bin_factor = max(2, bin_factor + bin_factor % 2)
    # ``full`` stays as it is (the refinement below centres stars on it); ``mono``, the plane
    # detected on, is the detection's working memory.
    full = _working_plane(image, overwrite_input)
    mono = _bin(full, bin_factor) if bin_factor > 1 else full
    height, width = mono.shape
    margin = _FLUX_HALF_BOX_PX + 1
    if height <= 2 * margin or width <= 2 * margin:
        return _no_stars()
    psf_width = 0.0
    if method == "sep":
        sigma = STAR_SEP_DETECT_SIGMA if detect_sigma is None else detect_sigma
        residual = _Residual(mono, STAR_BACKGROUND_BOX_PX)
        x, y, flux, psf_width = _detect_sep(residual, sigma)
        extra = int(psf_width // STAR_SEP_TARGET_WIDTH_PX)
        if extra >= 2 and min(height, width) // extra > 2 * margin:
            # Stars much larger than a pixel (defocused, a long focal length on small pixels):
            # a donut's ring or a bloated star falls apart into several objects under a 3×3
            # filter. Detect again on blocks of about the PSF's width, where it is compact
            # (the plane turned back into what it was, to float32 rounding, first).
            blocks = _bin(residual.restore(), extra)
            x, y, flux, _ = _detect_sep(_Residual(blocks, STAR_BACKGROUND_BOX_PX), sigma)
            x, y = x * extra + (extra - 1) / 2.0, y * extra + (extra - 1) / 2.0
    else:
        sigma = STAR_DETECT_SIGMA if detect_sigma is None else detect_sigma
        x, y, flux = _detect_peaks(mono, sigma)
    x = x * bin_factor + (bin_factor - 1) / 2.0
    y = y * bin_factor + (bin_factor - 1) / 2.0
    order = np.argsort(-flux, kind="stable")
    x, y, flux = x[order], y[order], flux[order]
    finest = 2 if cfa else 1
    if method == "sep" and bin_factor > finest and psf_width > 0 and len(x):
        # Detected on blocks for speed; the brightest are centred again on the finest pixels
        # there are (superpixels of a mosaic), where an undersampled star's centre is known to
        # a fraction of a pixel rather than of a block.
        fine = _bin(full, finest) if finest > 1 else full
        x, y = _refine(fine, finest, x, y, psf_width * bin_factor / finest, bin_factor)
    return DetectedStars(x.astype(np.float64), y.astype(np.float64), flux.astype(np.float64))


def _refine(
    fine: np.ndarray,
    finest: int,
    x: np.ndarray,
    y: np.ndarray,
    sigma_px: float,
    moved_max_px: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed centroids on ``fine`` (the frame binned by ``finest``) for the first
    ``STAR_REFINE_COUNT`` stars; positions in and out are in the frame's own pixels. A locally
    flat background does not bias a window centred on the star, so ``fine`` needs none
    subtracted. A star that would move more than ``moved_max_px`` keeps its position."""
    import sep

    count = min(len(x), STAR_REFINE_COUNT)
    to_fine = lambda v: (v - (finest - 1) / 2.0) / finest  # noqa: E731
    fx, fy = to_fine(x[:count]), to_fine(y[:count])
    data = np.ascontiguousarray(fine, dtype=np.float32)
    wx, wy, flag = sep.winpos(data, fx, fy, max(sigma_px, 0.5))
    wx = wx * finest + (finest - 1) / 2.0
    wy = wy * finest + (finest - 1) / 2.0
    good = (flag == 0) & np.isfinite(wx) & np.isfinite(wy)
    good &= np.hypot(wx - x[:count], wy - y[:count]) < moved_max_px
    x, y = x.copy(), y.copy()
    x[:count] = np.where(good, wx, x[:count])
    y[:count] = np.where(good, wy, y[:count])
    return x, y


class _Residual:
    """A float32 plane made, in place, into its background-subtracted residual, with what it
    takes to turn it back: the background (a mesh), the edges and the pixels the detection
    replaced. The residual is bit for bit ``plane - _background(plane)``; turned back, the
    plane is what it was to within float32 rounding of that subtraction."""

    def __init__(self, plane: np.ndarray, box_px: int) -> None:
        if not (plane.dtype == np.float32 and plane.ndim == 2 and plane.flags.c_contiguous):
            raise ValueError("a residual is made from a C-contiguous 2-D float32 plane")
        self.plane = plane
        # What the flat-frame test compares the noise with, taken before the subtraction.
        self.peak_abs = max(abs(float(plane.min())), abs(float(plane.max()))) if plane.size else 0.0
        self.background = _Background(plane, box_px)
        self.background.apply(plane, subtract=True)
        self._edges: tuple[np.ndarray, ...] | None = None
        self._replaced: list[tuple[np.ndarray, np.ndarray]] = []

    def zero_edges(self) -> None:
        """Set the outermost rows and columns to 0 (the background)."""
        plane = self.plane
        top, bottom = plane[0].copy(), plane[-1].copy()
        plane[[0, -1], :] = 0.0
        left, right = plane[:, 0].copy(), plane[:, -1].copy()
        plane[:, [0, -1]] = 0.0
        self._edges = (top, bottom, left, right)

    def replace(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set the pixels at flat indices ``index`` to ``values``, keeping what they were."""
        flat = self.plane.reshape(-1)
        self._replaced.append((index, flat[index].copy()))
        flat[index] = values

    def restore(self) -> np.ndarray:
        """The plane as it was before (the residual is gone)."""
        flat = self.plane.reshape(-1)
        for index, values in reversed(self._replaced):
            flat[index] = values
        self._replaced.clear()
        if self._edges is not None:
            top, bottom, left, right = self._edges
            self.plane[:, 0], self.plane[:, -1] = left, right
            self.plane[0], self.plane[-1] = top, bottom
            self._edges = None
        self.background.apply(self.plane, subtract=False)
        return self.plane


def _detect_sep(
    residual: _Residual, detect_sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """sep's extraction and the shape tests: (x, y, flux) in the plane's pixels, any order,
    and the PSF's minor-axis width (px; 0 when there are too few stars to tell)."""
    import sep  # imported here: the thumbnail and metadata commands never need it

    # The background (the numpy detector's mesh: cell medians on every other pixel, 3×3
    # median-filtered, bilinear; the same method as sep.Background at a third of its cost) is
    # already subtracted. One noise level for the frame, from the background-subtracted pixels
    # (sep's own global rms is the spread within each mesh cell, which a gradient across the
    # cell inflates); a per-pixel noise map costs 3-4× the extraction's time and would lower
    # the threshold under clouds and foreground, where the stars are lost anyway.
    data = residual.plane
    rms = _noise_sigma(data[::_NOISE_STRIDE, ::_NOISE_STRIDE])
    if rms <= _FLAT_NOISE_FRACTION * residual.peak_abs:
        return (*_no_arrays(), 0.0)  # a flat frame: what is left is float32 rounding
    # The outermost rows and columns: no neighbour on one side to tell a hot pixel from a
    # star, and no centroid worth having there. They read as background.
    residual.zero_edges()
    threshold = detect_sigma * rms
    residual.replace(*_single_pixel_replacements(data, threshold))
    probe_spread = 0.0
    if detect_sigma < STAR_PSF_PROBE_SIGMA:
        # The PSF's sharpness from the bright stars alone (a quarter to a sixth of a full
        # extraction's time on frames with clouds or nebulae): cosmic rays and bad columns
        # sharper than it are flattened before the extraction rather than after it, which
        # then had to be done again. What is left of them is still sharper than the PSF,
        # and the shape test drops it.
        _, _, probe_spread, _ = _star_shaped(_extract(data, STAR_PSF_PROBE_SIGMA, rms), data)
        if probe_spread > 0:
            residual.replace(
                *_sharp_pixel_replacements(data, threshold, STAR_MIN_SPREAD_FRACTION * probe_spread)
            )
    objects = _extract(data, detect_sigma, rms)
    shaped, psf_width, psf_spread, sharp = _star_shaped(objects, data)
    if sharp and probe_spread == 0:
        index, values = _sharp_pixel_replacements(
            data, threshold, STAR_MIN_SPREAD_FRACTION * psf_spread
        )
        if len(index):
            # Cosmic rays or bad columns on a frame too sparse for the probe: a star beside
            # one merges with it into one object, which is then judged by the artefact's
            # peak (and lost) or centred between the two. Their pixels, sharper than the PSF
            # allows, are flattened and the frame extracted again.
            residual.replace(index, values)
            objects = _extract(data, detect_sigma, rms)
            shaped, psf_width, _, _ = _star_shaped(objects, data)
    keep = (objects["flux"] > 0) & shaped
    if np.count_nonzero(keep) < STAR_SPARSE_BELOW:
        # Too few stars for a confident solve (a short exposure, a narrow field, a small
        # telescope). sep compares the 3×3-filtered image with ``detect_sigma`` times the
        # noise of one pixel, which the filter lowers about 2.7×: such a threshold sits near
        # 13σ of the filtered image. Once more at ``detect_sigma`` of the filtered image's own
        # noise (measured, so correlated noise counts), as the numpy finder and astrometry.net's
        # simplexy threshold; the extended emission that makes an extraction slow seldom comes
        # with so few stars.
        faint_sigma = detect_sigma * _filtered_noise_sigma(data) / rms
        if 0 < faint_sigma < detect_sigma:
            faint = _extract(data, faint_sigma, rms)
            faint_shaped, faint_psf_width, _, _ = _star_shaped(faint, data)
            faint_keep = (faint["flux"] > 0) & faint_shaped
            if np.count_nonzero(faint_keep) > np.count_nonzero(keep):
                objects, keep, psf_width = faint, faint_keep, faint_psf_width
    objects = objects[keep]
    x, y = objects["x"].astype(np.float64), objects["y"].astype(np.float64)
    if len(objects) and psf_width > 0:
        # Windowed centroids (SExtractor's XWIN_IMAGE) for the brightest: a Gaussian window of
        # the PSF's width weighs the core, where the isophotal barycentre lets the noisy wings
        # pull it. (0.02 ms a star: the faint rest keeps its isophotal centre.)
        brightest = np.argsort(-objects["flux"], kind="stable")[:STAR_REFINE_COUNT]
        wx, wy, flag = sep.winpos(data, x[brightest], y[brightest], max(psf_width, 0.5))
        good = (flag == 0) & np.isfinite(wx) & np.isfinite(wy)
        good &= np.hypot(wx - x[brightest], wy - y[brightest]) < 2.0 * max(psf_width, 0.5)
        x[brightest] = np.where(good, wx, x[brightest])
        y[brightest] = np.where(good, wy, y[brightest])
    return x, y, objects["flux"].astype(np.float64), psf_width


def _extract(residual: np.ndarray, detect_sigma: float, rms: float) -> np.ndarray:
    """sep's objects in a background-subtracted image, ``detect_sigma`` × ``rms`` up."""
    import sep

    # sep keeps these limits in C globals; every call sets what it needs. Its pixel stack (the
    # pixels of the objects open at once, 44 bytes each) is allocated and written in full on
    # every call: room for half the plane cost 137 MB and 60 ms on a 26-Mpx frame's binned
    # plane, whose stars hold a few thousand pixels. It starts at STAR_SEP_PIXSTACK_FRACTION
    # of the plane; a frame that fills it (a bright nebula over much of the field) is
    # extracted again with room for half of it. The objects do not depend on the stack's size.
    sep.set_sub_object_limit(4096)
    try:
        try:
            sep.set_extract_pixstack(
                max(_SEP_PIXSTACK_MIN, int(residual.size * STAR_SEP_PIXSTACK_FRACTION))
            )
            return sep.extract(residual, detect_sigma, err=rms, minarea=STAR_SEP_MIN_AREA_PX)
        except Exception as exc:  # sep raises a bare Exception for its internal limits
            if "pixel buffer full" not in str(exc):
                raise
            sep.set_extract_pixstack(max(_SEP_PIXSTACK_MIN, residual.size // 2))
            return sep.extract(residual, detect_sigma, err=rms, minarea=STAR_SEP_MIN_AREA_PX)
    except Exception as exc:  # sep raises a bare Exception for its internal limits
        if "limit" not in str(exc) and "pixel stack" not in str(exc):
            raise
        # Too many objects to deblend (a dense Milky Way field at a low threshold): once more
        # at twice the threshold, which keeps the bright stars the solver needs.
        return sep.extract(residual, 2.0 * detect_sigma, err=rms, minarea=STAR_SEP_MIN_AREA_PX)


def _spreads(residual: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For flat indices of interior pixels: the mean of the two neighbours along the row and
    along the column, each as a fraction of the pixel (whose value must be positive)."""
    flat = residual.ravel()
    width = residual.shape[1]
    centre = flat[index]
    safe = np.where(centre > 0, centre, np.inf)
    along_row = (flat[index - 1] + flat[index + 1]) / (2.0 * safe)
    along_column = (flat[index - width] + flat[index + width]) / (2.0 * safe)
    return along_row, along_column


def _sharp_pixel_replacements(
    residual: np.ndarray, threshold: float, min_spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and new values of the pixels above ``threshold`` whose neighbours along a
    row or a column hold less than ``min_spread`` of them: the mean of those two neighbours.
    Every pixel of a Gaussian star keeps at least the peak's share on both axes (the profile
    is separable), so only what is sharper than the PSF goes."""
    width = residual.shape[1]
    rows, cols = np.divmod(np.flatnonzero(residual[1:-1, 1:-1] > threshold), width - 2)
    index = (rows + 1) * width + (cols + 1)
    if len(index) == 0:
        return index, np.zeros(0, dtype=residual.dtype)
    along_row, along_column = _spreads(residual, index)
    flat = residual.ravel()
    across_row = along_row < min_spread
    across_column = ~across_row & (along_column < min_spread)
    row_index, column_index = index[across_row], index[across_column]
    row_value = 0.5 * (flat[row_index - 1] + flat[row_index + 1])
    column_value = 0.5 * (flat[column_index - width] + flat[column_index + width])
    return np.concatenate([row_index, column_index]), np.concatenate([row_value, column_value])


def _single_pixel_replacements(
    residual: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and new values of the pixels above ``threshold`` that hold at least
    ``STAR_MAX_PEAK_FRACTION`` of their 3×3 box (a hot pixel or a one-pixel cosmic-ray hit:
    no star is that sharp): the mean of their 8 neighbours, so that one sitting on a star's
    wing does not take the star with it when the object is judged."""
    width = residual.shape[1]
    flat = residual.ravel()
    rows, cols = np.divmod(np.flatnonzero(residual[1:-1, 1:-1] > threshold), width - 2)
    index = (rows + 1) * width + (cols + 1)
    if len(index) == 0:
        return index, np.zeros(0, dtype=residual.dtype)
    neighbours = flat[index[:, None] + _box_offsets(1, width)[[0, 1, 2, 3, 5, 6, 7, 8]]]
    box = neighbours.sum(axis=1) + flat[index]
    single = (box > 0) & (flat[index] >= STAR_MAX_PEAK_FRACTION * box)
    return index[single], neighbours[single].mean(axis=1)


def _star_shaped(
    objects: np.ndarray, residual: np.ndarray
) -> tuple[np.ndarray, float, float, bool]:
    """True for the objects that could be stars, judged against the frame's own PSF (the
    median over its brightest unsaturated objects): not sharper than the PSF across their peak,
    not much more elongated, and not a single hot pixel (tuning constants). Also returns
    the PSF's minor-axis width (sep's ``b``, px; 0 if unknown), its spread (the
    share of the peak its row and column neighbours hold, the smaller) and whether any object
    was too sharp."""
    if len(objects) == 0:
        return np.zeros(0, dtype=bool), 0.0, 0.0, False
    height, width = residual.shape
    a = objects["a"].astype(np.float64)
    b = objects["b"].astype(np.float64)
    elongation = a / np.maximum(b, 1e-6)
    xp = np.clip(objects["xpeak"], 1, width - 2)
    yp = np.clip(objects["ypeak"], 1, height - 2)
    peak = residual[yp, xp].astype(np.float64)
    # The peak pixel's share of its 3×3 box.
    box = sum(residual[yp + dy, xp + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    single = (box > 0) & (peak >= STAR_MAX_PEAK_FRACTION * box)
    # Sharpness across the peak (DAOFIND's idea): the PSF spreads light both ways; a cosmic
    # ray or a bad column is one pixel wide, so one of the two shares is about zero.
    along_row, along_column = _spreads(residual, yp * width + xp)
    spread = np.minimum(along_row, along_column)
    # The PSF: the brightest objects that are neither single pixels nor saturated (a flat top
    # at the frame's maximum, where the shape says nothing about the optics).
    ceiling = 0.9 * float(objects["peak"].max())
    candidates = np.flatnonzero(~single & (objects["peak"] < ceiling) & (b > 0) & (spread > 0))
    candidates = candidates[np.argsort(-objects["flux"][candidates])][:STAR_PSF_REFERENCE_COUNT]
    if len(candidates) < 5:
        return ~single, 0.0, 0.0, False
    psf_b = float(np.median(b[candidates]))
    psf_elongation = float(np.median(elongation[candidates]))
    psf_spread = float(np.median(spread[candidates]))
    sharp = spread < STAR_MIN_SPREAD_FRACTION * psf_spread
    stretched = elongation > STAR_MAX_ELONGATION_FACTOR * psf_elongation
    keep = ~(single | sharp | stretched)
    # Worth extracting again only when an artefact is among the objects the solver will use.
    bright = np.argsort(-objects["flux"], kind="stable")[:STAR_REFINE_COUNT]
    return keep, psf_b, psf_spread, bool(sharp[bright].any())


def _detect_peaks(mono: np.ndarray, detect_sigma: float) -> tuple[np.ndarray, ...]:
    """The numpy peak finder: (x, y, flux) in ``mono``'s pixels, any order."""
    width = mono.shape[1]
    margin = _FLUX_HALF_BOX_PX + 1
    residual = mono - _background(mono, STAR_BACKGROUND_BOX_PX)
    smooth = _gaussian_filter(residual, STAR_SMOOTH_SIGMA_PX)
    noise = _noise_sigma(smooth[::_NOISE_STRIDE, ::_NOISE_STRIDE])
    if noise <= _FLAT_NOISE_FRACTION * float(np.max(np.abs(mono))):
        return _no_arrays()  # a flat frame: what is left is float32 rounding

    # Candidates: interior pixels above the threshold, as flat indices into the full frame.
    interior = smooth[margin:-margin, margin:-margin]
    rows, cols = np.divmod(np.flatnonzero(interior > detect_sigma * noise), width - 2 * margin)
    index = (rows + margin) * width + (cols + margin)
    flat_smooth = smooth.ravel()
    peak = flat_smooth[index]
    # Local maxima of the 3×3 neighbourhood; ties go to the first pixel in memory order, so a
    # flat-topped (saturated) peak is found once.
    is_max = np.ones(len(index), dtype=bool)
    for offset in (-width - 1, -width, -width + 1, -1):
        is_max &= peak > flat_smooth[index + offset]
    for offset in (1, width - 1, width, width + 1):
        is_max &= peak >= flat_smooth[index + offset]
    index = index[is_max]

    flat_residual = residual.ravel()
    box3 = flat_residual[index[:, None] + _box_offsets(1, width)].sum(axis=1)
    is_star = (box3 > 0) & (flat_residual[index] < STAR_MAX_PEAK_FRACTION * box3)
    index = index[is_star]
    flux = flat_residual[index[:, None] + _box_offsets(_FLUX_HALF_BOX_PX, width)].sum(axis=1)
    index, flux = index[flux > 0], flux[flux > 0]

    centre = flat_smooth[index]
    dx = _parabola_peak(flat_smooth[index - 1], centre, flat_smooth[index + 1])
    dy = _parabola_peak(flat_smooth[index - width], centre, flat_smooth[index + width])
    y_px, x_px = np.divmod(index, width)
    return x_px + dx, y_px + dy, flux


def remove_line_artifacts(
    stars: DetectedStars, log_significance: float = _LINE_LOG_SIGNIFICANCE
) -> DetectedStars:
    """Drop the stars on pixel columns or rows that hold improbably many of them.

    A bad column, a bleed trail or a satellite trail along a row is detected as a line of
    "stars" at one x (or y); astrometry.net's ``removelines.py`` (which solve-field runs by
    default) cuts such columns and rows. This is the same test: per 1-px column (row), the
    count of sources beyond the first, against a Poisson law with the mean of the occupied
    columns (rows), cut below ``-log_significance`` with that script's own log-likelihood.
    Order is kept.
    """
    if len(stars) == 0:
        return stars
    keep = _off_crowded_lines(stars.x_px, log_significance) & _off_crowded_lines(
        stars.y_px, log_significance
    )
    return stars if keep.all() else stars.take(keep)


def uniformize(stars: DetectedStars, cells: int = STAR_UNIFORMIZE_CELLS) -> DetectedStars:
    """Reorder stars so that the first ones are spread over the whole frame.

    astrometry.net's ``uniformize.py`` (run by solve-field by default): the stars' bounding box
    is cut into about ``cells`` cells of similar shape, and the list becomes the brightest star
    of each cell, then the second brightest of each, and so on (within one round, in the order
    of the input). A blind search builds its first quads from the first stars, so a bright
    cluster or nebula no longer hogs them.
    """
    if len(stars) < 2:
        return stars
    x, y = stars.x_px, stars.y_px
    span_x, span_y = float(x.max() - x.min()), float(y.max() - y.min())
    if span_x == 0.0 or span_y == 0.0:
        return stars
    n_x = max(1, round(span_x / math.sqrt(span_x * span_y / cells)))
    n_y = max(1, round(cells / n_x))
    cell_x = np.clip(np.floor((x - x.min()) / span_x * n_x), 0, n_x - 1).astype(np.intp)
    cell_y = np.clip(np.floor((y - y.min()) / span_y * n_y), 0, n_y - 1).astype(np.intp)
    cell = cell_y * n_x + cell_x
    by_cell = np.argsort(cell, kind="stable")
    sorted_cells = cell[by_cell]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    sizes = np.diff(np.r_[starts, len(cell)])
    rank = np.empty(len(cell), dtype=np.intp)  # rank of each star within its cell
    rank[by_cell] = np.arange(len(cell)) - np.repeat(starts, sizes)
    return stars.take(np.lexsort((np.arange(len(cell)), rank)))


# --- helpers ---------------------------------------------------------------------------------


def _no_stars() -> DetectedStars:
    return DetectedStars(*_no_arrays())


def _no_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.float64)
    return empty, empty.copy(), empty.copy()


def _bin(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor``×``factor`` pixels (a partial last row/column is dropped).

    Summed from ``factor``² strided slices: 4× faster than a mean over a reshaped view's axes
    on a 26 Mpx frame."""
    height, width = image.shape[0] // factor, image.shape[1] // factor
    total = np.zeros((height, width), dtype=np.float32)
    for dy in range(factor):
        for dx in range(factor):
            total += image[dy : height * factor : factor, dx : width * factor : factor]
    total *= np.float32(1.0 / (factor * factor))
    return total


class _Background:
    """Smooth background of a plane: cell medians, 3×3 median-filtered, bilinear between cell
    centres (SExtractor's BACK_SIZE mesh and BACK_FILTERSIZE 3). Only the mesh and the
    interpolation weights are kept; the background's pixels are made a band of rows at a
    time, where they are used."""

    def __init__(self, image: np.ndarray, box_px: int) -> None:
        height, width = image.shape
        n_y, n_x = max(1, height // box_px), max(1, width // box_px)
        cell_h, cell_w = height // n_y, width // n_x
        # Every other pixel of each cell: the median of ~1,000 values is as good and 4×
        # cheaper. One row of cells at a time (a copy of a quarter of its pixels).
        mesh = np.empty((n_y, n_x), dtype=np.result_type(image.dtype, np.float32))
        for i in range(n_y):
            cells = image[i * cell_h : (i + 1) * cell_h, : n_x * cell_w]
            samples = cells[::2].reshape(-1, n_x, cell_w)[:, :, ::2].transpose(1, 0, 2)
            mesh[i] = np.median(samples.reshape(n_x, -1), axis=1, overwrite_input=True)
        # A cell covered by a bright star or the core of a galaxy reads high: take the median
        # of each cell's 3×3 neighbourhood, as SExtractor's BACK_FILTERSIZE 3 does. Odd
        # reflection at the edges continues a gradient, so a sloped sky keeps its slope there.
        padded = np.pad(mesh, 1, mode="reflect", reflect_type="odd")
        mesh = np.median(
            np.stack([padded[i : i + n_y, j : j + n_x] for i in range(3) for j in range(3)]),
            axis=0,
        ).astype(np.float32)
        y0, y1, fy = _interpolation(height, n_y, cell_h)
        self._x0, self._x1, fx = _interpolation(width, n_x, cell_w)
        self._wx0, self._wx1 = 1.0 - fx, fx
        # The mesh interpolated along y for every row: (H, n_x), small.
        self._rows = mesh[y0] * (1.0 - fy)[:, None] + mesh[y1] * fy[:, None]
        self.shape = (height, width)

    def band(self, start: int, stop: int, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
        """The background of rows ``start:stop`` in ``out`` (``scratch``: a buffer as large)."""
        rows = self._rows[start:stop]
        out, scratch = out[: stop - start], scratch[: stop - start]
        np.take(rows, self._x0, axis=1, out=out)
        out *= self._wx0
        np.take(rows, self._x1, axis=1, out=scratch)
        scratch *= self._wx1
        out += scratch
        return out

    def apply(self, plane: np.ndarray, *, subtract: bool) -> None:
        """Subtract the background from ``plane`` (or add it back), in place, band by band."""
        height, width = self.shape
        out = np.empty((min(_BAND_ROWS, height), width), dtype=np.float32)
        scratch = np.empty_like(out)
        operation = np.subtract if subtract else np.add
        for start in range(0, height, _BAND_ROWS):
            stop = min(start + _BAND_ROWS, height)
            band = plane[start:stop]
            operation(band, self.band(start, stop, out, scratch), out=band)


def _background(image: np.ndarray, box_px: int) -> np.ndarray:
    """The smooth background of ``image`` as a plane of its own (see :class:`_Background`)."""
    background = _Background(image, box_px)
    height, width = image.shape
    out = np.empty((height, width), dtype=np.float32)
    scratch = np.empty((min(_BAND_ROWS, height), width), dtype=np.float32)
    for start in range(0, height, _BAND_ROWS):
        stop = min(start + _BAND_ROWS, height)
        background.band(start, stop, out[start:stop], scratch)
    return out


def _interpolation(size_px: int, cells: int, cell_px: int) -> tuple[np.ndarray, ...]:
    """Lower and upper cell and weight of the upper one for each pixel: linear between cell
    centres, and continued linearly from the outer two beyond them (a sky gradient does not
    stop half a cell from the edge)."""
    position = (np.arange(size_px) + 0.5) / cell_px - 0.5
    if cells == 1:
        zero = np.zeros(size_px, dtype=np.intp)
        return zero, zero, np.zeros(size_px, dtype=np.float32)
    lower = np.clip(np.floor(position), 0, cells - 2).astype(np.intp)
    weight = (position - lower).astype(np.float32)
    return lower, lower + 1, weight


def _gaussian_filter(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian filter (±2 sigma), edges extended."""
    radius = max(1, math.ceil(2.0 * sigma_px))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2).astype(np.float32)
    taps /= taps.sum()
    height, width = image.shape
    padded = np.pad(image, radius, mode="edge")
    along_x = np.zeros((height + 2 * radius, width), dtype=np.float32)
    for i, tap in enumerate(taps):
        along_x += tap * padded[:, i : i + width]
    out = np.zeros((height, width), dtype=np.float32)
    for i, tap in enumerate(taps):
        out += tap * along_x[i : i + height]
    return out


def _noise_sigma(sample: np.ndarray) -> float:
    """Robust standard deviation (scaled MAD); the mean absolute deviation if the MAD is 0
    (an 8-bit frame whose background is mostly one value)."""
    deviation = np.abs(sample - np.median(sample))
    sigma = MAD_TO_SIGMA * float(np.median(deviation))
    if sigma == 0.0:
        sigma = math.sqrt(math.pi / 2.0) * float(deviation.mean())
    return sigma


def _filtered_noise_sigma(residual: np.ndarray) -> float:
    """The noise of ``residual`` filtered by sep's default 3×3 kernel (1 2 1, 2 4 2, 1 2 1,
    normalized), measured on every third row and column: the unit of a threshold on what sep
    thresholds."""
    height, width = residual.shape
    filtered = np.zeros(residual[1:-1:_NOISE_STRIDE, 1:-1:_NOISE_STRIDE].shape, dtype=np.float32)
    for dy, dx, weight in _SEP_KERNEL:
        # The interior pixels' neighbours at (dy, dx): the same count of rows and columns.
        filtered += (
            np.float32(weight)
            * residual[
                1 + dy : height - 1 + dy : _NOISE_STRIDE, 1 + dx : width - 1 + dx : _NOISE_STRIDE
            ]
        )
    return _noise_sigma(filtered)


def _box_offsets(half: int, width: int) -> np.ndarray:
    """Flat-index offsets of a (2·half+1)² box in an image ``width`` pixels wide."""
    steps = np.arange(-half, half + 1)
    return (steps[:, None] * width + steps[None, :]).ravel()


def _parabola_peak(before: np.ndarray, centre: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Offset (px, within ±0.5) of the vertex of the parabola through three samples."""
    curvature = before - 2.0 * centre + after
    safe = np.where(curvature < 0, curvature, -1.0)
    offset = np.where(curvature < 0, 0.5 * (before - after) / safe, 0.0)
    return np.clip(offset, -0.5, 0.5)


def _off_crowded_lines(position: np.ndarray, log_significance: float) -> np.ndarray:
    """True for the sources not on a 1-px line (centred on an integer) that removelines.py
    would cut."""
    line = np.floor(position + 0.5).astype(np.intp)
    counts = np.bincount(line - line.min())
    occupied = np.flatnonzero(counts > 1)
    if len(occupied) == 0:
        return np.ones(len(position), dtype=bool)
    extra = (counts[occupied] - 1).astype(np.float64)
    mean = extra.sum() / len(occupied)
    # removelines.py's own score: k·log(mean) − mean − Σ_{i<k} i (its stand-in for log k!).
    score = extra * math.log(mean) - mean - extra * (extra - 1) / 2.0
    crowded = occupied[score < -log_significance] + line.min()
    return ~np.isin(line, crowded)
