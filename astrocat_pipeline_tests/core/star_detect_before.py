"""Star detection with sep as it was before it worked in one plane (commit 368a002): the
reference that ``core/star_detect.py``'s in-place, band-by-band detection must give the same
stars as (``test_star_detect_memory.py``). Only the parts that change rewrote are kept here, as
they were: the float32 copy of the image, the whole-plane background and residual, the pixel
replacements made in that residual, and sep's pixel stack sized for half the plane. The rest
(shape tests, windowed centroids, binning, noise) is the module's own, unchanged by it. A
deliberate change of the detection method is made here too, in this whole-plane form (the PSF
probe that flattens sharp pixels before the one extraction, and the second, fainter
extraction of sparse frames, December 2026), so that the
in-place machinery stays checked against it.
"""

from __future__ import annotations

import numpy as np

from astrocat_pipeline.core.star_detect import (
    _FLAT_NOISE_FRACTION,
    _FLUX_HALF_BOX_PX,
    _NOISE_STRIDE,
    DetectedStars,
    _bin,
    _box_offsets,
    _filtered_noise_sigma,
    _interpolation,
    _no_arrays,
    _no_stars,
    _noise_sigma,
    _refine,
    _spreads,
    _star_shaped,
)
from astrocat_pipeline.core.tuning import (
    STAR_BACKGROUND_BOX_PX,
    STAR_MAX_PEAK_FRACTION,
    STAR_MIN_SPREAD_FRACTION,
    STAR_PSF_PROBE_SIGMA,
    STAR_REFINE_COUNT,
    STAR_SEP_DETECT_SIGMA,
    STAR_SEP_MIN_AREA_PX,
    STAR_SEP_TARGET_WIDTH_PX,
    STAR_SPARSE_BELOW,
)


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
    finite = np.isfinite(mono)
    if not finite.all():
        mono[~finite] = float(np.median(mono[finite])) if finite.any() else 0.0
    return mono


def detect_stars(image: np.ndarray, *, bin_factor: int = 1, cfa: bool = False) -> DetectedStars:
    """``star_detect.detect_stars(image, bin_factor=..., cfa=...)`` (method ``"sep"``) as it was."""
    if cfa:
        bin_factor = max(2, bin_factor + bin_factor % 2)
    full = mono_image(image)
    mono = _bin(full, bin_factor) if bin_factor > 1 else full
    height, width = mono.shape
    margin = _FLUX_HALF_BOX_PX + 1
    if height <= 2 * margin or width <= 2 * margin:
        return _no_stars()
    sigma = STAR_SEP_DETECT_SIGMA
    x, y, flux, psf_width = _detect_sep(mono, sigma)
    extra = int(psf_width // STAR_SEP_TARGET_WIDTH_PX)
    if extra >= 2 and min(height, width) // extra > 2 * margin:
        x, y, flux, _ = _detect_sep(_bin(mono, extra), sigma)
        x, y = x * extra + (extra - 1) / 2.0, y * extra + (extra - 1) / 2.0
    x = x * bin_factor + (bin_factor - 1) / 2.0
    y = y * bin_factor + (bin_factor - 1) / 2.0
    order = np.argsort(-flux, kind="stable")
    x, y, flux = x[order], y[order], flux[order]
    finest = 2 if cfa else 1
    if bin_factor > finest and psf_width > 0 and len(x):
        fine = _bin(full, finest) if finest > 1 else full
        x, y = _refine(fine, finest, x, y, psf_width * bin_factor / finest, bin_factor)
    return DetectedStars(x.astype(np.float64), y.astype(np.float64), flux.astype(np.float64))


def _detect_sep(
    mono: np.ndarray, detect_sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """sep's extraction and the shape tests: (x, y, flux) in ``mono``'s pixels, any order,
    and the PSF's minor-axis width (px; 0 when there are too few stars to tell)."""
    import sep  # imported here: the thumbnail and metadata commands never need it

    data = np.ascontiguousarray(mono, dtype=np.float32)
    # The background mesh of the numpy detector (cell medians on every other pixel, 3×3
    # median-filtered, bilinear): the same method as sep.Background, at a third of its cost.
    residual = data - _background(data, STAR_BACKGROUND_BOX_PX)
    # One noise level for the frame, from the background-subtracted pixels (sep's own global
    # rms is the spread within each mesh cell, which a gradient across the cell inflates); a
    # per-pixel noise map costs 3-4× the extraction's time and would lower the threshold under
    # clouds and foreground, where the stars are lost anyway.
    rms = _noise_sigma(residual[::_NOISE_STRIDE, ::_NOISE_STRIDE])
    if rms <= _FLAT_NOISE_FRACTION * float(np.max(np.abs(data))):
        return (*_no_arrays(), 0.0)  # a flat frame: what is left is float32 rounding
    # The outermost rows and columns: no neighbour on one side to tell a hot pixel from a
    # star, and no centroid worth having there. They read as background.
    residual[[0, -1], :] = 0.0
    residual[:, [0, -1]] = 0.0
    _flatten_single_pixels(residual, detect_sigma * rms)
    threshold = detect_sigma * rms
    # Since the PSF probe (STAR_PSF_PROBE_SIGMA): the sharp pixels flattened first, against
    # the PSF of the bright stars, and the frame extracted once.
    probe_spread = 0.0
    if STAR_PSF_PROBE_SIGMA > 0:
        _, _, probe_spread, _ = _star_shaped(
            _extract(residual, STAR_PSF_PROBE_SIGMA, rms), residual
        )
    if probe_spread > 0:
        _flatten_sharp_pixels(residual, threshold, STAR_MIN_SPREAD_FRACTION * probe_spread)
    objects = _extract(residual, detect_sigma, rms)
    shaped, psf_width, psf_spread, sharp = _star_shaped(objects, residual)
    if (
        sharp
        and probe_spread == 0
        and _flatten_sharp_pixels(residual, threshold, STAR_MIN_SPREAD_FRACTION * psf_spread)
    ):
        # Cosmic rays or bad columns: a star beside one merges with it into one object, which
        # is then judged by the artefact's peak (and lost) or centred between the two. Their
        # pixels, sharper than the PSF allows, are flattened and the frame extracted again.
        objects = _extract(residual, detect_sigma, rms)
        shaped, psf_width, _, _ = _star_shaped(objects, residual)
    # Since STAR_SPARSE_BELOW: a frame with few stars extracted once more at detect_sigma of
    # its filtered image's own noise.
    kept = np.count_nonzero((objects["flux"] > 0) & shaped)
    faint_sigma = detect_sigma * _filtered_noise_sigma(residual) / rms
    if kept < STAR_SPARSE_BELOW and 0 < faint_sigma < detect_sigma:
        faint = _extract(residual, faint_sigma, rms)
        faint_shaped, faint_psf_width, _, _ = _star_shaped(faint, residual)
        if np.count_nonzero((faint["flux"] > 0) & faint_shaped) > kept:
            objects, shaped, psf_width = faint, faint_shaped, faint_psf_width
    objects = objects[(objects["flux"] > 0) & shaped]
    x, y = objects["x"].astype(np.float64), objects["y"].astype(np.float64)
    if len(objects) and psf_width > 0:
        # Windowed centroids (SExtractor's XWIN_IMAGE) for the brightest: a Gaussian window of
        # the PSF's width weighs the core, where the isophotal barycentre lets the noisy wings
        # pull it. (0.02 ms a star: the faint rest keeps its isophotal centre.)
        brightest = np.argsort(-objects["flux"], kind="stable")[:STAR_REFINE_COUNT]
        wx, wy, flag = sep.winpos(residual, x[brightest], y[brightest], max(psf_width, 0.5))
        good = (flag == 0) & np.isfinite(wx) & np.isfinite(wy)
        good &= np.hypot(wx - x[brightest], wy - y[brightest]) < 2.0 * max(psf_width, 0.5)
        x[brightest] = np.where(good, wx, x[brightest])
        y[brightest] = np.where(good, wy, y[brightest])
    return x, y, objects["flux"].astype(np.float64), psf_width


def _extract(residual: np.ndarray, detect_sigma: float, rms: float) -> np.ndarray:
    """sep's objects in a background-subtracted image, ``detect_sigma`` × ``rms`` up."""
    import sep

    # sep keeps these limits in C globals; every call sets what it needs. A frame full of
    # stars or a bright nebula needs more pixels on the stack than the default 300,000.
    sep.set_extract_pixstack(max(300_000, residual.size // 2))
    sep.set_sub_object_limit(4096)
    try:
        return sep.extract(residual, detect_sigma, err=rms, minarea=STAR_SEP_MIN_AREA_PX)
    except Exception as exc:  # sep raises a bare Exception for its internal limits
        if "limit" not in str(exc) and "pixel stack" not in str(exc):
            raise
        # Too many objects to deblend (a dense Milky Way field at a low threshold): once more
        # at twice the threshold, which keeps the bright stars the solver needs.
        return sep.extract(residual, 2.0 * detect_sigma, err=rms, minarea=STAR_SEP_MIN_AREA_PX)


def _flatten_sharp_pixels(residual: np.ndarray, threshold: float, min_spread: float) -> bool:
    """Replace, in place, each pixel above ``threshold`` whose neighbours along a row or a
    column hold less than ``min_spread`` of it by the mean of those two neighbours. Every pixel
    of a Gaussian star keeps at least the peak's share on both axes (the profile is separable),
    so only what is sharper than the PSF goes. True if any pixel was replaced."""
    width = residual.shape[1]
    rows, cols = np.divmod(np.flatnonzero(residual[1:-1, 1:-1] > threshold), width - 2)
    index = (rows + 1) * width + (cols + 1)
    if len(index) == 0:
        return False
    along_row, along_column = _spreads(residual, index)
    flat = residual.ravel()
    across_row = along_row < min_spread
    across_column = ~across_row & (along_column < min_spread)
    if not (across_row.any() or across_column.any()):
        return False
    row_index, column_index = index[across_row], index[across_column]
    row_value = 0.5 * (flat[row_index - 1] + flat[row_index + 1])
    column_value = 0.5 * (flat[column_index - width] + flat[column_index + width])
    flat[row_index] = row_value
    flat[column_index] = column_value
    return True


def _flatten_single_pixels(residual: np.ndarray, threshold: float) -> None:
    """Replace, in place, each pixel above ``threshold`` that holds at least
    ``STAR_MAX_PEAK_FRACTION`` of its 3×3 box (a hot pixel or a one-pixel cosmic-ray hit: no
    star is that sharp) by the mean of its 8 neighbours, so that one sitting on a star's
    wing does not take the star with it when the object is judged."""
    width = residual.shape[1]
    flat = residual.ravel()
    rows, cols = np.divmod(np.flatnonzero(residual[1:-1, 1:-1] > threshold), width - 2)
    index = (rows + 1) * width + (cols + 1)
    if len(index) == 0:
        return
    neighbours = flat[index[:, None] + _box_offsets(1, width)[[0, 1, 2, 3, 5, 6, 7, 8]]]
    box = neighbours.sum(axis=1) + flat[index]
    single = (box > 0) & (flat[index] >= STAR_MAX_PEAK_FRACTION * box)
    flat[index[single]] = neighbours[single].mean(axis=1)


def _background(image: np.ndarray, box_px: int) -> np.ndarray:
    """Smooth background: cell medians, 3×3 median-filtered, bilinear between cell centres."""
    height, width = image.shape
    n_y, n_x = max(1, height // box_px), max(1, width // box_px)
    cell_h, cell_w = height // n_y, width // n_x
    # Every other pixel of each cell: the median of ~1,000 values is as good and 4× cheaper.
    cells = image[: n_y * cell_h, : n_x * cell_w].reshape(n_y, cell_h, n_x, cell_w)
    samples = cells[:, ::2, :, ::2].transpose(0, 2, 1, 3).reshape(n_y, n_x, -1)
    mesh = np.median(samples, axis=2)
    # A cell covered by a bright star or the core of a galaxy reads high: take the median of
    # each cell's 3×3 neighbourhood, as SExtractor's BACK_FILTERSIZE 3 does.
    # Odd reflection at the edges continues a gradient, so a sloped sky keeps its slope there.
    padded = np.pad(mesh, 1, mode="reflect", reflect_type="odd")
    mesh = np.median(
        np.stack([padded[i : i + n_y, j : j + n_x] for i in range(3) for j in range(3)]), axis=0
    ).astype(np.float32)
    y0, y1, fy = _interpolation(height, n_y, cell_h)
    x0, x1, fx = _interpolation(width, n_x, cell_w)
    rows = mesh[y0] * (1.0 - fy)[:, None] + mesh[y1] * fy[:, None]
    return rows[:, x0] * (1.0 - fx) + rows[:, x1] * fx
