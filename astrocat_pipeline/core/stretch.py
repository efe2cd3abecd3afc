"""PixInsight-style screen transfer function (AutoSTF) in plain numpy.

As in ``astropy.visualization``, limits are kept apart from the mapping onto [0, 1]:

- :func:`normalization_limits` says which data values become 0 and 1 (*normalization*);
- :func:`regular_subsample`, :func:`channel_statistics` and :func:`stf_from_statistics` turn the
  data into the STF's shadows clip ``c0`` and midtones balance ``m`` (*limits*);
- :func:`map_to_unit`, :func:`apply_stf` and :func:`mtf` map values onto [0, 1] (*stretch*);
- :func:`choose_stretch` picks the stretch for an image from what its metadata says (*policy*).

:func:`stf_parameters` chains the limits for data that is already normalized. Thumbnails
(:mod:`astrocat_pipeline.core.thumbnail`) use the pieces separately so that statistics come
from the full-resolution data while the stretch is applied to a reduced copy.

Nothing here mutates its input. Non-finite pixels (NaN, ±inf) are left out of every statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.tuning import (
    MAD_TO_SIGMA,
    STF_SHADOWS_CLIP_MADN,
    STF_STATS_MAX_PIXELS,
    STF_TARGET_BACKGROUND,
)

Normalization = Literal["dtype", "minmax"]
NORMALIZATIONS: tuple[str, ...] = ("dtype", "minmax")

# How a thumbnail maps data to grey levels (see choose_stretch): PixInsight AutoSTF, linear from
# the 1st to the 99th percentile, or linear over the normalization range.
Stretch = Literal["stf", "percentile", "none"]
STRETCHES: tuple[str, ...] = ("stf", "percentile", "none")

# When more than half the pixels equal the median (quantized or nearly constant data, e.g. a
# bias frame with sub-ADU noise), the MAD is 0. The mean absolute deviation is then used,
# scaled to what a MAD would be for normal noise: MAD / mean-AD = Phi^-1(3/4) / sqrt(2/pi).
MEAN_AD_TO_MAD = 0.6744897501960817 / math.sqrt(2.0 / math.pi)

# Midtones balance that leaves values unchanged: MTF(0.5, x) = x.
LINEAR_MIDTONES = 0.5


@dataclass(frozen=True)
class STFParams:
    """Settings of the automatic screen transfer function.

    Attributes
    ----------
    shadows_clip_madn
        Shadows clipping point relative to the median, in units of ``mad_scale × MAD``.
        PixInsight's AutoSTF uses −2.8 normalized MADs.
    target_background
        Display level in [0, 1] that the median (the sky background) is mapped to.
    linked
        Colour images: one stretch for all channels from the channel-averaged statistics (keeps
        the colour balance) instead of one per channel (neutralizes a colour cast).
    normalization
        ``'dtype'``: data are put on [0, 1] by their type's range (integers by the integer
        range, floats assumed in [0, 1] when their maximum is at most 1, else by their maximum).
        ``'minmax'``: by the data's own minimum and maximum (the older AutoSTF variant).
    mad_scale
        Factor from MAD to the spread unit of ``shadows_clip_madn``; the default turns MAD into
        a normal σ (MADN). The older variant "median − 1.25 MAD after min/max normalization" is
        ``STFParams(shadows_clip_madn=-1.25, mad_scale=1.0, normalization='minmax')``.
    """

    shadows_clip_madn: float = STF_SHADOWS_CLIP_MADN
    target_background: float = STF_TARGET_BACKGROUND
    linked: bool = True
    normalization: Normalization = "dtype"
    mad_scale: float = MAD_TO_SIGMA

    def __post_init__(self) -> None:
        if not 0.0 < self.target_background < 1.0:
            raise ValueError(
                f"target_background must be strictly between 0 and 1, got {self.target_background}"
            )
        if not math.isfinite(self.shadows_clip_madn):
            raise ValueError(f"shadows_clip_madn must be finite, got {self.shadows_clip_madn}")
        if not (math.isfinite(self.mad_scale) and self.mad_scale >= 0.0):
            raise ValueError(f"mad_scale must be finite and >= 0, got {self.mad_scale}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )


def mtf(m: float, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Midtones transfer function ``MTF(m, x) = (m − 1) x / ((2m − 1) x − m)``.

    Parameters
    ----------
    m
        Midtones balance in [0, 1]: the input level that is mapped to 0.5.
    x
        Values, any shape; clipped to [0, 1] first (the function is only defined there).
        NaN stays NaN.
    out
        Floating-point array of ``x``'s shape to write the result to; it may be ``x`` itself
        (in place, which saves a full-size temporary on large frames). By default a new
        array, and ``x`` is never modified.

    Returns
    -------
    numpy.ndarray
        ``out``, or a new array of ``x``'s shape, in [0, 1]; float32 input stays float32,
        integer input becomes float64. ``MTF(m, 0) = 0``, ``MTF(m, 1) = 1``,
        ``MTF(m, m) = 0.5``, and the function is monotonically non-decreasing in ``x``.
    """
    m = float(m)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"midtones balance m must be in [0, 1], got {m}")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if out is None:
        out = np.empty_like(x)  # out= also keeps 0-d input an array
    elif out.shape != x.shape or not np.issubdtype(out.dtype, np.floating):
        raise ValueError(f"out must be a float array of shape {x.shape}, got {out.dtype}")
    y = np.clip(x, 0.0, 1.0, out=out)
    # The endpoints are limits of the formula (0/0 at x = 0 for m = 0, at x = 1 for m = 1).
    if m == 0.0:
        np.copyto(y, 1.0, where=y > 0.0)
        return y
    if m == 1.0:
        np.copyto(y, 0.0, where=y < 1.0)
        return y
    if m == LINEAR_MIDTONES:
        return y
    # Same function, with the denominator written as (m − 1)x + m(x − 1): both terms are <= 0
    # on [0, 1], so it never vanishes for 0 < m < 1, and x = 0, 1 and m come out exactly.
    # One temporary: thumbnails call this on multi-megapixel arrays.
    numerator = np.multiply(y, m - 1.0, dtype=y.dtype)
    denominator = y
    denominator -= 1.0
    denominator *= m
    denominator += numerator
    return np.divide(numerator, denominator, out=denominator)


def _mtf_scalar(m: float, x: float) -> float:
    return float(mtf(m, np.asarray(x, dtype=np.float64)))


def normalization_limits(data: np.ndarray, normalization: Normalization) -> tuple[float, float]:
    """Data values that normalization maps to 0 and to 1.

    Parameters
    ----------
    data
        Image of any numeric dtype and shape.
    normalization
        ``'dtype'`` or ``'minmax'`` (see :class:`STFParams`).

    Returns
    -------
    (low, high)
        In data units, ``high > low`` always. ``'dtype'``: integers give their type's range
        (``int16`` → −32768, 32767); floats give ``(min(0, finite min), 1)`` when their finite
        maximum is at most 1, else ``(min(0, finite min), finite max)`` — negative values (e.g.
        bias-subtracted data) are kept rather than clipped. ``'minmax'``: the finite minimum and
        maximum. A constant ``'minmax'`` frame gets ``(v − 0.5, v + 0.5)`` so it shows mid-grey;
        a frame without finite values gets ``(0, 1)``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    data = np.asarray(data)
    if data.dtype == np.bool_:
        return 0.0, 1.0
    if normalization == "dtype" and np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        return float(info.min), float(info.max)
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"expected real numeric image data, got dtype {data.dtype}")
    finite_range = _finite_min_max(data)
    if finite_range is None:
        return 0.0, 1.0
    low, high = finite_range
    if normalization == "dtype":
        # Floats have no type range. Chosen: [0, 1] as PixInsight and Siril write them; data
        # beyond it (stacks kept in ADU, e.g. DeepSkyStacker's 0..65535) are divided by their
        # finite maximum instead, and negative values (bias-subtracted data) extend the range
        # down rather than being clipped. 0 stays 0 either way.
        return min(0.0, low), max(1.0, high)
    if high > low:
        return low, high
    return low - 0.5, low + 0.5


def _finite_min_max(data: np.ndarray) -> tuple[float, float] | None:
    if data.size == 0:
        return None
    low, high = data.min(), data.max()  # NaN and ±inf propagate: checked next
    if np.isfinite(low) and np.isfinite(high):
        return float(low), float(high)
    # fmin/fmax skip NaN (the usual case: the borders of a registered stack) but not ±inf.
    flat = data.reshape(-1)
    low, high = np.fmin.reduce(flat), np.fmax.reduce(flat)
    if np.isfinite(low) and np.isfinite(high):
        return float(low), float(high)
    finite = np.isfinite(data)
    if not finite.any():
        return None
    low = data.min(where=finite, initial=np.inf)
    high = data.max(where=finite, initial=-np.inf)
    return float(low), float(high)


def regular_subsample(
    data: np.ndarray, max_pixels: int = STF_STATS_MAX_PIXELS
) -> tuple[np.ndarray, int]:
    """Every ``step``-th row and column, with ``step`` the smallest giving <= max_pixels pixels.

    Parameters
    ----------
    data
        ``(H, W)`` or ``(H, W, C)``; a pixel is one position in the first two axes.
    max_pixels
        Upper bound on the number of ``(row, column)`` positions kept.

    Returns
    -------
    (view, step)
        A view (no copy) of ``data[::step, ::step]`` and the step used.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    height, width = data.shape[0], data.shape[1]
    step = max(1, math.ceil(math.sqrt(height * width / max_pixels)))
    while math.ceil(height / step) * math.ceil(width / step) > max_pixels:
        step += 1
    return data[::step, ::step], step


def _work_dtype(dtype: np.dtype) -> type[np.floating]:
    # float32 holds 8- and 16-bit integers and float32 data exactly enough; wider types need
    # float64 (int32 data near 2**31 would lose hundreds of ADU in float32).
    if dtype == np.bool_ or dtype.itemsize <= 2 or dtype == np.float32:
        return np.float32
    return np.float64


def _weighted_median(sorted_values: np.ndarray, counts: np.ndarray) -> float:
    """``np.median`` of data given as sorted distinct values and their counts."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    lower = sorted_values[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    upper = sorted_values[np.searchsorted(cumulative, total // 2, side="right")]
    return (float(lower) + float(upper)) / 2.0


def _histogram_median_and_deviations(values: np.ndarray) -> tuple[float, float, float]:
    """Median, MAD and mean absolute deviation of 8- or 16-bit integers through a histogram.

    Same results as the sort-based route, several times faster: the histogram has at most
    65,536 bins however many pixels there are.
    """
    offset = 0
    if np.issubdtype(values.dtype, np.signedinteger):
        offset = int(np.iinfo(values.dtype).min)
        values = values.astype(np.int32) - offset
    counts = np.bincount(values)
    levels = np.flatnonzero(counts)
    weights = counts[levels]
    median = _weighted_median(levels, weights) + offset
    deviations = np.abs(levels + float(offset) - median)
    order = np.argsort(deviations, kind="stable")
    mad = _weighted_median(deviations[order], weights[order])
    mean_ad = float(np.dot(deviations, weights)) / values.size
    return median, mad, mean_ad


def _median_and_deviations(values: np.ndarray) -> tuple[float, float, float]:
    """Median, MAD and mean absolute deviation of a 1-D array of finite values."""
    if values.dtype == np.bool_:
        values = values.view(np.uint8)
    if np.issubdtype(values.dtype, np.integer) and values.dtype.itemsize <= 2:
        return _histogram_median_and_deviations(values)
    values = values.astype(_work_dtype(values.dtype))
    median = np.median(values)
    deviations = np.abs(values - median)
    return float(median), float(np.median(deviations)), float(deviations.mean(dtype=np.float64))


def channel_statistics(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of the finite values of each channel, in data units.

    Parameters
    ----------
    data
        ``(H, W)`` (one channel) or ``(H, W, C)`` channel-last. Pass a
        :func:`regular_subsample` of a large frame.

    Returns
    -------
    (median, mad)
        float64 arrays of shape ``(C,)`` (``C = 1`` for 2-D input). The MAD is the median
        absolute deviation from the median; where it is 0 but the values are not all equal,
        the mean absolute deviation scaled by ``MEAN_AD_TO_MAD`` is returned instead, so that
        quantized data still get a usable spread. A constant channel has MAD 0; a channel
        without finite values has median and MAD NaN.
    """
    data = np.asarray(data)
    planes = data[..., np.newaxis] if data.ndim == 2 else data
    if planes.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {data.shape}")
    n_channels = planes.shape[-1]
    medians = np.full(n_channels, np.nan)
    mads = np.full(n_channels, np.nan)
    for channel in range(n_channels):
        values = planes[..., channel].ravel()
        if np.issubdtype(values.dtype, np.floating):
            values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        median, mad, mean_ad = _median_and_deviations(values)
        medians[channel] = median
        mads[channel] = mad if mad > 0.0 else MEAN_AD_TO_MAD * mean_ad
    return medians, mads


def stf_from_statistics(
    median: Sequence[float] | np.ndarray,
    mad: Sequence[float] | np.ndarray,
    params: STFParams = STFParams(),
) -> tuple[np.ndarray, np.ndarray]:
    """Shadows clip and midtones balance from normalized per-channel statistics.

    ``c0 = clip(median + shadows_clip_madn × mad_scale × MAD, 0, 1)`` (highlights stay at 1),
    and ``m`` is the midtones balance that maps the clipped and rescaled median
    ``(median − c0) / (1 − c0)`` to ``target_background``: ``m = MTF(target, that)``. (The
    PixInsight script passes ``median − c0`` without the ``1 / (1 − c0)`` rescaling; the two
    agree for light frames, where ``c0`` is a few percent, and this one puts a flat's median
    exactly on the target.)

    Parameters
    ----------
    median, mad
        Shape ``(C,)``, in normalized [0, 1] units (see :func:`channel_statistics`).
    params
        With ``params.linked`` and several channels, the channel-averaged median and MAD give
        one stretch for all channels, as PixInsight's linked AutoSTF does.

    Returns
    -------
    (c0, m)
        float64 arrays of shape ``(C,)``. Degenerate channels never divide by zero: no finite
        statistics, or a constant channel (MAD 0), give ``c0 = 0, m = 0.5``, i.e. the
        normalized values unchanged (a constant shows its own level); a median at or below
        the shadows clip (over half the pixels at the black point) or at 1 gives ``m = 0.5``.
    """
    medians = np.asarray(median, dtype=np.float64).reshape(-1)
    mads = np.asarray(mad, dtype=np.float64).reshape(-1)
    if medians.shape != mads.shape:
        raise ValueError(f"median and mad differ in length: {medians.size} vs {mads.size}")
    if params.linked and medians.size > 1:
        usable = np.isfinite(medians) & np.isfinite(mads)
        if usable.any():
            medians = np.full(medians.size, medians[usable].mean())
            mads = np.full(mads.size, mads[usable].mean())
    c0 = np.zeros(medians.size)
    m = np.full(medians.size, LINEAR_MIDTONES)
    for channel, (med, spread) in enumerate(zip(medians, mads, strict=True)):
        if not (math.isfinite(med) and math.isfinite(spread)) or spread <= 0.0:
            continue
        clip = min(max(med + params.shadows_clip_madn * params.mad_scale * spread, 0.0), 1.0)
        if clip >= 1.0 or med <= clip or med >= 1.0:
            continue
        c0[channel] = clip
        m[channel] = _mtf_scalar(params.target_background, (med - clip) / (1.0 - clip))
    return c0, m


def stf_parameters(
    normalized: np.ndarray,
    params: STFParams = STFParams(),
) -> tuple[np.ndarray, np.ndarray]:
    """AutoSTF shadows clip ``c0`` and midtones balance ``m`` of normalized data.

    Parameters
    ----------
    normalized
        ``(H, W)`` or ``(H, W, C)`` values in [0, 1] (see :func:`normalization_limits`);
        non-finite values are ignored. Statistics come from a :func:`regular_subsample` of at
        most ``STF_STATS_MAX_PIXELS`` pixels.
    params
        See :class:`STFParams` (its ``normalization`` is not used here: the data are already
        normalized).

    Returns
    -------
    (c0, m)
        float64 arrays of shape ``(C,)``, ``C = 1`` for 2-D input; see
        :func:`stf_from_statistics`.
    """
    subsample, _ = regular_subsample(np.asarray(normalized))
    median, mad = channel_statistics(subsample)
    return stf_from_statistics(median, mad, params)


def map_to_unit(
    x: np.ndarray,
    shadows: float,
    highlights: float,
    m: float,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Clip ``x`` to ``[shadows, highlights]``, rescale that to [0, 1], then apply MTF(m).

    Parameters
    ----------
    x
        Values in any units (the limits are in the same units); any shape.
    shadows, highlights
        Values mapped to 0 and 1; ``highlights > shadows``.
    m
        Midtones balance in [0, 1].
    out
        Floating-point array of ``x``'s shape for the result, possibly ``x`` itself (in
        place). By default a new array, and ``x`` is never modified.

    Returns
    -------
    numpy.ndarray
        ``out`` or a new array, in [0, 1]: float32 for float32 input, else float64. NaN
        becomes 0, +inf 1.
    """
    shadows, highlights = float(shadows), float(highlights)
    if not highlights > shadows:
        raise ValueError(f"highlights ({highlights}) must exceed shadows ({shadows})")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if out is not None and (out.shape != x.shape or not np.issubdtype(out.dtype, np.floating)):
        raise ValueError(f"out must be a float array of shape {x.shape}, got {out.dtype}")
    # Python floats keep float32 data in float32 (NEP 50); subtracting before scaling keeps
    # precision when the limits are large numbers close together (int32 data).
    y = np.subtract(x, shadows, out=out)
    y *= 1.0 / (highlights - shadows)
    y = mtf(m, y, out=y)
    # NaN -> 0 (fmax ignores NaN). ±inf are already 0 and 1: mtf clips before mapping.
    return np.fmax(y, 0.0, out=y)


def apply_stf(
    normalized: np.ndarray,
    c0: float | Sequence[float] | np.ndarray,
    m: float | Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Apply a screen transfer function (shadows ``c0``, highlights 1, midtones ``m``).

    Parameters
    ----------
    normalized
        ``(H, W)`` or ``(H, W, C)`` values in [0, 1].
    c0, m
        Scalars, or one value per channel (length ``C``), as from :func:`stf_parameters`;
        ``0 <= c0 < 1``.

    Returns
    -------
    numpy.ndarray
        New array of the input's shape in [0, 1]: float32 for float32 input, else float64.
        Values below ``c0`` become 0; NaN becomes 0.
    """
    x = np.asarray(normalized)
    c0s = np.atleast_1d(np.asarray(c0, dtype=np.float64))
    ms = np.atleast_1d(np.asarray(m, dtype=np.float64))
    n_channels = x.shape[-1] if x.ndim == 3 else 1
    if x.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {x.shape}")
    for name, values in (("c0", c0s), ("m", ms)):
        if values.size not in (1, n_channels):
            raise ValueError(f"{name} has {values.size} values for {n_channels} channel(s)")
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    out = np.empty(x.shape, dtype=out_dtype)
    for channel in range(n_channels):
        index = (..., channel) if x.ndim == 3 else (...,)
        shadows = float(c0s[channel % c0s.size])
        if not 0.0 <= shadows < 1.0:
            raise ValueError(f"c0 must be in [0, 1), got {shadows}")
        out[index] = map_to_unit(x[index], shadows, 1.0, float(ms[channel % ms.size]))
    return out


def choose_stretch(
    frame_type: str | None, bit_depth: int | None, sample_kind: str | None
) -> Stretch:
    """The stretch a thumbnail of this image should use (issue 4's policy).

    Parameters
    ----------
    frame_type
        Normalized frame type (``light``, ``dark``, ..., ``processed``, ``unknown``: a
        :class:`~astrocat_pipeline.core.frame_types.FrameType` or its word in any case; None or
        a word outside the vocabulary is ``unknown``).
    bit_depth
        Bits per sample as stored (8, 16, 32, 64); None if not known.
    sample_kind
        ``'uint'``, ``'int'`` or ``'float'`` (:class:`~astrocat_pipeline.core.loading.ImageHeader`);
        None if not known.

    Returns
    -------
    Stretch
        - ``'stf'`` (AutoSTF) for linear data: lights, darks, flats, bias and dark flats and
          their masters, at any bit depth: an unstretched 8-bit dark or webcam light would be
          black, which is what the issue wants never to show.
        - ``'percentile'`` for processed (non-linear) images of more than 8 bits or with float
          samples: they are already stretched, but rarely span their type's range.
        - ``'none'`` for 8-bit images that are processed or of unknown type (JPEG, PNG,
          8-bit TIFF): they are meant to be looked at as they are.
        - ``'stf'`` for deeper images of unknown type: most unlabelled FITS, XISF and camera
          raw files are captures, and AutoSTF of an already stretched image only moves its
          background to 25 % grey, whereas a linear stretch of a linear frame is black.
    """
    kind = (sample_kind or "").lower()
    eight_bit = bit_depth == 8 and kind != "float"
    kind_of_frame = FrameType.of(frame_type)
    if kind_of_frame.is_linear:
        return "stf"
    if kind_of_frame is FrameType.PROCESSED:
        return "none" if eight_bit else "percentile"
    return "none" if eight_bit else "stf"
