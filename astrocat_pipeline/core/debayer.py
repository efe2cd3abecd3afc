"""Colour from a one-shot-colour (CFA) mosaic: Bayer patterns and two demosaicing methods.

Patterns are the four 2×2 Bayer layouts written as FITS ``BAYERPAT`` writes them, row by row:
``'RGGB'`` is ``R G`` over ``G B``. Every function here takes the pattern *at the array's
origin*: the colours of ``mosaic[0, 0]``, ``mosaic[0, 1]``, ``mosaic[1, 0]``, ``mosaic[1, 1]``
in the order the rows are stored. :func:`cfa_pattern_at_origin` and
:func:`bayer_pattern_from_keywords` turn a header's pattern, offsets and row order into that.

Row order (the rule Siril and PixInsight follow, see
https://siril.readthedocs.io/en/latest/file-formats/FITS.html#orientation-of-fits-images):
``BAYERPAT`` is read top-down, from the first stored pixel, when ``ROWORDER = 'TOP-DOWN'`` and
also when ``ROWORDER`` is missing (what capture programs write: N.I.N.A., SharpCap, ASCOM and
INDI drivers store the top row first). Only an explicit ``ROWORDER = 'BOTTOM-UP'`` means the
pattern starts at the *last* stored row; for an even number of rows that swaps the pattern's two
rows (``RGGB`` becomes ``GBRG``), for an odd number it does not. ``XBAYROFF`` / ``YBAYROFF``
shift the pattern by that many columns / rows; only their parity matters.

Demosaicing is done in the stored row order, before any flip for display, so that the pattern
stays the one the header describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

BAYER_PATTERNS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")

DebayerMethod = Literal["superpixel", "bilinear"]
DEBAYER_METHODS: tuple[str, ...] = ("superpixel", "bilinear")

_CHANNEL = {"R": 0, "G": 1, "B": 2}


def normalize_bayer_pattern(pattern: str) -> str:
    """``pattern`` upper-cased and stripped; ``ValueError`` unless it is one of
    :data:`BAYER_PATTERNS` (X-Trans and other layouts are not handled)."""
    text = str(pattern).strip().upper()
    if text not in BAYER_PATTERNS:
        raise ValueError(f"Bayer pattern must be one of {BAYER_PATTERNS}, got {pattern!r}")
    return text


def cfa_pattern_at_origin(
    pattern: str,
    *,
    x_offset: int = 0,
    y_offset: int = 0,
    bottom_up: bool = False,
    height: int | None = None,
) -> str:
    """The pattern of the 2×2 cell at the array's origin, in stored row order.

    Parameters
    ----------
    pattern
        As in the header (``BAYERPAT``, or the ``CFA`` pattern of an XISF image).
    x_offset, y_offset
        ``XBAYROFF`` / ``YBAYROFF``: the header's pattern starts this many columns / rows
        into the array. Odd values swap the pattern's columns / rows.
    bottom_up
        True only when the header says ``ROWORDER = 'BOTTOM-UP'``: the pattern then starts at
        the last stored row, not the first (see the module docstring).
    height
        Number of rows of the image; needed when ``bottom_up`` (its parity decides).

    Returns
    -------
    str
        One of :data:`BAYER_PATTERNS`.
    """
    text = normalize_bayer_pattern(pattern)
    swap_rows = int(y_offset) % 2 == 1
    if bottom_up:
        if height is None:
            raise ValueError("height is needed to read a bottom-up Bayer pattern")
        swap_rows ^= height % 2 == 0
    swap_columns = int(x_offset) % 2 == 1
    rows = [text[0:2], text[2:4]]
    if swap_rows:
        rows.reverse()
    if swap_columns:
        rows = [row[::-1] for row in rows]
    return "".join(rows)


def _as_int(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if number.is_integer() else 0


def bayer_pattern_from_keywords(keywords: Mapping[str, Any], height: int) -> str | None:
    """The pattern at the array's origin from FITS header keywords, or None if not a CFA image.

    Reads ``BAYERPAT`` (or ``COLORTYP``, which some writers use instead), ``XBAYROFF``,
    ``YBAYROFF`` and ``ROWORDER``; see :func:`cfa_pattern_at_origin`. A value that is not one of
    the four Bayer patterns (an X-Trans layout, ``'NONE'``, a number) gives None: the frame is
    then shown as mono rather than with wrong colours.
    """
    for name in ("BAYERPAT", "COLORTYP"):
        value = keywords.get(name)
        if isinstance(value, str) and value.strip().upper() in BAYER_PATTERNS:
            break
    else:
        return None
    row_order = str(keywords.get("ROWORDER") or "").strip().upper()
    return cfa_pattern_at_origin(
        value,
        x_offset=_as_int(keywords.get("XBAYROFF")),
        y_offset=_as_int(keywords.get("YBAYROFF")),
        bottom_up=row_order == "BOTTOM-UP",
        height=height,
    )


def _check_mosaic(mosaic: np.ndarray) -> np.ndarray:
    mosaic = np.asarray(mosaic)
    if mosaic.ndim == 3 and mosaic.shape[-1] == 1:
        mosaic = mosaic[..., 0]
    if mosaic.ndim != 2:
        raise ValueError(f"a CFA mosaic is one (H, W) plane, got shape {mosaic.shape}")
    if mosaic.shape[0] < 2 or mosaic.shape[1] < 2:
        raise ValueError(f"a CFA mosaic needs at least 2×2 pixels, got shape {mosaic.shape}")
    if mosaic.dtype == np.bool_ or not (
        np.issubdtype(mosaic.dtype, np.integer) or np.issubdtype(mosaic.dtype, np.floating)
    ):
        raise ValueError(f"expected real numeric CFA data, got dtype {mosaic.dtype}")
    return mosaic


def _positions(pattern: str) -> dict[int, list[tuple[int, int]]]:
    """Channel -> the (row, column) offsets of its pixels in the 2×2 cell."""
    positions: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
    for index, colour in enumerate(pattern):
        positions[_CHANNEL[colour]].append(divmod(index, 2))
    return positions


def debayer_superpixel(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """One RGB pixel per 2×2 cell: R and B as they are, G the mean of the two greens.

    Parameters
    ----------
    mosaic
        ``(H, W)`` CFA data, any real numeric dtype; an odd last row or column is dropped.
    pattern
        The pattern at the array's origin (see :func:`cfa_pattern_at_origin`).

    Returns
    -------
    numpy.ndarray
        ``(H // 2, W // 2, 3)`` channel-last, in the mosaic's dtype, so the data keep their
        type's normalization range (integer greens are rounded half up; float greens are the
        exact mean, NaN if either is NaN). No interpolation: no colour fringes, half the
        resolution, one pass over the data.
    """
    mosaic = _check_mosaic(mosaic)
    positions = _positions(normalize_bayer_pattern(pattern))
    height, width = mosaic.shape[0] // 2 * 2, mosaic.shape[1] // 2 * 2
    out = np.empty((height // 2, width // 2, 3), dtype=mosaic.dtype)

    def plane(row: int, col: int) -> np.ndarray:
        return mosaic[row:height:2, col:width:2]

    out[..., 0] = plane(*positions[0][0])
    out[..., 2] = plane(*positions[2][0])
    green_a, green_b = (plane(*position) for position in positions[1])
    if np.issubdtype(mosaic.dtype, np.floating):
        np.add(green_a, green_b, out=out[..., 1])
        out[..., 1] *= 0.5
    elif mosaic.dtype.itemsize <= 4:
        # The sum of two values needs one more bit: int32 for 8/16-bit data, int64 for 32-bit.
        wide = np.int32 if mosaic.dtype.itemsize <= 2 else np.int64
        total = np.add(green_a, green_b, dtype=wide)
        total += 1
        total >>= 1  # floor((a + b + 1) / 2), also for negative sums
        out[..., 1] = total
    else:
        # 64-bit integers have no wider type: floor(a/2) + floor(b/2) + the halves' carry.
        green = out[..., 1]
        np.right_shift(green_a, 1, out=green)
        green += green_b >> 1
        green += ((green_a & 1) + (green_b & 1) + 1) >> 1
    return out


def _neighbour_sum(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3×3 correlation of ``values`` with ``kernel``, zero outside the array."""
    padded = np.pad(values, 1)
    height, width = values.shape
    total = np.zeros_like(values)
    for dy in range(3):
        for dx in range(3):
            weight = kernel[dy, dx]
            if weight:
                total += weight * padded[dy : dy + height, dx : dx + width]
    return total


_RB_KERNEL = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
_G_KERNEL = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]])


def debayer_bilinear(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """Full-resolution RGB by bilinear interpolation of each colour's samples.

    Meant for frames small enough that a superpixel image would be smaller than the
    thumbnail. Missing samples are the weighted mean of the same colour's neighbours (a
    normalized convolution, so edges and non-finite samples need no special case); measured
    samples are kept as they are. A non-finite sample stays non-finite in its own channel
    when no sample of that colour is adjacent (red and blue).

    Parameters
    ----------
    mosaic
        ``(H, W)`` CFA data, any real numeric dtype.
    pattern
        The pattern at the array's origin (see :func:`cfa_pattern_at_origin`).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` in the mosaic's dtype (integers rounded, so the data keep their type's
        normalization range). Works in float64: several full-size temporaries.
    """
    mosaic = _check_mosaic(mosaic)
    positions = _positions(normalize_bayer_pattern(pattern))
    height, width = mosaic.shape
    values = mosaic.astype(np.float64)
    finite = np.isfinite(values)
    out = np.empty((height, width, 3), dtype=mosaic.dtype)
    for channel, kernel in ((0, _RB_KERNEL), (1, _G_KERNEL), (2, _RB_KERNEL)):
        mask = np.zeros((height, width), dtype=bool)
        for row, col in positions[channel]:
            mask[row::2, col::2] = True
        mask &= finite
        weights = _neighbour_sum(mask.astype(np.float64), kernel)
        sums = _neighbour_sum(np.where(mask, values, 0.0), kernel)
        interpolated = np.divide(sums, weights, out=np.full_like(sums, np.nan), where=weights > 0)
        interpolated[mask] = values[mask]
        if np.issubdtype(mosaic.dtype, np.integer):
            info = np.iinfo(mosaic.dtype)
            # A CFA pixel with no finite neighbour cannot happen for integers (all finite).
            np.clip(np.rint(interpolated), info.min, info.max, out=interpolated)
        out[..., channel] = interpolated
    return out


def debayer(mosaic: np.ndarray, pattern: str, method: DebayerMethod = "superpixel") -> np.ndarray:
    """Demosaic a CFA frame: :func:`debayer_superpixel` or :func:`debayer_bilinear`."""
    if method == "superpixel":
        return debayer_superpixel(mosaic, pattern)
    if method == "bilinear":
        return debayer_bilinear(mosaic, pattern)
    raise ValueError(f"method must be one of {DEBAYER_METHODS}, got {method!r}")
