"""One read of a file for its fingerprint, header and pixels (core/loading.load_image_once), and
the frame's star list found on binned pixels (core/frame_stars.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.frame_stars import frame_stars, star_plane, stars_in_plane
from astrocat_pipeline.core.loading import load_image, load_image_once, read_header
from astrocat_pipeline.core.star_detect import detect_stars, remove_line_artifacts


def _fits(path: Path, data: np.ndarray, **cards: object) -> Path:
    hdu = fits.PrimaryHDU(data)
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(1).integers(0, 65535, (60, 80)).astype(np.uint16),
        np.random.default_rng(2).integers(-3000, 3000, (60, 80)).astype(np.int16),
        np.random.default_rng(3).normal(0, 1, (60, 80)).astype(np.float32),
        np.random.default_rng(4).integers(0, 255, (60, 80)).astype(np.uint8),
        np.random.default_rng(5).integers(0, 65535, (3, 40, 50)).astype(np.uint16),
    ],
    ids=["uint16", "int16", "float32", "uint8", "colour-cube"],
)
def test_one_read_gives_what_the_usual_reads_give(tmp_path, data):
    path = _fits(tmp_path / "frame.fits", data, OBJECT="M 31", EXPTIME=300.0)
    expected, header = load_image(path)

    loaded = load_image_once(path)

    assert loaded is not None
    assert loaded.fingerprint == content_fingerprint(path)
    assert loaded.size_bytes == path.stat().st_size
    assert loaded.mtime_ns == path.stat().st_mtime_ns
    assert loaded.header.keywords == header.keywords
    assert (loaded.header.width, loaded.header.height) == (header.width, header.height)
    assert loaded.data.dtype == expected.dtype
    np.testing.assert_array_equal(loaded.data, expected)


def test_files_without_a_one_pass_reader_are_left_to_the_usual_reads(tmp_path):
    scaled = _fits(tmp_path / "scaled.fits", np.ones((20, 30), dtype=np.int16), BSCALE=2.0)
    plain = _fits(tmp_path / "plain.fits", np.ones((20, 30), dtype=np.uint16))
    packed = tmp_path / "packed.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    tiff = tmp_path / "picture.tiff"
    tiff.write_bytes(b"II*\x00")
    for path in (scaled, packed, tiff):
        assert load_image_once(path) is None, path.name


def test_a_truncated_frame_is_an_error_naming_it(tmp_path):
    path = _fits(tmp_path / "short.fits", np.ones((100, 100), dtype=np.uint16))
    path.write_bytes(path.read_bytes()[: 2880 + 5000])
    with pytest.raises(ImageReadError, match=r"short\.fits: truncated FITS file"):
        load_image_once(path)
    with pytest.raises(ImageReadError, match=r"short\.fits: truncated FITS file"):
        read_header(path)


def _star_field(shape: tuple[int, int], count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = rng.normal(1000.0, 10.0, shape)
    yy, xx = np.mgrid[-6:7, -6:7]
    for _ in range(count):
        x, y = rng.uniform(10, shape[1] - 11), rng.uniform(10, shape[0] - 11)
        ix, iy = round(x), round(y)
        stamp = rng.uniform(3e3, 3e4) * np.exp(
            -((xx - (x - ix)) ** 2 + (yy - (y - iy)) ** 2) / (2 * 1.8**2)
        )
        frame[iy - 6 : iy + 7, ix - 6 : ix + 7] += stamp
    return np.clip(frame, 0, 65535).astype(np.uint16)


def test_a_big_frame_s_stars_are_those_detected_on_its_2x2_blocks():
    frame = _star_field((1100, 2100), 150, seed=7)  # wider than SOLVER_DOWNSAMPLE_ABOVE_PX

    stars = frame_stars(frame)
    expected = remove_line_artifacts(detect_stars(frame, bin_factor=2))

    assert len(stars) == len(expected) > 100
    # The same stars; positions agree to a hundredth of a pixel (the two paths bin in another
    # order of float operations), far below what the solver's matching tolerates.
    np.testing.assert_allclose(stars.x_px, expected.x_px, atol=1e-2)
    np.testing.assert_allclose(stars.y_px, expected.y_px, atol=1e-2)
    np.testing.assert_allclose(stars.flux, expected.flux, rtol=1e-4)
    plane, factor = star_plane(frame)
    assert factor == 2
    assert plane.shape == (550, 1050)
    assert plane.dtype == np.float32  # a quarter-size plane, not a full-size float copy
    assert len(stars_in_plane(plane, factor)) == len(stars)
    np.testing.assert_array_equal(frame, _star_field((1100, 2100), 150, seed=7))  # not modified


def test_a_small_frame_is_searched_at_full_resolution():
    frame = _star_field((300, 400), 20, seed=3)
    plane, factor = star_plane(frame)
    assert factor == 1
    # A float32 plane of its own (the detection works in it), not a view of the frame.
    assert plane.dtype == np.float32
    assert not np.shares_memory(plane, frame)
    np.testing.assert_array_equal(plane, frame.astype(np.float32))
    expected = remove_line_artifacts(detect_stars(frame))
    np.testing.assert_array_equal(frame_stars(frame).x_px, expected.x_px)
