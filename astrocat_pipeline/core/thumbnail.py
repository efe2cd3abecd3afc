"""Thumbnails: a stretched, reduced 8-bit picture of any image array, and its cache file name.

The work is ordered for big frames (a 6248×4176 uint16 frame is 26 Mpx): nothing is copied at
full resolution in floating point (only frames less than about three times the thumbnail's
size, cheap anyway, are stretched at full resolution). Statistics come from a strided
subsample of the original pixels (so the stretch matches a full-resolution AutoSTF: block means
have less noise, hence a smaller MAD); the frame is reduced by an integer block mean to about
twice the final size (float32, NaN-aware, in strips); the stretch is applied to that, in
place; Lanczos resampling gives the final size. A CFA (one-shot-colour) mosaic is first turned
into colour by :mod:`astrocat_pipeline.core.debayer`, in its own dtype: one superpixel per 2×2
cell unless that would be smaller than the thumbnail.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from astrocat_pipeline.core.debayer import DebayerMethod, debayer, normalize_bayer_pattern
from astrocat_pipeline.core.formats import strip_image_suffix
from astrocat_pipeline.core.stretch import (
    LINEAR_MIDTONES,
    STRETCHES,
    STFParams,
    Stretch,
    channel_statistics,
    choose_stretch,
    map_to_unit,
    normalization_limits,
    regular_subsample,
    stf_from_statistics,
)
from astrocat_pipeline.core.tuning import (
    PERCENTILE_HIGH,
    PERCENTILE_LOW,
    THUMBNAIL_JPEG_QUALITY,
    THUMBNAIL_MAX_SIZE_PX,
    THUMBNAIL_REDUCE_TO_TIMES_FINAL,
)

# Re-exported: callers pick the stretch with choose_stretch and pass it to render_thumbnail.
__all__ = [
    "PERCENTILE_HIGH",
    "PERCENTILE_LOW",
    "STRETCHES",
    "THUMBNAIL_NAME_PATTERN",
    "THUMBNAIL_SUFFIX",
    "Stretch",
    "choose_stretch",
    "encode_jpeg",
    "is_thumbnail_filename",
    "render_thumbnail",
    "thumbnail_filename",
    "thumbnail_size",
]

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


# Every name thumbnail_filename can return, and (in practice) nothing a person would put in the
# cache directory: the cache is cleared by this pattern, so it must not match other files.
THUMBNAIL_NAME_PATTERN = re.compile(r".+_[0-9a-f]{8}" + re.escape(THUMBNAIL_SUFFIX), re.DOTALL)


def is_thumbnail_filename(name: str) -> bool:
    """True if ``name`` (a file name, no folder) has the form :func:`thumbnail_filename` makes."""
    return THUMBNAIL_NAME_PATTERN.fullmatch(name) is not None


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


# block_mean works through the frame in strips of this many output rows: the strip's
# float32 temporaries stay in the CPU cache (measured 2x faster than whole-frame passes on a
# 26-Mpx frame) and use a few MB however large the frame.
_STRIP_ROWS = 32


def _sum_blocks(strip: np.ndarray, factor: int, out: np.ndarray) -> None:
    """Add the ``factor × factor`` block sums of ``strip`` (``(n * factor, m * factor)``) to
    ``out`` (``(n, m)`` float32): rows first, then columns, each a strided view."""
    rows = strip[0::factor].astype(np.float32)
    for i in range(1, factor):
        rows += strip[i::factor]
    for j in range(factor):
        out += rows[:, j::factor]


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """float32 mean of ``factor × factor`` blocks of one ``(H, W)`` plane, ignoring non-finite
    pixels.

    Rows and columns beyond a whole number of blocks (fewer than ``factor``) are dropped.
    A block without any finite pixel is NaN. No full-resolution temporary is made: the plane
    is read in strips (see ``_STRIP_ROWS``) in its own dtype.
    """
    non_finite = _has_non_finite(plane)
    if factor == 1:
        reduced = plane.astype(np.float32)
        if non_finite:
            reduced[~np.isfinite(reduced)] = np.nan
        return reduced
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    cols = width * factor
    sums = np.zeros((height, width), dtype=np.float32)
    counts = np.zeros_like(sums) if non_finite else None
    for start in range(0, height, _STRIP_ROWS):
        stop = min(start + _STRIP_ROWS, height)
        strip = plane[start * factor : stop * factor, :cols]
        if counts is None:
            _sum_blocks(strip, factor, sums[start:stop])
            continue
        values = strip.astype(np.float32)
        finite = np.isfinite(values)
        values[~finite] = 0.0
        _sum_blocks(values, factor, sums[start:stop])
        _sum_blocks(finite.view(np.uint8), factor, counts[start:stop])
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


def _cfa_mosaic(data: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` plane of a CFA mosaic; ``ValueError`` for any other shape."""
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
        raise ValueError(
            f"a CFA mosaic (bayer_pattern given) is one (H, W) plane of at least 2×2 pixels, "
            f"got shape {data.shape}"
        )
    return data


def render_thumbnail(
    data: np.ndarray,
    *,
    flip_vertical: bool = False,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    params: STFParams = STFParams(),  # noqa: B008  (frozen, so a shared default is safe)
    stretch: Stretch = "stf",
    bayer_pattern: str | None = None,
    kept: Mapping[str, Any] | None = None,
) -> tuple[Image.Image, dict[str, Any]]:
    """Render an image array as a stretched 8-bit thumbnail.

    Parameters
    ----------
    data
        ``(H, W)`` mono or ``(H, W, 3)`` channel-last colour, any real numeric dtype, linear
        or not (e.g. a camera raw decoded to RGB); or, with ``bayer_pattern``, an ``(H, W)``
        CFA mosaic. NaN/±inf pixels (e.g. the borders of a registered stack) are ignored in
        the statistics and take the median's level.
    flip_vertical
        Flip rows: FITS row 1 is the bottom of the picture, array row 0 is drawn at the top.
        Applied after debayering, so ``bayer_pattern`` is always in stored row order.
    max_size_px
        The result fits in ``max_size_px × max_size_px`` with the aspect kept; never upscaled.
    params
        Normalization (all stretches), channel linking (all stretches) and AutoSTF settings.
    stretch
        ``'stf'``: PixInsight AutoSTF (for linear data). ``'percentile'``: linear from the 1st
        to the 99th percentile. ``'none'``: linear over the normalization range (8-bit data
        as is). :func:`~astrocat_pipeline.core.stretch.choose_stretch` picks one from the
        frame type and sample format.
    bayer_pattern
        ``data`` is a one-shot-colour mosaic with this 2×2 pattern *at the array's origin*
        (``'RGGB'``, ``'BGGR'``, ``'GRBG'``, ``'GBRG'``); get it from the header with
        :func:`~astrocat_pipeline.core.debayer.bayer_pattern_from_keywords` (FITS: BAYERPAT,
        XBAYROFF/YBAYROFF, ROWORDER) or
        :func:`~astrocat_pipeline.core.debayer.cfa_pattern_at_origin`. None: no CFA.
    kept
        The ``info`` of an earlier rendering of the same data (at any size): its limits and
        midtones are applied as they are, without computing statistics again, when it is for
        the same stretch, normalization, channel linking, channel count and CFA pattern
        (otherwise it is ignored). The caller makes sure the data are the same.

    Returns
    -------
    (image, info)
        An ``'L'`` or ``'RGB'`` PIL image, and the stretch actually used, JSON-ready:
        ``stretch``, ``normalization``, ``linked``, ``input_range`` (data values of
        normalized 0 and 1), ``median`` and ``mad`` per channel (normalized units, finite
        pixels of the statistics subsample; None when there are none), ``c0``,
        ``highlights`` and ``m`` per channel (normalized units), ``stats_step`` (the
        subsample's stride), ``statistics_kept`` (True: taken from ``kept``),
        ``reduction_factor`` (the block-mean size), ``debayer`` (``'superpixel'``,
        ``'bilinear'`` or None), ``bayer_pattern`` and ``size_px``; for
        ``'stf'`` also ``shadows_clip_madn``, ``mad_scale`` and ``target_background``.
    """
    if stretch not in STRETCHES:
        raise ValueError(f"stretch must be one of {STRETCHES}, got {stretch!r}")
    array = np.asarray(data)
    debayer_method: DebayerMethod | None = None
    if bayer_pattern is not None:
        bayer_pattern = normalize_bayer_pattern(bayer_pattern)
        mosaic = _cfa_mosaic(array)
        out_width, out_height = thumbnail_size(mosaic.shape[1], mosaic.shape[0], max_size_px)
        # Superpixels (half size, one pass) unless they would be smaller than the thumbnail;
        # frames that small are cheap to interpolate at full resolution.
        debayer_method = "superpixel"
        if max(out_width, out_height) > max(mosaic.shape[0] // 2, mosaic.shape[1] // 2):
            debayer_method = "bilinear"
        planes = _channel_last(debayer(mosaic, bayer_pattern, debayer_method))
    else:
        planes = _channel_last(array)
        out_width, out_height = thumbnail_size(planes.shape[1], planes.shape[0], max_size_px)
    height, width, n_channels = planes.shape

    reuse = _usable_kept(kept, stretch, params, n_channels, bayer_pattern)
    if reuse is not None:
        low, high = (float(v) for v in reuse["input_range"])
        span = high - low
        stats_step = int(reuse["stats_step"])
        median = _kept_floats(reuse["median"])
        mad = _kept_floats(reuse["mad"])
        median_data = low + span * median
        c0 = _kept_floats(reuse["c0"])
        highlights = _kept_floats(reuse["highlights"])
        m = _kept_floats(reuse["m"])
    else:
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
            groups = (
                [list(range(n_channels))] if params.linked else [[c] for c in range(n_channels)]
            )
            for group in groups:
                p_low, p_high = _finite_percentiles(
                    subsample[..., group], PERCENTILE_LOW, PERCENTILE_HIGH
                )
                if p_high > p_low:  # else (constant, no finite data) keep the normalization
                    c0[group] = (p_low - low) / span
                    highlights[group] = (p_high - low) / span

    # Block-mean down to about THUMBNAIL_REDUCE_TO_TIMES_FINAL (2) times the final size,
    # leaving the rest to Lanczos; rounding keeps the reduced frame at least the final size.
    reduce_ratio = max(width, height) / (
        max(out_width, out_height) * THUMBNAIL_REDUCE_TO_TIMES_FINAL
    )
    factor = max(1, math.floor(reduce_ratio + 0.5))
    factor = min(factor, width, height)  # keep at least one pixel on each side
    pixels = np.empty((height // factor, width // factor, n_channels), dtype=np.uint8)
    for channel in range(n_channels):
        plane = block_mean(planes[..., channel], factor)
        if np.issubdtype(planes.dtype, np.floating):
            # Blocks without data take the background level; with no data at all, mid-grey.
            fill = median_data[channel]
            if not math.isfinite(fill):
                fill = low + span * (c0[channel] + (highlights[channel] - c0[channel]) / 2)
            np.copyto(plane, np.float32(fill), where=np.isnan(plane))
        # In place: plane is this function's own reduced copy.
        map_to_unit(
            plane,
            low + span * c0[channel],
            low + span * highlights[channel],
            m[channel],
            out=plane,
        )
        plane *= np.float32(255.0)
        np.rint(plane, out=plane)
        pixels[..., channel] = plane
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
        "statistics_kept": reuse is not None,
        "reduction_factor": factor,
        "debayer": debayer_method,
        "bayer_pattern": bayer_pattern,
        "size_px": [out_width, out_height],
    }
    if stretch == "stf":
        info["shadows_clip_madn"] = params.shadows_clip_madn
        info["mad_scale"] = params.mad_scale
        info["target_background"] = params.target_background
    return image, info


def _kept_floats(values: Any) -> np.ndarray:
    """Per-channel values as JSON keeps them (None for NaN) back to floats."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _usable_kept(
    kept: Mapping[str, Any] | None,
    stretch: Stretch,
    params: STFParams,
    n_channels: int,
    bayer_pattern: str | None,
) -> Mapping[str, Any] | None:
    """``kept`` if it describes this rendering's stretch (see :func:`render_thumbnail`)."""
    if not kept:
        return None
    try:
        same = (
            kept["stretch"] == stretch
            and kept["normalization"] == params.normalization
            and kept["linked"] == params.linked
            and kept.get("bayer_pattern") == bayer_pattern
            and all(len(kept[k]) == n_channels for k in ("median", "mad", "c0", "highlights", "m"))
            and len(kept["input_range"]) == 2
            and float(kept["input_range"][1]) > float(kept["input_range"][0])
        )
        if stretch == "stf":
            same = same and (
                kept["shadows_clip_madn"] == params.shadows_clip_madn
                and kept["mad_scale"] == params.mad_scale
                and kept["target_background"] == params.target_background
            )
    except (KeyError, TypeError, ValueError):
        return None  # recorded by another version: compute afresh
    return kept if same else None


def encode_jpeg(image: Image.Image, quality: int = THUMBNAIL_JPEG_QUALITY) -> bytes:
    """JPEG bytes of an ``'L'`` or ``'RGB'`` image (other modes are converted to RGB)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def encode_image(
    image: Image.Image, image_format: str, quality: int = THUMBNAIL_JPEG_QUALITY
) -> bytes:
    """``image`` as ``jpeg`` or ``webp`` bytes (WebP: about a third smaller at the same look)."""
    if image_format == "jpeg":
        return encode_jpeg(image, quality)
    if image_format != "webp":
        raise ValueError(f"expected jpeg or webp, found {image_format!r}")
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="WEBP", quality=quality, method=4)
    return buffer.getvalue()


def reduced_copy(image: Image.Image, max_size_px: int) -> Image.Image:
    """A copy of ``image`` that fits ``max_size_px`` square (Lanczos; never enlarged): the
    grid's smaller thumbnail, made from the stretched one, so no statistics are computed."""
    size = thumbnail_size(image.width, image.height, max_size_px)
    copy = image.convert("RGB")
    return copy if size == copy.size else copy.resize(size, Image.Resampling.LANCZOS)


def render_placeholder(lines: list[str], size_px: tuple[int, int] = (400, 300)) -> Image.Image:
    """A dark picture that says why a file has no thumbnail (one line per entry, wrapped)."""
    import textwrap

    from PIL import ImageDraw, ImageFont

    width, height = size_px
    image = Image.new("RGB", (width, height), (38, 30, 34))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(11, width // 28))
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, width=44) or [""]  # the font is width/28: ~44 fit
    wrapped = wrapped[:12]
    line_px = max(14, width // 22)
    top = max(8, (height - line_px * len(wrapped)) // 2)
    draw.rectangle((2, 2, width - 3, height - 3), outline=(200, 80, 80), width=2)
    for i, text in enumerate(wrapped):
        colour = (255, 170, 150) if i == 0 else (220, 220, 220)
        draw.text((width // 2, top + i * line_px), text, fill=colour, font=font, anchor="mt")
    return image
