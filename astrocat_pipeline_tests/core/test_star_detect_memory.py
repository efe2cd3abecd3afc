"""Star detection in one working plane (core/star_detect.py): the same stars as before it was
rewritten (``star_detect_before.py``, the detection of commit 368a002), on realistic frames and
the real samples, in bounded memory: the background is subtracted from the plane in place,
band by band, and sep's pixel stack is sized for ordinary frames and grown only when a frame
fills it. A file in flight holds at most 3× its size (issue 17)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import astrocat_pipeline.core.star_detect as star_detect
from astrocat_pipeline.core.frame_stars import frame_stars, star_plane, stars_in_plane
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.star_detect import DetectedStars, detect_stars, remove_line_artifacts
from astrocat_pipeline.demo.realistic import CONDITIONS, CatalogSky, FrameSpec, render_frame
from astrocat_pipeline_tests.core import star_detect_before as before
from astrocat_pipeline_tests.samples import PROJECT_ROOT, needs_samples, sample

# Wider than SOLVER_DOWNSAMPLE_ABOVE_PX, so frame_stars detects on 2×2 block means.
BASE = FrameSpec(ra_deg=83.8, dec_deg=-5.4, width_deg=2.2, width_px=2100, height_px=1400, seed=5)


@pytest.fixture(scope="module")
def sky() -> CatalogSky:
    return CatalogSky(None)


def _assert_same_stars(found: DetectedStars, expected: DetectedStars) -> None:
    assert len(found) == len(expected)
    np.testing.assert_allclose(found.x_px, expected.x_px, rtol=0, atol=0.01)
    np.testing.assert_allclose(found.y_px, expected.y_px, rtol=0, atol=0.01)
    np.testing.assert_allclose(found.flux, expected.flux, rtol=1e-5)


def _frame_stars_before(data: np.ndarray, cfa: bool) -> DetectedStars:
    """``frame_stars`` as it was: the same plane, detected by the earlier code."""
    plane, factor = star_plane(data, cfa=cfa)
    found = before.detect_stars(plane)
    offset = (factor - 1) / 2.0
    return remove_line_artifacts(
        DetectedStars(found.x_px * factor + offset, found.y_px * factor + offset, found.flux)
    )


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_realistic_frames_give_the_stars_found_before(sky, condition):
    spec = dataclasses.replace(BASE, **CONDITIONS[condition])  # type: ignore[arg-type]
    frame = render_frame(spec, sky)
    cfa = spec.bayer_pattern is not None
    pixels = frame.data.copy()

    # Full resolution (or superpixels of a mosaic), as the solver adapter and tests call it.
    _assert_same_stars(detect_stars(frame.data, cfa=cfa), before.detect_stars(frame.data, cfa=cfa))
    # The file pass's way: 2×2 block means, detected in the plane itself.
    expected = _frame_stars_before(frame.data, cfa)
    found = frame_stars(frame.data, cfa=cfa)
    assert len(found) > 20
    _assert_same_stars(found, expected)
    np.testing.assert_array_equal(frame.data, pixels)  # the frame itself is not modified


def test_a_defocused_frame_detected_again_on_blocks_gives_the_stars_found_before(sky):
    # Donuts: the PSF is several pixels wide, so the plane is turned back from its residual
    # and detected again on blocks of the PSF's width.
    spec = dataclasses.replace(BASE, width_px=1200, height_px=800, defocus_px=12.0)
    frame = render_frame(spec, sky)
    restored = []
    original = star_detect._Residual.restore

    def spy(self: star_detect._Residual) -> np.ndarray:
        restored.append(self.plane.shape)
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(star_detect._Residual, "restore", spy)
        found = detect_stars(frame.data)
    assert restored, "the defocused frame was not detected again on blocks"
    assert len(found) > 20
    _assert_same_stars(found, before.detect_stars(frame.data))


@needs_samples
@pytest.mark.parametrize(
    "relative",
    [
        "fits/HorseHead.fits",
        "fits/M6707HH.fits",
        "fits/M13_blue_0001.fits",
        "fits/gc_2mass_k.fits",
        "fits/simple.fits",
        "fits/STAR_FOCUS_1.fits",
        "synthetic/m31_3deg.fits.gz",
        "synthetic/m31_1deg.fits.gz",
        "synthetic/pole89_3deg.fits.gz",
        "synthetic/ra0_3deg.fits.gz",
        "tiff/HorseHead_float32.tif",
    ],
)
def test_real_samples_give_the_stars_found_before(relative):
    data, _ = load_image(sample(relative))
    expected = before.detect_stars(data)
    found = detect_stars(data)
    _assert_same_stars(found, expected)
    _assert_same_stars(frame_stars(data), _frame_stars_before(data, cfa=False))
    # One star in an 85×65 cutout; a 5 s frame whose brightest star is 7.6σ at its peak.
    least = {"fits/STAR_FOCUS_1.fits": 1, "fits/M13_blue_0001.fits": 5}.get(relative, 21)
    assert len(found) >= least


def test_the_residual_is_made_in_place_and_turned_back():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:300, 0:500]
    plane = (1000.0 + 0.5 * xx + 0.2 * yy + rng.normal(0, 5, (300, 500))).astype(np.float32)
    original = plane.copy()
    residual = star_detect._Residual(plane, 64)

    assert residual.plane is plane
    # Bit for bit what the whole-plane subtraction gave.
    np.testing.assert_array_equal(plane, original - before._background(original, 64))
    np.testing.assert_array_equal(plane, original - star_detect._background(original, 64))
    residual.zero_edges()
    residual.replace(np.array([700, 701, 700]), np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert plane[1, 200] == 3.0
    assert plane[0, 0] == 0.0
    # Turned back to within float32 rounding of the subtraction (a few ulp of the values).
    np.testing.assert_allclose(residual.restore(), original, rtol=0, atol=1e-3)


def test_a_frame_that_fills_sep_s_pixel_stack_is_extracted_again_with_the_same_objects():
    # Stars, and 200 bright one-pixel columns 800 rows long (a readout fault): more pixels
    # over the threshold at once than the first stack holds. The columns sit between the
    # pixels the background mesh samples, so they stay above it.
    rng = np.random.default_rng(8)
    frame = rng.normal(1000.0, 10.0, (1200, 1600)).astype(np.float32)
    yy, xx = np.mgrid[-6:7, -6:7]
    for x, y in rng.uniform(20, 1180, (200, 2)):
        ix, iy = round(x), round(y)
        stamp = 2e4 * np.exp(-((xx - (x - ix)) ** 2 + (yy - (y - iy)) ** 2) / (2 * 1.5**2))
        frame[iy - 6 : iy + 7, ix - 6 : ix + 7] += stamp
    frame[200:1000, 1::8] += 1000.0
    stacks = []
    import sep

    original = sep.set_extract_pixstack

    def spy(size: int) -> None:
        stacks.append(size)
        original(size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sep, "set_extract_pixstack", spy)
        patch.setattr(star_detect, "STAR_SEP_PIXSTACK_FRACTION", 0.0)  # sep's default, 300,000
        # Without the PSF probe, which would flatten the one-pixel columns before extracting.
        patch.setattr(star_detect, "STAR_PSF_PROBE_SIGMA", 0.0)
        patch.setattr(before, "STAR_PSF_PROBE_SIGMA", 0.0)
        found = detect_stars(frame)
        expected = before.detect_stars(frame)
    assert stacks[:2] == [300_000, frame.size // 2], stacks
    assert len(found) > 50
    _assert_same_stars(found, expected)


def test_the_detection_allocates_no_plane_of_its_own():
    rng = np.random.default_rng(3)
    frame = rng.normal(1000.0, 10.0, (2000, 3000)).astype(np.float32)
    frame[::97, ::89] += 5000.0
    plane, factor = star_plane(frame)  # small frame: the float32 copy, which it may overwrite
    stars_in_plane(plane, factor)  # imports sep and its first allocations
    plane, factor = star_plane(frame)
    tracemalloc.start()
    try:
        stars_in_plane(plane, factor)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The boolean mask of pixels over the threshold (a quarter of the plane) and the noise
    # sample are the largest; before, a copy, the background, the residual and their
    # temporaries made about five planes.
    assert peak < 0.5 * plane.nbytes, f"{peak / plane.nbytes:.2f} planes allocated"


_MEMORY_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from astrocat_pipeline.cataloging.file_pass import read_file_pass

    def rss(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    small, big = sys.argv[1:3]
    read_file_pass(Path(small))  # the imports and first allocations of every step
    Path("/proc/self/clear_refs").write_text("5\\n")  # the peak RSS starts again from here
    start = rss("VmRSS")
    found = read_file_pass(Path(big))
    print(json.dumps({"grown": rss("VmHWM") - start, "stars": len(found.stars)}))
    """
)


def _write_frame(path: Path, shape: tuple[int, int], stars: int, seed: int) -> None:
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    frame = rng.normal(1700.0, 30.0, shape).astype(np.float32)
    yy, xx = np.mgrid[-6:7, -6:7]
    for x, y, flux in zip(
        rng.uniform(10, shape[1] - 11, stars),
        rng.uniform(10, shape[0] - 11, stars),
        rng.uniform(2e3, 4e4, stars),
        strict=True,
    ):
        ix, iy = round(x), round(y)
        stamp = flux * np.exp(-((xx - (x - ix)) ** 2 + (yy - (y - iy)) ** 2) / (2 * 1.6**2))
        frame[iy - 6 : iy + 7, ix - 6 : ix + 7] += stamp
    hdu = fits.PrimaryHDU(np.clip(frame, 0, 65535).astype(np.uint16))
    hdu.header["IMAGETYP"] = "LIGHT"
    hdu.writeto(path)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")
def test_a_full_size_frame_in_flight_holds_at_most_three_times_its_size(tmp_path):
    # An ASI2600-class frame (6248×4176 16-bit, 52 MB) through its one-pass read: the read,
    # the thumbnail, the binning and the star detection, in a fresh process.
    small, big = tmp_path / "small.fits", tmp_path / "big.fits"
    _write_frame(small, (600, 900), 50, seed=1)
    _write_frame(big, (4176, 6248), 1500, seed=2)
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(small), str(big)],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    ratio = measured["grown"] / big.stat().st_size
    assert measured["stars"] > 500
    assert ratio <= 3.0, f"peak RSS grew by {ratio:.2f}× the file's size"
