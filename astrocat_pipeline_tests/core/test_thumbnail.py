"""Thumbnail rendering (core.thumbnail) on seeded synthetic frames."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from astrocat_pipeline.core.debayer import bayer_pattern_from_keywords
from astrocat_pipeline.core.stretch import STFParams, choose_stretch, mtf
from astrocat_pipeline.core.thumbnail import (
    encode_jpeg,
    is_thumbnail_filename,
    render_thumbnail,
    thumbnail_filename,
)

TARGET_GREY = 0.25 * 255


def star_field(
    seed: int,
    shape: tuple[int, int] = (600, 900),
    *,
    sky: float = 1000.0,
    noise: float = 15.0,
    n_stars: int = 12,
    peak: tuple[float, float] = (5000.0, 40000.0),
    sigma_px: float = 3.0,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Linear uint16 frame: sky + Gaussian noise + Gaussian stars; returns (frame, [(y, x)])."""
    rng = np.random.default_rng(seed)
    height, width = shape
    frame = rng.normal(sky, noise, shape)
    stars = []
    half = int(6 * sigma_px)
    margin = 3 * half
    for _ in range(n_stars):
        y0, x0 = rng.uniform(margin, height - margin), rng.uniform(margin, width - margin)
        rows = slice(int(y0) - half, int(y0) + half + 1)
        cols = slice(int(x0) - half, int(x0) + half + 1)
        yy, xx = np.mgrid[rows, cols]
        frame[rows, cols] += rng.uniform(*peak) * np.exp(
            -((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * sigma_px**2)
        )
        stars.append((y0, x0))
    return np.clip(np.rint(frame), 0, 65535).astype(np.uint16), stars


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.float64)


def star_mask(
    shape: tuple[int, int], stars: list[tuple[float, float]], radius: float
) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, dtype=bool)
    for y0, x0 in stars:
        mask |= (yy - y0) ** 2 + (xx - x0) ** 2 <= radius**2
    return mask


def scaled_stars(
    stars: list[tuple[float, float]], source_shape: tuple[int, int], image: Image.Image
) -> list[tuple[float, float]]:
    scale_y = image.size[1] / source_shape[0]
    scale_x = image.size[0] / source_shape[1]
    return [((y + 0.5) * scale_y - 0.5, (x + 0.5) * scale_x - 0.5) for y, x in stars]


def assert_not_blank(image: Image.Image) -> None:
    values = pixels(image)
    assert values.max() > 0, "thumbnail is all black"
    assert values.min() < 255, "thumbnail is all white"


def reference_autostf(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Straightforward AutoSTF: full resolution, float64, statistics of every pixel."""
    x = frame.astype(np.float64) / np.iinfo(frame.dtype).max
    median = np.median(x)
    mad = np.median(np.abs(x - median))
    c0 = max(0.0, median - 2.8 * 1.4826 * mad)
    m = float(mtf(0.25, np.array((median - c0) / (1.0 - c0))))
    stretched = mtf(m, (x - c0) / (1.0 - c0))
    full = Image.fromarray(np.rint(stretched * 255).astype(np.uint8))
    return pixels(full.resize(size, Image.Resampling.LANCZOS))


# --- the star field ------------------------------------------------------------------------


def test_star_field_background_is_at_target_and_stars_are_bright() -> None:
    frame, stars = star_field(seed=10, shape=(1200, 1800), peak=(20000.0, 40000.0))
    image, info = render_thumbnail(frame, max_size_px=400)
    assert image.mode == "L"
    assert image.size == (400, 267)
    values = pixels(image)
    thumb_stars = scaled_stars(stars, frame.shape, image)
    background = ~star_mask(values.shape, thumb_stars, radius=6)
    assert values[background].mean() == pytest.approx(TARGET_GREY, abs=15)
    for y, x in thumb_stars:
        assert values[round(y), round(x)] > 200, f"star at ({y:.1f}, {x:.1f}) is not bright"
    assert info["stretch"] == "stf"
    assert info["reduction_factor"] == 2
    assert 0.0 < info["c0"][0] < info["median"][0] < 0.02


@pytest.mark.parametrize(("shape", "max_size_px"), [((1800, 2600), 200), ((700, 1000), 800)])
def test_reduced_statistics_match_a_full_resolution_autostf(
    shape: tuple[int, int], max_size_px: int
) -> None:
    frame, _ = star_field(seed=11, shape=shape, n_stars=30)
    image, info = render_thumbnail(frame, max_size_px=max_size_px)
    reference = reference_autostf(frame, image.size)
    assert np.abs(pixels(image) - reference).mean() < 3.0
    if frame.size > 4_000_000:
        assert info["stats_step"] > 1


def test_flat_frame_shows_its_vignetting_around_the_target_grey() -> None:
    rng = np.random.default_rng(12)
    yy, xx = np.mgrid[:400, :600]
    vignetting = 1.0 - 0.15 * (((yy - 200) / 200) ** 2 + ((xx - 300) / 300) ** 2)
    frame = np.rint(rng.normal(30000 * vignetting, 150)).astype(np.uint16)
    image, _ = render_thumbnail(frame)
    values = pixels(image)
    assert np.median(values) == pytest.approx(TARGET_GREY, abs=10)
    assert values[180:220, 280:320].mean() > values[:20, :20].mean() + 20  # bright centre


@pytest.mark.parametrize("noise", [0.3, 3.0])
def test_bias_frame_is_neither_black_nor_white(noise: float) -> None:
    rng = np.random.default_rng(13)
    frame = np.rint(rng.normal(500, noise, (300, 400))).astype(np.uint16)
    image, info = render_thumbnail(frame)
    assert_not_blank(image)
    assert 20 < pixels(image).mean() < 235
    assert info["mad"][0] > 0


def test_constant_frame_shows_its_own_level() -> None:
    image, info = render_thumbnail(np.full((300, 500), 20000, dtype=np.uint16))
    np.testing.assert_array_equal(pixels(image), round(20000 / 65535 * 255))
    assert info["c0"] == [0.0]
    assert info["m"] == [0.5]


@pytest.mark.parametrize("shape", [(300, 400), (300, 400, 3), (3000, 4000)])
def test_all_nan_frame_is_mid_grey_and_info_is_json(shape: tuple[int, ...]) -> None:
    image, info = render_thumbnail(np.full(shape, np.nan, dtype=np.float32))
    np.testing.assert_array_equal(pixels(image), 128)
    assert info["median"][0] is None
    json.dumps(info, allow_nan=False)


def test_nan_borders_of_a_stacked_master_do_not_spoil_the_picture() -> None:
    frame, stars = star_field(seed=14, shape=(1200, 1600), peak=(20000.0, 40000.0))
    master = frame.astype(np.float32) / 65535
    master[:150, :] = np.nan
    master[:, -237:] = np.nan
    master[-3:, :] = -np.inf
    image, _ = render_thumbnail(master, max_size_px=400)
    assert_not_blank(image)
    values = pixels(image)
    thumb_stars = scaled_stars(stars, frame.shape, image)
    background = ~star_mask(values.shape, thumb_stars, radius=6)
    assert values[background].mean() == pytest.approx(TARGET_GREY, abs=15)
    # No dark or bright seam where the data meet the border.
    seam_row = round(150 * image.size[1] / 1200)
    assert values[seam_row - 2 : seam_row + 3, :200].mean() == pytest.approx(TARGET_GREY, abs=15)


def test_hot_pixels_and_saturated_stars_leave_the_background_alone() -> None:
    frame, stars = star_field(seed=15, shape=(1000, 1500), peak=(80000.0, 200000.0))
    rng = np.random.default_rng(16)
    frame[rng.integers(0, 1000, 500), rng.integers(0, 1500, 500)] = 65535
    image, _ = render_thumbnail(frame, max_size_px=500)
    values = pixels(image)
    thumb_stars = scaled_stars(stars, frame.shape, image)
    background = ~star_mask(values.shape, thumb_stars, radius=6)
    assert np.median(values[background]) == pytest.approx(TARGET_GREY, abs=10)
    assert all(values[round(y), round(x)] >= 250 for y, x in thumb_stars)


# --- geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "max_size_px", "expected_size"),
    [
        ((1000, 3000), 800, (800, 267)),
        ((3000, 1000), 800, (267, 800)),
        ((4176, 6248), 800, (800, 535)),
        ((500, 300), 800, (300, 500)),  # never upscaled
        ((800, 800), 800, (800, 800)),
        ((250, 1000), 100, (100, 25)),
        ((3, 5000), 800, (800, 1)),
    ],
)
def test_size_fits_keeps_aspect_and_never_upscales(
    shape: tuple[int, int], max_size_px: int, expected_size: tuple[int, int]
) -> None:
    frame = np.random.default_rng(17).integers(900, 1100, shape, dtype=np.uint16)
    image, info = render_thumbnail(frame, max_size_px=max_size_px)
    assert image.size == expected_size
    assert info["size_px"] == list(expected_size)
    assert max(image.size) <= max_size_px
    aspect_in, aspect_out = shape[1] / shape[0], image.size[0] / image.size[1]
    assert aspect_out == pytest.approx(aspect_in, rel=max(0.01, 1.0 / min(image.size)))


def test_flip_vertical_puts_fits_row_one_at_the_bottom() -> None:
    frame, _ = star_field(seed=18, shape=(1600, 1600), n_stars=0)
    frame[:400] += 3000  # a bright band along array row 0 (FITS row 1)
    upright, _ = render_thumbnail(frame, max_size_px=400)
    flipped, _ = render_thumbnail(frame, max_size_px=400, flip_vertical=True)
    top, bottom = slice(0, 80), slice(-80, None)
    assert pixels(upright)[top].mean() > pixels(upright)[bottom].mean() + 100
    assert pixels(flipped)[bottom].mean() > pixels(flipped)[top].mean() + 100
    assert np.abs(pixels(flipped)[::-1] - pixels(upright)).mean() < 1.0


# --- colour, dtypes and variants ------------------------------------------------------------


def colour_field(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    skies = np.array([1200.0, 1000.0, 800.0])
    return np.rint(rng.normal(skies, 15.0, (400, 600, 3))).astype(np.uint16)


def test_colour_input_gives_rgb_and_linked_keeps_the_colour_cast() -> None:
    image, info = render_thumbnail(colour_field(seed=19))
    assert image.mode == "RGB"
    assert image.size == (600, 400)
    red, green, blue = np.median(pixels(image), axis=(0, 1))
    assert red > green > blue
    assert len(info["c0"]) == len(info["m"]) == len(info["median"]) == 3
    assert len(set(info["m"])) == 1


def test_unlinked_colour_neutralizes_the_cast() -> None:
    image, info = render_thumbnail(colour_field(seed=19), params=STFParams(linked=False))
    np.testing.assert_allclose(np.median(pixels(image), axis=(0, 1)), TARGET_GREY, atol=3)
    assert len(set(info["m"])) == 3


def test_single_channel_last_axis_gives_grey() -> None:
    frame, _ = star_field(seed=20, shape=(200, 300))
    image, _ = render_thumbnail(frame[..., np.newaxis])
    assert image.mode == "L"
    assert image.size == (300, 200)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint32, np.float64])
def test_other_dtypes_render_a_sky_at_the_target(dtype: type) -> None:
    rng = np.random.default_rng(21)
    frame = rng.normal(60.0, 4.0, (300, 400))
    if np.issubdtype(dtype, np.floating):
        frame /= 255.0
    image, _ = render_thumbnail(np.rint(frame).astype(dtype) if dtype != np.float64 else frame)
    assert np.median(pixels(image)) == pytest.approx(TARGET_GREY, abs=10)


def test_minmax_variant_with_the_older_clip() -> None:
    frame, stars = star_field(seed=22, shape=(800, 1200), peak=(20000.0, 40000.0))
    params = STFParams(shadows_clip_madn=-1.25, mad_scale=1.0, normalization="minmax")
    image, info = render_thumbnail(frame, params=params)
    low, high = info["input_range"]
    assert (low, high) == (float(frame.min()), float(frame.max()))
    assert info["normalization"] == "minmax"
    assert info["c0"][0] == pytest.approx(info["median"][0] - 1.25 * info["mad"][0])
    values = pixels(image)
    background = ~star_mask(values.shape, stars, radius=8)
    assert values[background].mean() == pytest.approx(TARGET_GREY, abs=15)


def test_percentile_stretch_is_linear_from_1st_to_99th_percentile() -> None:
    frame, _ = star_field(seed=23, shape=(600, 800), n_stars=3)
    image, info = render_thumbnail(frame, stretch="percentile")
    values = pixels(image)
    assert info["stretch"] == "percentile"
    assert info["m"] == [0.5]
    assert np.mean(values == 0) == pytest.approx(0.01, abs=0.005)
    assert np.mean(values == 255) == pytest.approx(0.01, abs=0.005)
    assert np.median(values) == pytest.approx(127.5, abs=5)


def test_no_stretch_keeps_8_bit_data_as_is() -> None:
    frame = np.random.default_rng(24).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    image, info = render_thumbnail(frame, stretch="none")
    np.testing.assert_array_equal(np.asarray(image), frame)
    assert info["c0"] == [0.0, 0.0, 0.0]
    assert info["highlights"] == [1.0, 1.0, 1.0]


def test_input_is_not_modified() -> None:
    frame, _ = star_field(seed=25, shape=(900, 1300))
    master = frame.astype(np.float32)
    master[:50] = np.nan
    before = master.copy()
    render_thumbnail(master, max_size_px=200)
    np.testing.assert_array_equal(master, before)


@pytest.mark.parametrize(
    "shape", [(3, 100, 120), (100,), (2, 3, 4, 5), (0, 10), (10, 10, 2), (10, 10, 4)]
)
def test_unsupported_shapes_are_rejected_with_the_shape_in_the_message(
    shape: tuple[int, ...],
) -> None:
    with pytest.raises(ValueError, match="shape"):
        render_thumbnail(np.zeros(shape, dtype=np.uint16))


def test_unsupported_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="stretch"):
        render_thumbnail(np.zeros((10, 10)), stretch="log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        render_thumbnail(np.zeros((10, 10), dtype=np.complex64))
    with pytest.raises(ValueError, match="max_size_px"):
        render_thumbnail(np.zeros((10, 10)), max_size_px=0)


# --- one-shot colour (CFA) ------------------------------------------------------------------

CFA_CHANNEL = {"R": 0, "G": 1, "B": 2}


def mosaic_of(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """What a sensor with ``pattern`` at the array's origin records of an (H, W, 3) scene."""
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for index, colour in enumerate(pattern):
        row, col = divmod(index, 2)
        out[row::2, col::2] = rgb[row::2, col::2, CFA_CHANNEL[colour]]
    return out


def colour_star_scene(
    seed: int, shape: tuple[int, int]
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Neutral sky with a red, a blue and a white star; (H, W, 3) uint16 in display order.

    The stars are faint enough (100 sky sigmas) that AutoSTF does not turn every channel of
    their cores white, so their colour shows.
    """
    rng = np.random.default_rng(seed)
    height, width = shape
    scene = rng.normal(1000.0, 15.0, (height, width, 3)).astype(np.float32)
    stars = {
        "red": ((0.3 * height, 0.25 * width), (1500.0, 100.0, 0.0)),
        "blue": ((0.7 * height, 0.5 * width), (0.0, 100.0, 1500.0)),
        "white": ((0.4 * height, 0.75 * width), (1500.0, 1500.0, 1500.0)),
    }
    for (y0, x0), colour in stars.values():
        rows = slice(int(y0) - 40, int(y0) + 41)
        cols = slice(int(x0) - 40, int(x0) + 41)
        yy, xx = np.mgrid[rows, cols]
        profile = np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * 6.0**2))
        scene[rows, cols] += profile[..., np.newaxis] * np.asarray(colour)
    frame = np.clip(np.rint(scene), 0, 65535).astype(np.uint16)
    return frame, {name: position for name, (position, _) in stars.items()}


def assert_star_colours(
    image: Image.Image, stars: dict[str, tuple[float, float]], source_shape: tuple[int, int]
) -> None:
    values = pixels(image)
    background = np.median(values.reshape(-1, 3), axis=0)
    np.testing.assert_allclose(background, TARGET_GREY, atol=8)  # neutral sky at the target
    (y_red, x_red), (y_blue, x_blue), (y_white, x_white) = scaled_stars(
        [stars["red"], stars["blue"], stars["white"]], source_shape, image
    )
    red, _, blue = values[round(y_red), round(x_red)]
    assert red > 180, f"red star is dim: {(red, blue)}"
    assert red > blue + 100, f"red star is not red: {(red, blue)}"
    red, _, blue = values[round(y_blue), round(x_blue)]
    assert blue > 180, f"blue star is dim: {(red, blue)}"
    assert blue > red + 100, f"blue star is not blue: {(red, blue)}"
    white = values[round(y_white), round(x_white)]
    assert white.min() > 180, f"white star shows as {white}"
    assert white.max() - white.min() < 30, f"white star shows as {white}"


def test_cfa_frame_is_debayered_into_a_colour_thumbnail() -> None:
    scene, stars = colour_star_scene(seed=30, shape=(1800, 2400))
    keywords = {"BAYERPAT": "RGGB", "ROWORDER": "TOP-DOWN"}
    mosaic = mosaic_of(scene, "RGGB")
    image, info = render_thumbnail(
        mosaic, bayer_pattern=bayer_pattern_from_keywords(keywords, height=1800)
    )
    assert image.mode == "RGB"
    assert image.size == (800, 600)
    assert info["debayer"] == "superpixel"
    assert info["bayer_pattern"] == "RGGB"
    assert_star_colours(image, stars, scene.shape[:2])
    # Read as mono, the same mosaic is grey: the pattern is what makes the colour.
    grey, grey_info = render_thumbnail(mosaic)
    assert grey.mode == "L"
    assert grey_info["debayer"] is None


@pytest.mark.parametrize("height", [1800, 1801])
def test_bottom_up_cfa_frame_with_offset_keeps_its_colours(height: int) -> None:
    scene, stars = colour_star_scene(seed=31, shape=(height, 2400))
    # The header's pattern is read top-down from the displayed top-left, one column in
    # (XBAYROFF = 1); the file stores the bottom row first.
    displayed_mosaic = mosaic_of(scene, "GRBG")
    stored = np.ascontiguousarray(displayed_mosaic[::-1])
    keywords = {"BAYERPAT": "RGGB", "XBAYROFF": 1, "ROWORDER": "BOTTOM-UP"}
    pattern = bayer_pattern_from_keywords(keywords, height=height)
    image, _ = render_thumbnail(stored, bayer_pattern=pattern, flip_vertical=True)
    assert_star_colours(image, stars, scene.shape[:2])


def test_small_cfa_frame_is_interpolated_at_full_size() -> None:
    scene, stars = colour_star_scene(seed=32, shape=(600, 900))
    image, info = render_thumbnail(mosaic_of(scene, "BGGR"), bayer_pattern="BGGR")
    assert info["debayer"] == "bilinear"
    assert image.size == (800, 533)
    assert_star_colours(image, stars, scene.shape[:2])


def test_cfa_needs_a_single_plane_and_a_known_pattern() -> None:
    with pytest.raises(ValueError, match="shape"):
        render_thumbnail(np.zeros((10, 10, 3), dtype=np.uint16), bayer_pattern="RGGB")
    with pytest.raises(ValueError, match="Bayer pattern"):
        render_thumbnail(np.zeros((10, 10), dtype=np.uint16), bayer_pattern="XTRANS")


def test_camera_raw_rgb_renders_in_colour() -> None:
    # What rawpy's half-size postprocessing gives: (H, W, 3) uint16, linear, 14-bit range.
    scene, stars = colour_star_scene(seed=33, shape=(1000, 1500))
    raw_like = (scene // 4).astype(np.uint16)
    image, info = render_thumbnail(raw_like, stretch=choose_stretch("light", 14, "uint"))
    assert info["stretch"] == "stf"
    assert_star_colours(image, stars, scene.shape[:2])


# --- more frame kinds ------------------------------------------------------------------------


def test_dark_frame_with_hot_pixels_and_amp_glow_is_grey_noise() -> None:
    rng = np.random.default_rng(34)
    yy, xx = np.mgrid[:1000, :1500]
    glow = 400.0 * np.exp(-((yy - 999) ** 2 + (xx - 1499) ** 2) / (2 * 150.0**2))
    frame = rng.normal(300.0 + glow, 6.0)
    frame[rng.integers(0, 1000, 3000), rng.integers(0, 1500, 3000)] = 65535
    frame = np.clip(np.rint(frame), 0, 65535).astype(np.uint16)
    image, info = render_thumbnail(frame, stretch=choose_stretch("dark", 16, "uint"))
    assert info["stretch"] == "stf"
    values = pixels(image)
    assert np.median(values) == pytest.approx(TARGET_GREY, abs=8)
    assert values[-20:, -20:].mean() > 200  # the glow corner shows
    assert np.mean(values >= 250) < 0.05  # hot pixels are dots, not a white frame
    assert np.mean(values == 0) < 0.05


def test_processed_float_image_uses_its_own_range() -> None:
    rng = np.random.default_rng(35)
    xx = np.mgrid[:600, :800][1]
    # A stretched picture in [0.2, 0.6] of a float32 [0, 1] range: no black, no white.
    processed = (0.2 + 0.4 * (xx / 799) + rng.normal(0, 0.01, (600, 800))).astype(np.float32)
    stretch = choose_stretch("processed", 32, "float")
    image, info = render_thumbnail(processed, stretch=stretch)
    values = pixels(image)
    assert info["stretch"] == "percentile"
    assert values[:, :20].mean() < 15
    assert values[:, -20:].mean() > 240
    assert np.median(values) == pytest.approx(127.5, abs=10)


# --- JPEG and file name --------------------------------------------------------------------


def test_encode_jpeg_round_trips_mode_and_size() -> None:
    frame, _ = star_field(seed=26, shape=(400, 600))
    for data in (frame, np.stack([frame] * 3, axis=-1)):
        image, _ = render_thumbnail(data)
        jpeg = encode_jpeg(image)
        assert jpeg[:2] == b"\xff\xd8"
        decoded = Image.open(io.BytesIO(jpeg))
        assert decoded.format == "JPEG"
        assert (decoded.mode, decoded.size) == (image.mode, image.size)
        # Stretched sky noise is the worst case for JPEG: compare levels, not pixels.
        assert pixels(decoded).mean() == pytest.approx(pixels(image).mean(), abs=1.0)
        assert np.abs(pixels(decoded) - pixels(image)).mean() < 8
    assert len(encode_jpeg(image, quality=30)) < len(encode_jpeg(image, quality=95))


@pytest.mark.parametrize(
    ("source_path", "stem"),
    [
        ("/data/lights/M31_0001.fits.gz", "M31_0001"),
        ("/data/lights/M31_0001.FIT", "M31_0001"),
        ("/data/IMG_0042.CR2", "IMG_0042"),
        ("/data/final.v2.tiff", "final.v2"),
        ("/data/Orion 2024-01-01.xisf", "Orion 2024-01-01"),
        ("/data/notes.2024", "notes.2024"),
        ("/data/.fits", ".fits"),
    ],
)
def test_thumbnail_filename_rule(source_path: str, stem: str) -> None:
    digest = hashlib.md5(source_path.encode("utf-8")).hexdigest()[:8]
    assert thumbnail_filename(source_path) == f"{stem}_{digest}_thumb.jpg"


@pytest.mark.parametrize(
    "source_path", ["/a/M31.fits", "/a/b c/Ä.xisf", "/x/.fits", "/data/" + "é" * 200 + ".fits"]
)
def test_every_thumbnail_name_is_recognized(source_path: str) -> None:
    assert is_thumbnail_filename(thumbnail_filename(source_path))


@pytest.mark.parametrize(
    "name",
    [
        "notes.txt",
        "folder_thumb.jpg",
        "M31_0123abc_thumb.jpg",  # 7 hex digits
        "M31_0123ABCD_thumb.jpg",  # md5 hex digests are lower case
        "M31_0123abcd_thumb.jpeg",
        "M31_0123abcd_thumb.jpg.tmp",
        "_0123abcd_thumb.jpg",  # no stem
        ".tmpx1y2.tmp",
        "holiday.jpg",
    ],
)
def test_other_names_are_not_thumbnails(name: str) -> None:
    assert not is_thumbnail_filename(name)


def test_same_file_name_in_two_folders_gives_two_thumbnails() -> None:
    assert thumbnail_filename("/a/M31.fits") != thumbnail_filename("/b/M31.fits")
    assert thumbnail_filename("/a/M31.fits") == thumbnail_filename("/a/M31.fits")


def test_very_long_names_are_shortened_to_a_valid_file_name() -> None:
    name = thumbnail_filename("/data/" + "é" * 200 + ".fits")
    assert len(name.encode("utf-8")) <= 255
    assert name.endswith("_thumb.jpg")


def test_core_modules_do_not_import_dagster() -> None:
    code = (
        "import sys, astrocat_pipeline.core.thumbnail, astrocat_pipeline.core.stretch,"
        " astrocat_pipeline.core.debayer;"
        "sys.exit('dagster' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("stretch", ["stf", "percentile"])
def test_a_kept_stretch_renders_another_size_without_statistics(monkeypatch, stretch):
    import astrocat_pipeline.core.thumbnail as thumbnail_module

    rng = np.random.default_rng(4)
    data = rng.normal(1000, 30, (600, 900)).astype(np.uint16)
    data[300:320, 400:420] = 30000
    large, info = render_thumbnail(data, max_size_px=400, stretch=stretch)
    assert info["statistics_kept"] is False

    def no_statistics(*args, **kwargs):
        raise AssertionError("statistics computed again")

    monkeypatch.setattr(thumbnail_module, "channel_statistics", no_statistics)
    monkeypatch.setattr(thumbnail_module, "regular_subsample", no_statistics)
    small, again = render_thumbnail(data, max_size_px=200, stretch=stretch, kept=info)
    assert again["statistics_kept"] is True
    assert small.size == (200, 133)
    for name in ("input_range", "c0", "highlights", "m"):
        assert again[name] == info[name]
    # Same stretch, so the same levels: the smaller picture's mean matches the larger one's.
    assert np.asarray(small, float).mean() == pytest.approx(np.asarray(large, float).mean(), abs=2)


def test_a_kept_stretch_of_another_kind_is_ignored():
    data = np.random.default_rng(5).normal(1000, 30, (60, 90)).astype(np.uint16)
    _, info = render_thumbnail(data, stretch="percentile")
    _, again = render_thumbnail(data, stretch="stf", kept=info)
    assert again["statistics_kept"] is False
    _, damaged = render_thumbnail(data, stretch="percentile", kept={"stretch": "percentile"})
    assert damaged["statistics_kept"] is False
