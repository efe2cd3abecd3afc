"""Thumbnails: a stretched, reduced 8-bit picture of any image array, and its cache file name.

The work is ordered for big frames (a 6248×4176 uint16 frame is 26 Mpx): nothing is copied at
full resolution in floating point. Statistics come from a strided subsample of the original
pixels (so the stretch matches a full-resolution AutoSTF: block means have less noise, hence a
smaller MAD); the frame is reduced by an integer block mean to about twice the final size
(float32, NaN-aware); the stretch is applied to that; Lanczos resampling gives the final size.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from astrocat_pipeline.core.formats import strip_image_suffix
from astrocat_pipeline.core.stretch import (
    LINEAR_MIDTONES,
    STFParams,
    channel_statistics,
    map_to_unit,
    normalization_limits,
    regular_subsample,
    stf_from_statistics,
)
from astrocat_pipeline.core.tuning import THUMBNAIL_JPEG_QUALITY, THUMBNAIL_MAX_SIZE_PX

Stretch = Literal["stf", "percentile", "none"]
STRETCHES: tuple[str, ...] = ("stf", "percentile", "none")

# The 'percentile' stretch maps the 1st percentile to black and the 99th to white (linear).
PERCENTILE_LOW = 1.0
PERCENTILE_HIGH = 99.0

# Block-mean reduction stops at about this multiple of the final size, so that the final
# Lanczos step still has detail to filter (a straight block mean to the final size aliases).
REDUCE_TO_TIMES_FINAL = 2

THUMBNAIL_SUFFIX = "_thumb.jpg"
# File names are limited to 255 bytes on common file systems; "_" + 8 hex digits + suffix.
_MAX_STEM_BYTES = 255 - 1 - 8 - len(THUMBNAIL_SUFFIX)


def thumbnail_filename(source_path: str) -> str:
    """Cache file name of the thumbnail of ``source_path``.

    ``{stem}_{md5(source_path)[:8]}_thumb.jpg``: the stem is the file name without its
    compression and image extensions (``/x/M31_0001.fits.gz`` → ``M31_0001``), and the hash of
    the whole path (UTF-8) keeps same-named files in different folders apart. A stem that
    would make the name longer than 255 bytes is shortened.
    """
    # surrogateescape: on POSIX, undecodable bytes in a path come back as the original bytes.
    encoded_path = source_path.encode("utf-8", "surrogateescape")
    digest = hashlib.md5(encoded_path, usedforsecurity=False).hexdigest()[:8]
    name = Path(source_path).name
    stem = strip_image_suffix(name) or name
    encoded_stem = stem.encode("utf-8", "surrogateescape")
    if len(encoded_stem) > _MAX_STEM_BYTES:
        stem = encoded_stem[:_MAX_STEM_BYTES].decode("utf-8", "ignore")
    return f"{stem}_{digest}{THUMBNAIL_SUFFIX}"


def thumbnail_size(width: int, height: int, max_size_px: int) -> tuple[int, int]:
    """Largest ``(width, height)`` with the same aspect that fits ``max_size_px`` square.

    Never larger than the input (no upscaling); each side at least 1 pixel.
    """
    if max_size_px < 1:
        raise ValueError(f"max_size_px must be >= 1, got {max_size_px}")
    longest = max(width, height)
    if longest <= max_size_px:
        return width, height
    scale = max_size_px / longest
    return (
        min(max_size_px, max(1, round(width * scale))),
        min(max_size_px, max(1, round(height * scale))),
    )


def _channel_last(data: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` view with C = 1 or 3; raises ``ValueError`` for anything else."""
    if data.dtype == np.bool_:
        data = data.view(np.uint8)
    elif not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"expected real numeric image data, got dtype {data.dtype}")
    if data.ndim == 2:
        data = data[..., np.newaxis]
    elif data.ndim != 3 or data.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected an (H, W) mono or (H, W, 3) channel-last colour array, got shape "
            f"{data.shape}"
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"image has no pixels: shape {data.shape}")
    return data


def _has_non_finite(data: np.ndarray) -> bool:
    if not np.issubdtype(data.dtype, np.floating):
        return False
    return not (np.isfinite(data.min()) and np.isfinite(data.max()))


def _block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """float32 mean of ``factor × factor`` blocks of one ``(H, W)`` plane, ignoring non-finite
    pixels.

    Rows and columns beyond a whole number of blocks (fewer than ``factor``) are dropped.
    A block without any finite pixel is NaN. Works by adding the ``factor**2`` strided views
    into a reduced-size accumulator, so no full-resolution temporary is made.
    """
    non_finite = _has_non_finite(plane)
    if factor == 1:
        reduced = plane.astype(np.float32)
        if non_finite:
            reduced[~np.isfinite(reduced)] = np.nan
        return reduced
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    rows, cols = height * factor, width * factor
    sums = np.zeros((height, width), dtype=np.float32)
    counts = np.zeros_like(sums) if non_finite else None
    for i in range(factor):
        for j in range(factor):
            view = plane[i:rows:factor, j:cols:factor]
            if counts is None:
                sums += view
            else:
                finite = np.isfinite(view)
                np.add(sums, view, out=sums, where=finite, casting="same_kind")
                counts += finite
    if counts is None:
        sums *= np.float32(1.0 / (factor * factor))
        return sums
    return np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)


def _finite_percentiles(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    values = values.ravel()
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    p_low, p_high = np.percentile(values, [low, high])
    return float(p_low), float(p_high)


def _json_floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def render_thumbnail(
    data: np.ndarray,
    *,
    flip_vertical: bool = False,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    params: STFParams = STFParams(),  # noqa: B008  (frozen, so a shared default is safe)
    stretch: Stretch = "stf",
) -> tuple[Image.Image, dict[str, Any]]:
    """Render an image array as a stretched 8-bit thumbnail.

    Parameters
    ----------
    data
        ``(H, W)`` mono or ``(H, W, 3)`` channel-last colour, any real numeric dtype, linear
        or not. NaN/±inf pixels (e.g. the borders of a registered stack) are ignored in the
        statistics and take the median's level.
    flip_vertical
        Flip rows: FITS row 1 is the bottom of the picture, array row 0 is drawn at the top.
    max_size_px
        The result fits in ``max_size_px × max_size_px`` with the aspect kept; never upscaled.
    params
        Normalization (all stretches) and AutoSTF settings (``'stf'``).
    stretch
        ``'stf'``: PixInsight AutoSTF (for linear data). ``'percentile'``: linear from the 1st
        to the 99th percentile. ``'none'``: linear over the normalization range (8-bit data
        as is).

    Returns
    -------
    (image, info)
        An ``'L'`` or ``'RGB'`` PIL image, and the stretch actually used, JSON-ready:
        ``stretch``, ``normalization``, ``linked``, ``input_range`` (data values of
        normalized 0 and 1), ``median`` and ``mad`` per channel (normalized units, finite
        pixels of the statistics subsample; None when there are none), ``c0``,
        ``highlights`` and ``m`` per channel (normalized units), ``stats_step`` (the
        subsample's stride), ``reduction_factor`` (the block-mean size) and ``size_px``.
    """
    if stretch not in STRETCHES:
        raise ValueError(f"stretch must be one of {STRETCHES}, got {stretch!r}")
    planes = _channel_last(np.asarray(data))
    height, width, n_channels = planes.shape
    out_width, out_height = thumbnail_size(width, height, max_size_px)

    low, high = normalization_limits(planes, params.normalization)
    span = high - low
    subsample, stats_step = regular_subsample(planes)
    median_data, mad_data = channel_statistics(subsample)
    median = (median_data - low) / span
    mad = mad_data / span

    # Limits in normalized units: shadows c0 -> 0, highlights -> 1, then MTF(m).
    c0 = np.zeros(n_channels)
    highlights = np.ones(n_channels)
    m = np.full(n_channels, LINEAR_MIDTONES)
    if stretch == "stf":
        c0, m = stf_from_statistics(median, mad, params)
    elif stretch == "percentile":
        groups = [list(range(n_channels))] if params.linked else [[c] for c in range(n_channels)]
        for group in groups:
            p_low, p_high = _finite_percentiles(
                subsample[..., group], PERCENTILE_LOW, PERCENTILE_HIGH
            )
            if p_high > p_low:  # else (constant, no finite data) keep the plain normalization
                c0[group] = (p_low - low) / span
                highlights[group] = (p_high - low) / span

    longest = max(width, height)
    factor = max(1, (longest // max_size_px) // REDUCE_TO_TIMES_FINAL)
    factor = min(factor, width, height)  # keep at least one pixel on each side
    pixels = np.empty((height // factor, width // factor, n_channels), dtype=np.uint8)
    for channel in range(n_channels):
        plane = _block_mean(planes[..., channel], factor)
        # Blocks without data take the background level; with no data at all, mid-grey.
        fill = median_data[channel]
        if not math.isfinite(fill):
            fill = low + span * (c0[channel] + (highlights[channel] - c0[channel]) / 2)
        np.copyto(plane, np.float32(fill), where=np.isnan(plane))
        unit = map_to_unit(
            plane, low + span * c0[channel], low + span * highlights[channel], m[channel]
        )
        np.rint(unit * np.float32(255.0), out=unit)
        pixels[..., channel] = unit
    if flip_vertical:
        pixels = pixels[::-1]
    image = Image.fromarray(np.ascontiguousarray(pixels[..., 0] if n_channels == 1 else pixels))
    if image.size != (out_width, out_height):
        image = image.resize((out_width, out_height), Image.Resampling.LANCZOS)

    info: dict[str, Any] = {
        "stretch": stretch,
        "normalization": params.normalization,
        "linked": params.linked,
        "input_range": [low, high],
        "median": _json_floats(median),
        "mad": _json_floats(mad),
        "c0": _json_floats(c0),
        "highlights": _json_floats(highlights),
        "m": _json_floats(m),
        "stats_step": stats_step,
        "reduction_factor": factor,
        "size_px": [out_width, out_height],
    }
    if stretch == "stf":
        info["shadows_clip_madn"] = params.shadows_clip_madn
        info["mad_scale"] = params.mad_scale
        info["target_background"] = params.target_background
    return image, info


def encode_jpeg(image: Image.Image, quality: int = THUMBNAIL_JPEG_QUALITY) -> bytes:
    """JPEG bytes of an ``'L'`` or ``'RGB'`` image (other modes are converted to RGB)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
