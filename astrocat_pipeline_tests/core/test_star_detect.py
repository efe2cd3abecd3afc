"""Star detection for plate solving, on seeded synthetic star fields."""

from __future__ import annotations

import numpy as np
import pytest

from astrocat_pipeline.core.star_detect import (
    DetectedStars,
    detect_stars,
    mono_image,
    remove_line_artifacts,
    uniformize,
)
from astrocat_pipeline_tests.samples import needs_samples, sample

HEIGHT, WIDTH = 400, 600
PSF_SIGMA_PX = 1.3
NOISE_ADU = 10.0


def star_field(
    seed: int = 7,
    count: int = 60,
    height: int = HEIGHT,
    width: int = WIDTH,
    psf_sigma_px: float = PSF_SIGMA_PX,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A frame with Gaussian stars on a sloped background with noise and hot pixels.

    Returns the image and the stars' true x, y (0-based) and total flux.
    """
    rng = np.random.default_rng(seed)
    # Stars at least 12 px apart (blends are not what these tests are about).
    x, y = np.zeros(0), np.zeros(0)
    while len(x) < count:
        xs, ys = rng.uniform(10, width - 10), rng.uniform(10, height - 10)
        if len(x) == 0 or np.hypot(x - xs, y - ys).min() >= 12:
            x, y = np.r_[x, xs], np.r_[y, ys]
    # Brightest first, each 7 % fainter than the one before (more than a 5×5 box's sub-pixel
    # variation), the faintest (~2,800 ADU) still 26 noise sigmas at its peak pixel.
    flux = 200_000.0 * 0.93 ** np.arange(count)
    rows, cols = np.mgrid[0:height, 0:width]
    image = 1000.0 + 0.5 * cols + 0.2 * rows + rng.normal(0.0, NOISE_ADU, (height, width))
    for xs, ys, fs in zip(x, y, flux, strict=True):
        half = int(6 * psf_sigma_px) + 1
        lo_x, hi_x = max(0, int(xs) - half), min(width, int(xs) + half + 1)
        lo_y, hi_y = max(0, int(ys) - half), min(height, int(ys) + half + 1)
        gx = np.exp(-0.5 * ((np.arange(lo_x, hi_x) - xs) / psf_sigma_px) ** 2)
        gy = np.exp(-0.5 * ((np.arange(lo_y, hi_y) - ys) / psf_sigma_px) ** 2)
        image[lo_y:hi_y, lo_x:hi_x] += np.outer(gy, gx) * fs / (2 * np.pi * psf_sigma_px**2)
    # Hot pixels brighter than any star's peak pixel.
    hot_y = rng.integers(5, height - 5, 15)
    hot_x = rng.integers(5, width - 5, 15)
    image[hot_y, hot_x] = 65_000.0
    return image.astype(np.float32), x, y, flux


def match(stars: DetectedStars, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each true star, the index of the nearest detection and its distance (px)."""
    distance = np.hypot(stars.x_px[None, :] - x[:, None], stars.y_px[None, :] - y[:, None])
    nearest = distance.argmin(axis=1)
    return nearest, distance[np.arange(len(x)), nearest]


def test_finds_every_star_to_a_tenth_of_a_pixel_brightest_first():
    image, x, y, _ = star_field()
    stars = detect_stars(image)
    nearest, distance = match(stars, x, y)
    assert distance.max() < 0.1
    # Brightest first: the true stars appear in the list in their order of brightness (the
    # faint end, where 7 % is within the noise of a 5×5 sum, aside).
    assert list(nearest[:40]) == sorted(nearest[:40])
    assert np.all(np.diff(stars.flux) <= 0)
    # Nothing but the stars: no hot pixel, no noise peak.
    assert len(stars) == len(x)


def test_hot_pixels_are_not_stars():
    image, *_ = star_field()
    hot = np.argwhere(image == 65_000.0)
    stars = detect_stars(image)
    for row, col in hot:
        assert np.hypot(stars.x_px - col, stars.y_px - row).min() > 2.0


def test_binned_detection_reports_full_frame_pixels():
    # The same sky at twice the resolution: stars twice as wide, positions doubled.
    image, x, y, _ = star_field(height=2 * HEIGHT, width=2 * WIDTH, psf_sigma_px=2 * PSF_SIGMA_PX)
    stars = detect_stars(image, bin_factor=2)
    _, distance = match(stars, x, y)
    assert np.median(distance) < 0.1
    assert distance.max() < 0.5  # the faintest, in binned pixels a quarter
    assert len(stars) == len(x)


def test_colour_and_non_finite_pixels_and_the_input_is_not_modified():
    image, x, y, _ = star_field()
    colour = np.stack([image * 0.8, image, image * 1.2], axis=2)
    colour[5:9, 300:304, :] = np.nan
    before = colour.copy()
    stars = detect_stars(colour)
    np.testing.assert_array_equal(colour, before)
    _, distance = match(stars, x, y)
    assert distance.max() < 0.1
    assert np.isfinite(stars.x_px).all()


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((200, 300), dtype=np.uint16),
        np.full((200, 300), 1234.5, dtype=np.float32),
        np.ones((5, 5)),
        np.full((100, 100), np.nan),
    ],
    ids=["zeros", "constant", "tiny", "all-nan"],
)
def test_flat_or_tiny_frames_have_no_stars(image):
    stars = detect_stars(image)
    assert len(stars) == 0
    assert stars.x_px.dtype == np.float64


def test_integer_frames_with_a_quantized_background_still_work():
    # An 8-bit processed picture: background flattened to a handful of values.
    image, x, y, _ = star_field()
    eight_bit = np.clip((image - 1000.0) / 40.0, 0, 255).astype(np.uint8)
    stars = detect_stars(eight_bit)
    _, distance = match(stars, x, y)
    assert np.median(distance) < 0.2
    assert len(stars) < 2 * len(x)


def test_mono_image_averages_colour_and_fills_non_finite_pixels():
    data = np.array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [np.nan, 0, 0]]])
    mono = mono_image(data)
    assert mono.dtype == np.float32
    assert mono.shape == (2, 2)
    assert mono[0, 0] == pytest.approx(2.0)
    # The NaN pixel's mean is NaN: it becomes the median of the finite ones (2, 5, 8).
    assert mono[1, 1] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="expected an"):
        mono_image(np.zeros((2, 2, 2, 2)))


def stars_at(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> DetectedStars:
    x = np.asarray(x, dtype=float)
    return DetectedStars(x, np.asarray(y, dtype=float), np.arange(len(x), 0, -1, dtype=float))


def test_a_column_of_detections_is_removed_and_the_rest_kept_in_order():
    rng = np.random.default_rng(3)
    scattered_x, scattered_y = rng.uniform(0, 600, 80), rng.uniform(0, 400, 80)
    column_y = np.arange(0, 400, 10.0)  # 40 "stars" on column 123: a bad column
    x = np.r_[scattered_x, np.full(len(column_y), 123.2)]
    y = np.r_[scattered_y, column_y]
    order = rng.permutation(len(x))
    stars = stars_at(x[order], y[order])
    kept = remove_line_artifacts(stars)
    assert not np.any(np.floor(kept.x_px + 0.5) == 123)
    assert len(kept) >= len(scattered_x) - 3  # only stars that happen to share the column go
    assert np.all(np.diff(kept.flux) < 0)  # order kept


def test_scattered_stars_are_all_kept():
    rng = np.random.default_rng(4)
    stars = stars_at(rng.uniform(0, 600, 300), rng.uniform(0, 400, 300))
    assert remove_line_artifacts(stars) is stars


def test_uniformize_takes_the_brightest_star_of_each_cell_first():
    # A 590 × 390 px bounding box makes 4 × 2 cells of 147.5 × 195 px: a bright clump of 30
    # stars in the first cell, one fainter star in each of the seven others.
    rng = np.random.default_rng(5)
    clump_x, clump_y = rng.uniform(10, 50, 30), rng.uniform(10, 50, 30)
    spread_x = np.array([220, 370, 520, 70, 220, 370, 590.0])
    spread_y = np.array([100, 100, 100, 300, 300, 300, 390.0])
    stars = stars_at(np.r_[0.0, clump_x, spread_x], np.r_[0.0, clump_y, spread_y])
    spread = uniformize(stars)
    assert sorted(spread.flux) == sorted(stars.flux)  # a permutation
    first = spread.head(8)
    # The first round: the clump's brightest star and the seven others, in input order.
    assert first.flux[0] == stars.flux[0]
    assert np.sum(first.x_px <= 50) == 1
    assert set(first.x_px[1:]) == set(spread_x)
    assert np.all(np.diff(first.flux) < 0)
    # Then the clump's second brightest opens the second round.
    assert spread.flux[8] == stars.flux[1]


def test_uniformize_leaves_degenerate_lists_alone():
    one = stars_at([5.0], [5.0])
    assert uniformize(one) is one
    line = stars_at([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert uniformize(line) is line


def _faint_field(seed: int, count: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A short exposure: ``count`` stars whose peaks are 3-6 noise sigmas, on white noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(20, WIDTH - 20, count)
    y = rng.uniform(20, HEIGHT - 20, count)
    peak = np.linspace(6.0, 3.0, count) * NOISE_ADU
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = 500.0 + rng.normal(0.0, NOISE_ADU, (HEIGHT, WIDTH))
    for xs, ys, ps in zip(x, y, peak, strict=True):
        image += ps * np.exp(-((cols - xs) ** 2 + (rows - ys) ** 2) / (2 * PSF_SIGMA_PX**2))
    return image.astype(np.float32), x, y


def test_a_sparse_frame_is_searched_again_for_its_faint_stars(monkeypatch):
    # sep's threshold is per pixel on the 3×3-filtered image (~13σ of that image): stars
    # whose peak pixel is 3-6σ are mostly below it. A frame with fewer than STAR_SPARSE_BELOW
    # stars is extracted again at 5σ of its filtered image's own noise.
    import astrocat_pipeline.core.star_detect as star_detect

    image, x, y = _faint_field(seed=11)
    stars = detect_stars(image)
    _, distance = match(stars, x, y)
    found = int(np.count_nonzero(distance < 1.0))
    assert found >= 20, found
    assert len(stars) <= found + 1  # nothing else: the noise peaks stay below 5σ
    monkeypatch.setattr(star_detect, "STAR_SPARSE_BELOW", 0)
    once = detect_stars(image)
    assert len(once) < found / 2


@pytest.mark.parametrize("correlation", [0.0, 0.6])
def test_noise_alone_gives_no_stars_even_searched_again(correlation):
    # The second threshold is measured on the filtered image itself, so noise correlated
    # between neighbours (debayered or resampled frames) does not pass it either.
    rng = np.random.default_rng(5)
    noise = rng.normal(500.0, NOISE_ADU, (1000, 1500)).astype(np.float32)
    noise[1:] += correlation * noise[:-1].copy()
    noise[:, 1:] += correlation * noise[:, :-1].copy()
    assert len(detect_stars(noise)) == 0


@needs_samples
def test_a_real_five_second_frame_of_m13_has_stars():
    # A real amateur CCD frame (Orion StarShoot DSI, 5 s, 1392×1040): its brightest star is
    # 7.6σ at its peak pixel, and before the second extraction no star was found at all.
    from astrocat_pipeline.core.loading import load_image

    data, _ = load_image(sample("fits/M13_blue_0001.fits"))
    stars = detect_stars(data)
    assert len(stars) >= 5
    # The cluster's core (around x 680, y 510 in this frame) holds the brightest.
    assert np.hypot(stars.x_px[:5] - 680, stars.y_px[:5] - 510).max() < 80
