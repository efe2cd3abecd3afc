"""The midtones transfer function and the AutoSTF limits (core.stretch)."""

from __future__ import annotations

import numpy as np
import pytest

from astrocat_pipeline.core.stretch import (
    MEAN_AD_TO_MAD,
    STFParams,
    apply_stf,
    channel_statistics,
    choose_stretch,
    map_to_unit,
    mtf,
    normalization_limits,
    regular_subsample,
    stf_from_statistics,
    stf_parameters,
)
from astrocat_pipeline.core.tuning import (
    MAD_TO_SIGMA,
    STF_SHADOWS_CLIP_MADN,
    STF_STATS_MAX_PIXELS,
    STF_TARGET_BACKGROUND,
)

MIDTONES = [0.0, 1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.99, 1.0]


def normalized_sky(
    seed: int, shape: tuple[int, ...] = (300, 400), sky: float = 0.02, sigma: float = 0.001
) -> np.ndarray:
    """Normalized float32 sky background with Gaussian noise."""
    rng = np.random.default_rng(seed)
    return rng.normal(sky, sigma, shape).astype(np.float32)


# --- mtf -----------------------------------------------------------------------------------


@pytest.mark.parametrize("m", MIDTONES)
def test_mtf_keeps_the_endpoints(m: float) -> None:
    np.testing.assert_array_equal(mtf(m, np.array([0.0, 1.0])), [0.0, 1.0])


@pytest.mark.parametrize("m", [1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.99])
def test_mtf_maps_the_midtones_balance_to_one_half(m: float) -> None:
    assert mtf(m, np.array([m]))[0] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("m", MIDTONES)
def test_mtf_is_monotonic_and_stays_in_unit_interval(m: float) -> None:
    y = mtf(m, np.linspace(0.0, 1.0, 10_001))
    assert np.all(np.diff(y) >= 0.0)
    assert y.min() >= 0.0
    assert y.max() <= 1.0


def test_mtf_brightens_below_one_half_and_darkens_above() -> None:
    x = np.array([0.1, 0.5, 0.9])
    assert np.all(mtf(0.1, x) > x)
    assert np.all(mtf(0.9, x) < x)
    np.testing.assert_array_equal(mtf(0.5, x), x)


def test_mtf_of_target_and_level_is_the_balance_that_maps_the_level_to_the_target() -> None:
    level, target = 0.013, 0.25
    balance = float(mtf(target, np.array(level)))
    assert float(mtf(balance, np.array(level))) == pytest.approx(target, rel=1e-12)


def test_mtf_does_not_mutate_its_input_and_keeps_float32() -> None:
    x = np.linspace(-0.5, 1.5, 101, dtype=np.float32)
    before = x.copy()
    y = mtf(0.2, x)
    np.testing.assert_array_equal(x, before)
    assert y.dtype == np.float32
    assert y is not x


def test_mtf_of_integers_is_float64() -> None:
    assert mtf(0.3, np.array([0, 1])).dtype == np.float64


def test_mtf_clips_out_of_range_values_and_keeps_nan() -> None:
    y = mtf(0.25, np.array([-3.0, 7.0, np.nan]))
    assert y[0] == 0.0
    assert y[1] == 1.0
    assert np.isnan(y[2])


@pytest.mark.parametrize("m", [-0.1, 1.1, float("nan")])
def test_mtf_rejects_a_balance_outside_unit_interval(m: float) -> None:
    with pytest.raises(ValueError, match="midtones balance"):
        mtf(m, np.array([0.5]))


# --- parameters and limits -----------------------------------------------------------------


def test_default_params_are_pixinsight_autostf() -> None:
    params = STFParams()
    assert params.shadows_clip_madn == STF_SHADOWS_CLIP_MADN == -2.8
    assert params.target_background == STF_TARGET_BACKGROUND == 0.25
    assert params.mad_scale == MAD_TO_SIGMA
    assert params.linked
    assert params.normalization == "dtype"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_background": 0.0},
        {"target_background": 1.0},
        {"normalization": "zscale"},
        {"mad_scale": -1.0},
        {"shadows_clip_madn": float("inf")},
    ],
)
def test_params_reject_values_that_cannot_work(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        STFParams(**kwargs)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.array([[3, 200]], dtype=np.uint8), (0.0, 255.0)),
        (np.array([[3, 200]], dtype=np.uint16), (0.0, 65535.0)),
        (np.array([[3, 200]], dtype=np.int16), (-32768.0, 32767.0)),
        (np.array([[0.1, 0.7]], dtype=np.float32), (0.0, 1.0)),
        (np.array([[0.1, 5000.0, np.nan, np.inf]], dtype=np.float32), (0.0, 5000.0)),
        (np.array([[-20.0, 0.5]]), (-20.0, 1.0)),
        (np.array([[np.nan, np.nan]]), (0.0, 1.0)),
        (np.array([[True, False]]), (0.0, 1.0)),
    ],
)
def test_dtype_normalization_limits(data: np.ndarray, expected: tuple[float, float]) -> None:
    assert normalization_limits(data, "dtype") == expected


def test_minmax_normalization_limits_ignore_non_finite_pixels() -> None:
    data = np.array([[np.nan, 12.0, 80.0, -np.inf]], dtype=np.float32)
    assert normalization_limits(data, "minmax") == (12.0, 80.0)
    integers = np.array([[12, 80, 40]], dtype=np.uint16)
    assert normalization_limits(integers, "minmax") == (12.0, 80.0)


def test_minmax_normalization_of_a_constant_frame_is_centred_on_it() -> None:
    low, high = normalization_limits(np.full((4, 4), 7, dtype=np.uint16), "minmax")
    assert high > low
    assert (7 - low) / (high - low) == pytest.approx(0.5)


def test_regular_subsample_is_a_bounded_view() -> None:
    data = np.zeros((2000, 2100), dtype=np.uint16)
    view, step = regular_subsample(data, max_pixels=100_000)
    assert view.shape[0] * view.shape[1] <= 100_000
    assert step == 7
    assert np.shares_memory(view, data)
    small, small_step = regular_subsample(data[:100, :100])
    assert small_step == 1
    assert small.shape == (100, 100)
    assert STF_STATS_MAX_PIXELS >= 100 * 100


def test_channel_statistics_of_gaussian_noise() -> None:
    data = normalized_sky(seed=1, shape=(400, 500), sky=0.02, sigma=0.001)
    median, mad = channel_statistics(data)
    assert median.shape == mad.shape == (1,)
    assert median[0] == pytest.approx(0.02, abs=2e-5)
    # MAD of normal noise is sigma / 1.4826.
    assert mad[0] == pytest.approx(0.001 / MAD_TO_SIGMA, rel=0.02)


def test_channel_statistics_ignore_non_finite_pixels() -> None:
    data = normalized_sky(seed=2, shape=(200, 200))
    clean_median, clean_mad = channel_statistics(data)
    spoiled = data.copy()
    spoiled[:, :20] = np.nan
    spoiled[:5, :] = np.inf
    spoiled[-5:, :] = -np.inf
    median, mad = channel_statistics(spoiled)
    assert median[0] == pytest.approx(clean_median[0], abs=1e-4)
    assert mad[0] == pytest.approx(clean_mad[0], rel=0.05)


def test_channel_statistics_of_empty_constant_and_quantized_data() -> None:
    median, mad = channel_statistics(np.full((10, 10, 3), np.nan, dtype=np.float32))
    assert np.isnan(median).all()
    assert np.isnan(mad).all()
    median, mad = channel_statistics(np.full((10, 10), 500, dtype=np.uint16))
    assert (median[0], mad[0]) == (500.0, 0.0)
    # 80 % of the pixels at 500: the MAD is 0 but the data are not constant.
    quantized = np.full(1000, 500, dtype=np.uint16)
    quantized[:100] = 499
    quantized[100:200] = 501
    median, mad = channel_statistics(quantized.reshape(10, 100))
    assert median[0] == 500.0
    assert mad[0] == pytest.approx(MEAN_AD_TO_MAD * 0.2)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("size", [999, 1000])
def test_integer_statistics_equal_numpy_median_and_mad(dtype: type, size: int) -> None:
    rng = np.random.default_rng(6)
    info = np.iinfo(dtype)
    values: np.ndarray = rng.integers(info.min, info.max, size=size, endpoint=True).astype(dtype)
    values[:10] = info.max  # a few saturated pixels
    median, mad = channel_statistics(values.reshape(1, size))
    as_float = values.astype(np.float64)
    assert median[0] == np.median(as_float)
    assert mad[0] == np.median(np.abs(as_float - np.median(as_float)))


def test_stf_parameters_follow_the_autostf_formulas() -> None:
    data = normalized_sky(seed=3, shape=(400, 400), sky=0.02, sigma=0.001)
    (c0,), (m,) = stf_parameters(data)
    median = float(np.median(data))
    mad = float(np.median(np.abs(data - np.float32(median))))
    assert c0 == pytest.approx(median - 2.8 * 1.4826 * mad, rel=1e-5)
    assert m == pytest.approx(float(mtf(0.25, np.array((median - c0) / (1 - c0)))), rel=1e-4)


@pytest.mark.parametrize("sky", [0.002, 0.02, 0.46, 0.9])
def test_stretched_median_lands_on_the_target_background(sky: float) -> None:
    data = normalized_sky(seed=4, sky=sky, sigma=sky / 50)
    c0, m = stf_parameters(data)
    stretched = apply_stf(data, c0, m)
    assert float(np.median(stretched)) == pytest.approx(0.25, abs=0.005)


def test_older_minmax_variant_clips_at_median_minus_125_mad() -> None:
    params = STFParams(shadows_clip_madn=-1.25, mad_scale=1.0, normalization="minmax")
    c0, _ = stf_from_statistics([0.3], [0.01], params)
    assert c0[0] == pytest.approx(0.3 - 1.25 * 0.01)


@pytest.mark.parametrize(
    ("median", "mad"),
    [
        (np.nan, np.nan),  # no finite pixels
        (0.4, 0.0),  # constant
        (0.0, 0.01),  # over half the pixels at the black point
        (1.0, 0.01),  # over half the pixels saturated
    ],
)
def test_degenerate_statistics_give_the_identity(median: float, mad: float) -> None:
    c0, m = stf_from_statistics([median], [mad])
    assert (c0[0], m[0]) == (0.0, 0.5)


def test_linked_colour_uses_one_stretch_and_unlinked_one_per_channel() -> None:
    rng = np.random.default_rng(5)
    skies = np.array([0.03, 0.02, 0.01])
    data = rng.normal(skies, skies / 40, (200, 300, 3)).astype(np.float32)
    c0, m = stf_parameters(data, STFParams(linked=True))
    assert c0.shape == m.shape == (3,)
    assert np.all(c0 == c0[0])
    assert np.all(m == m[0])
    linked_medians = np.median(apply_stf(data, c0, m), axis=(0, 1))
    assert linked_medians[0] > linked_medians[1] > linked_medians[2]  # the cast is kept

    c0, m = stf_parameters(data, STFParams(linked=False))
    assert len(set(c0.tolist())) == 3
    unlinked_medians = np.median(apply_stf(data, c0, m), axis=(0, 1))
    np.testing.assert_allclose(unlinked_medians, 0.25, atol=0.005)


# --- apply ---------------------------------------------------------------------------------


def test_apply_stf_clips_shadows_and_stays_in_unit_interval() -> None:
    data = np.array([[-1.0, 0.0, 0.05, 0.1, 0.5, 1.0, 2.0, np.nan, np.inf]], dtype=np.float32)
    before = data.copy()
    out = apply_stf(data, 0.1, 0.2)
    np.testing.assert_array_equal(data, before)
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    np.testing.assert_array_equal(out[0, :4], 0.0)
    assert out[0, 5] == 1.0
    assert out[0, 7] == 0.0  # NaN shows black
    assert out[0, 8] == 1.0


def test_apply_stf_broadcasts_scalars_and_rejects_wrong_channel_counts() -> None:
    data = np.full((4, 4, 3), 0.5)
    np.testing.assert_array_equal(apply_stf(data, 0.0, 0.5), data)
    with pytest.raises(ValueError, match="2 values for 3 channel"):
        apply_stf(data, [0.0, 0.1], 0.5)
    with pytest.raises(ValueError, match="c0 must be"):
        apply_stf(data, 1.0, 0.5)


def test_map_to_unit_keeps_precision_for_large_close_limits() -> None:
    # int32 data normalized by its type's range: limits near 2**31 apart, values near 0.
    x = np.array([990.0, 1000.0, 1010.0], dtype=np.float32)
    y = map_to_unit(x, 990.0, 1010.0, 0.5)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="must exceed"):
        map_to_unit(x, 5.0, 5.0, 0.5)


def test_mtf_and_map_to_unit_can_work_in_place() -> None:
    x = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    expected = mtf(0.2, x)
    y = mtf(0.2, x, out=x)
    assert y is x
    np.testing.assert_array_equal(x, expected)
    data = np.array([100.0, 150.0, 200.0, np.nan], dtype=np.float32)
    expected = map_to_unit(data, 100.0, 200.0, 0.5)
    assert map_to_unit(data, 100.0, 200.0, 0.5, out=data) is data
    np.testing.assert_array_equal(data, expected)
    with pytest.raises(ValueError, match="out must be"):
        mtf(0.2, x, out=np.empty(3, dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        map_to_unit(x, 0.0, 1.0, 0.5, out=np.empty(x.shape, dtype=np.uint8))


# --- stretch policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_type", "bit_depth", "sample_kind", "expected"),
    [
        ("light", 16, "uint", "stf"),
        ("dark", 16, "uint", "stf"),
        ("flat", 16, "uint", "stf"),
        ("bias", 16, "uint", "stf"),
        ("dark_flat", 16, "uint", "stf"),
        ("master_light", 32, "float", "stf"),
        ("master_flat", 32, "float", "stf"),
        ("light", 8, "uint", "stf"),  # linear 8-bit capture: unstretched it would be black
        ("light", 14, "uint", "stf"),  # camera raw
        ("processed", 16, "uint", "percentile"),
        ("processed", 32, "float", "percentile"),
        ("processed", 64, "float", "percentile"),
        ("processed", None, "float", "percentile"),
        ("processed", 8, "uint", "none"),
        ("unknown", 8, "uint", "none"),
        (None, 8, None, "none"),
        ("unknown", 16, "uint", "stf"),
        ("unknown", 32, "float", "stf"),
        ("unknown", None, None, "stf"),
        ("LIGHT", 16, "uint", "stf"),
    ],
)
def test_stretch_policy_by_frame_type_and_sample_format(
    frame_type: str | None, bit_depth: int | None, sample_kind: str | None, expected: str
) -> None:
    assert choose_stretch(frame_type, bit_depth, sample_kind) == expected
