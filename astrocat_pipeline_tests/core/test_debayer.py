"""Demosaicing one-shot-colour frames (core.debayer)."""

from __future__ import annotations

import numpy as np
import pytest

from astrocat_pipeline.core.debayer import (
    BAYER_PATTERNS,
    bayer_pattern_from_keywords,
    cfa_pattern_at_origin,
    debayer,
    debayer_bilinear,
    debayer_superpixel,
)

CHANNEL = {"R": 0, "G": 1, "B": 2}


def mosaic_of(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """What a sensor with ``pattern`` at the array's origin records of an (H, W, 3) scene."""
    height, width, _ = rgb.shape
    out = np.empty((height, width), dtype=rgb.dtype)
    for index, colour in enumerate(pattern):
        row, col = divmod(index, 2)
        out[row::2, col::2] = rgb[row::2, col::2, CHANNEL[colour]]
    return out


def flat_colour(shape: tuple[int, int], rgb: tuple[float, float, float], dtype: type) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, dtype=dtype), (*shape, 3)).copy()


# --- patterns, offsets and row order ------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "x_offset", "y_offset", "expected"),
    [
        ("RGGB", 0, 0, "RGGB"),
        ("RGGB", 1, 0, "GRBG"),
        ("RGGB", 0, 1, "GBRG"),
        ("RGGB", 1, 1, "BGGR"),
        ("GBRG", 1, 0, "BGGR"),
        ("BGGR", 0, 1, "GRBG"),
        ("RGGB", 2, 4, "RGGB"),  # only the parity counts
        ("rggb ", 0, 0, "RGGB"),
    ],
)
def test_offsets_shift_the_pattern(
    pattern: str, x_offset: int, y_offset: int, expected: str
) -> None:
    assert cfa_pattern_at_origin(pattern, x_offset=x_offset, y_offset=y_offset) == expected


@pytest.mark.parametrize(
    ("height", "y_offset", "expected"),
    [(4176, 0, "GBRG"), (4177, 0, "RGGB"), (4176, 1, "RGGB"), (4177, 1, "GBRG")],
)
def test_bottom_up_pattern_starts_at_the_last_stored_row(
    height: int, y_offset: int, expected: str
) -> None:
    # Siril's rule: the pattern is read top-down, so for bottom-up data it describes the last
    # stored row; with an even number of rows that row has the other parity.
    assert (
        cfa_pattern_at_origin("RGGB", y_offset=y_offset, bottom_up=True, height=height) == expected
    )
    with pytest.raises(ValueError, match="height"):
        cfa_pattern_at_origin("RGGB", bottom_up=True)


@pytest.mark.parametrize("pattern", ["RGB", "XTRANS", "GGRB", "", "RGGBX"])
def test_unknown_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match="Bayer pattern"):
        cfa_pattern_at_origin(pattern)
    with pytest.raises(ValueError, match="Bayer pattern"):
        debayer_superpixel(np.zeros((4, 4), dtype=np.uint16), pattern)


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({"BAYERPAT": "RGGB"}, "RGGB"),  # no ROWORDER: read from the first stored row
        ({"BAYERPAT": "RGGB", "ROWORDER": "TOP-DOWN"}, "RGGB"),
        ({"BAYERPAT": "RGGB", "ROWORDER": "BOTTOM-UP"}, "GBRG"),
        ({"BAYERPAT": "RGGB", "ROWORDER": "TOP-DOWN", "XBAYROFF": 1}, "GRBG"),
        ({"BAYERPAT": "RGGB", "XBAYROFF": 1.0, "YBAYROFF": 1}, "BGGR"),
        ({"BAYERPAT": "RGGB", "XBAYROFF": None, "YBAYROFF": "junk"}, "RGGB"),
        ({"BAYERPAT": "gbrg "}, "GBRG"),
        ({"COLORTYP": "BGGR"}, "BGGR"),
        ({"BAYERPAT": "GGRGGBGGBGGRBRGRBGGGBGGRGGRGGBRBGBRG"}, None),  # X-Trans
        ({"BAYERPAT": "NONE"}, None),
        ({"BAYERPAT": 1}, None),
        ({}, None),
    ],
)
def test_pattern_from_fits_keywords(keywords: dict, expected: str | None) -> None:
    assert bayer_pattern_from_keywords(keywords, height=100) == expected


# --- superpixel -----------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_superpixel_recovers_a_flat_colour_for_every_pattern(pattern: str) -> None:
    scene = flat_colour((6, 8), (3000, 2000, 1000), np.uint16)
    rgb = debayer_superpixel(mosaic_of(scene, pattern), pattern)
    assert rgb.shape == (3, 4, 3)
    assert rgb.dtype == np.uint16
    np.testing.assert_array_equal(rgb, flat_colour((3, 4), (3000, 2000, 1000), np.uint16))


def test_wrong_pattern_swaps_red_and_blue() -> None:
    scene = flat_colour((4, 4), (3000, 2000, 1000), np.uint16)
    rgb = debayer_superpixel(mosaic_of(scene, "RGGB"), "BGGR")
    np.testing.assert_array_equal(rgb[0, 0], [1000, 2000, 3000])


def test_superpixel_averages_the_two_greens_and_drops_an_odd_edge() -> None:
    mosaic = np.array(
        [[10, 21, 10, 1, 99], [24, 30, 65535, 30, 99], [99, 99, 99, 99, 99]], dtype=np.uint16
    )
    rgb = debayer_superpixel(mosaic, "RGGB")
    assert rgb.shape == (1, 2, 3)
    np.testing.assert_array_equal(rgb[0, 0], [10, 23, 30])  # (21 + 24) / 2 rounds half up
    np.testing.assert_array_equal(rgb[0, 1], [10, 32768, 30])  # no overflow at the top


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint32, np.int64])
def test_superpixel_greens_of_integers_never_overflow(dtype: type) -> None:
    info = np.iinfo(dtype)
    mosaic = np.array([[info.max, info.max], [info.max, info.max]], dtype=dtype)
    assert debayer_superpixel(mosaic, "RGGB")[0, 0, 1] == info.max
    mosaic[:] = info.min
    assert debayer_superpixel(mosaic, "RGGB")[0, 0, 1] == info.min


def test_superpixel_of_float_data_keeps_nan_and_does_not_modify_input() -> None:
    mosaic = np.array([[0.1, 0.2], [0.4, 0.3]], dtype=np.float32)
    before = mosaic.copy()
    rgb = debayer_superpixel(mosaic, "RGGB")
    assert rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, 0], [0.1, 0.3, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(mosaic, before)
    mosaic[0, 1] = np.nan
    assert np.isnan(debayer_superpixel(mosaic, "RGGB")[0, 0, 1])


# --- bilinear -------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_bilinear_recovers_a_flat_colour_at_full_size(pattern: str) -> None:
    scene = flat_colour((7, 9), (3000, 2000, 1000), np.uint16)
    rgb = debayer_bilinear(mosaic_of(scene, pattern), pattern)
    assert rgb.shape == (7, 9, 3)
    assert rgb.dtype == np.uint16
    np.testing.assert_array_equal(rgb, scene)


def test_bilinear_follows_a_smooth_gradient() -> None:
    yy, xx = np.mgrid[:40, :60].astype(np.float64)
    scene = np.stack([100 + 3 * xx, 500 + 2 * yy, 900 - xx - yy], axis=-1)
    rgb = debayer_bilinear(mosaic_of(scene, "GRBG"), "GRBG")
    assert rgb.dtype == np.float64
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(rgb[inner], scene[inner], atol=1e-9)


def test_bilinear_ignores_non_finite_samples() -> None:
    scene = flat_colour((8, 8), (0.3, 0.2, 0.1), np.float32)
    mosaic = mosaic_of(scene, "RGGB")
    mosaic[4, 4] = np.nan  # a red sample
    rgb = debayer_bilinear(mosaic, "RGGB")
    # Its neighbours interpolate red from the other red samples; the sample itself has no
    # other red within reach and stays missing (the thumbnail fills missing pixels).
    np.testing.assert_allclose(rgb[3:6, 3:6, 0][~np.isnan(rgb[3:6, 3:6, 0])], 0.3, rtol=1e-6)
    assert np.isnan(rgb[4, 4, 0])
    assert np.isnan(rgb[..., 0]).sum() == 1
    np.testing.assert_allclose(rgb[4, 4, 1:], [0.2, 0.1], rtol=1e-6)


# --- dispatch and errors --------------------------------------------------------------------


def test_debayer_dispatches_on_the_method() -> None:
    mosaic = mosaic_of(flat_colour((4, 6), (9, 5, 1), np.uint8), "RGGB")
    assert debayer(mosaic, "RGGB").shape == (2, 3, 3)
    assert debayer(mosaic, "RGGB", "bilinear").shape == (4, 6, 3)
    assert debayer(mosaic[..., np.newaxis], "RGGB").shape == (2, 3, 3)
    with pytest.raises(ValueError, match="method"):
        debayer(mosaic, "RGGB", "vng")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(10,), (4, 4, 3), (1, 10), (10, 1)])
def test_shapes_that_are_not_a_mosaic_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        debayer_superpixel(np.zeros(shape, dtype=np.uint16), "RGGB")
    with pytest.raises(ValueError, match="dtype"):
        debayer_superpixel(np.zeros((4, 4), dtype=np.complex64), "RGGB")
