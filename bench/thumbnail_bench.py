"""Thumbnail speed, memory and fidelity: this project's path against the seed's literal one.

Run from the project root (either form)::

    .venv/bin/python -m bench.thumbnail_bench [--repeats N]
    .venv/bin/python bench/thumbnail_bench.py [--repeats N]

One run writes a synthetic 6248×4176 16-bit FITS light frame (seeded sky, noise, stars, hot
pixels) to a temporary directory and times, on it and on two real samples (an XISF frame and a
camera raw, when ``load_image`` reads them):

- **project**: ``load_image(path, draft=True)`` + ``render_thumbnail`` (stretch from
  ``choose_stretch('light', ...)``, CFA pattern from the header) + ``encode_jpeg``;
- **baseline**: the seed document taken literally: ``load_image(path)`` at full resolution,
  float64, min/max normalization, median and MAD over all pixels, shadows at
  median − 1.25·MAD, MTF at full resolution, PIL Lanczos resize, JPEG.

Time is the median wall-clock time of a few repeats. Peak memory is measured in a fresh
subprocess per path: the resident set's high-water mark (Linux ``VmHWM``, reset through
``/proc/self/clear_refs`` after the imports) minus the resident set before the work. That
counts every allocation (numpy, astropy's read buffers, PIL's and LibRaw's C buffers); a
``tracemalloc`` peak is shown too, but it misses PIL's and LibRaw's own buffers. Fidelity is the
mean absolute difference in grey levels between the project's thumbnail and a full-resolution
AutoSTF reference (PixInsight's formula with the project's constants applied to every pixel in
float64, then the same Lanczos resize), before and after JPEG encoding.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from PIL import Image

from astrocat_pipeline.core.debayer import bayer_pattern_from_keywords, debayer_superpixel
from astrocat_pipeline.core.errors import AstrocatError, UnsupportedFormatError
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.stretch import STFParams, choose_stretch, mtf
from astrocat_pipeline.core.thumbnail import encode_jpeg, render_thumbnail, thumbnail_size
from astrocat_pipeline.core.tuning import THUMBNAIL_JPEG_QUALITY, THUMBNAIL_MAX_SIZE_PX

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
FRAME_SHAPE = (4176, 6248)  # rows, columns
SEED = 2026

# Issue 4's goals.
GOAL_SPEEDUP = 10.0
GOAL_PEAK_OVER_DISK = 3.0
GOAL_MAD_GREY = 6.0

# The seed's AutoSTF variant: shadows at median - 1.25 MAD after min/max normalization.
SEED_SHADOWS_MAD = -1.25


# --- the synthetic frame ---------------------------------------------------------------------


def synthetic_light_frame(seed: int = SEED, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray:
    """A 16-bit light frame: sky with a gradient, read and shot noise, 6000 stars (some
    saturated), 300 hot pixels. ``(rows, columns)`` uint16."""
    rng = np.random.default_rng(seed)
    height, width = shape
    frame = rng.standard_normal(shape, dtype=np.float32)
    frame *= np.float32(22.0)
    frame += np.linspace(1100.0, 1400.0, width, dtype=np.float32)  # sky gradient
    radius = 12
    offsets = np.arange(-radius, radius + 1)
    for _ in range(6000):
        y0 = rng.uniform(radius, height - radius - 1)
        x0 = rng.uniform(radius, width - radius - 1)
        peak = min(60.0 * (1.0 + rng.pareto(1.1)), 300_000.0)
        sigma = rng.uniform(1.3, 2.2)
        rows = int(y0) + offsets
        cols = int(x0) + offsets
        profile_y = np.exp(-((rows - y0) ** 2) / (2 * sigma**2))
        profile_x = np.exp(-((cols - x0) ** 2) / (2 * sigma**2))
        stamp = (peak * np.outer(profile_y, profile_x)).astype(np.float32)
        frame[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] += stamp
    frame[rng.integers(0, height, 300), rng.integers(0, width, 300)] = 65535.0
    np.clip(frame, 0.0, 65535.0, out=frame)
    np.rint(frame, out=frame)
    return frame.astype(np.uint16)


def write_fits(path: Path, frame: np.ndarray) -> None:
    header = fits.Header()
    header["IMAGETYP"] = "Light Frame"
    header["EXPTIME"] = 300.0
    header["OBJECT"] = "Synthetic field"
    # astropy stores uint16 as BITPIX 16 with BZERO 32768, as capture programs do.
    fits.PrimaryHDU(data=frame, header=header).writeto(path)


# --- the three ways to a thumbnail ----------------------------------------------------------


def _origin_pattern(header: Any) -> str | None:
    """The CFA pattern at the array's origin: FITS from BAYERPAT/offsets/ROWORDER, other
    formats as the reader reports it (XISF CFA patterns are top-down, without offsets)."""
    if getattr(header, "channels", 1) != 1:
        return None
    if header.format == "fits":
        return bayer_pattern_from_keywords(header.keywords, header.height)
    pattern = getattr(header, "bayer_pattern", None)
    return str(pattern) if pattern else None


def project_thumbnail(path: Path) -> tuple[Image.Image, bytes]:
    """This project's path: draft load, array-only rendering, JPEG."""
    data, header = load_image(path, draft=True)
    image, _ = render_thumbnail(
        data,
        flip_vertical=header.bottom_up,
        bayer_pattern=_origin_pattern(header),
        stretch=choose_stretch("light", header.bit_depth, header.sample_kind),
    )
    return image, encode_jpeg(image)


def _mtf64(m: float, x: np.ndarray) -> np.ndarray:
    """The MTF as the seed writes it, in float64, on [0, 1]-clipped values."""
    return ((m - 1.0) * x) / ((2.0 * m - 1.0) * x - m)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    return buffer.getvalue()


def baseline_thumbnail(path: Path) -> tuple[Image.Image, bytes]:
    """The seed document followed literally, everything at full resolution in float64."""
    data, header = load_image(path)
    x = data.astype(np.float64)
    low, high = np.nanmin(x), np.nanmax(x)
    x = (x - low) / (high - low)
    median = float(np.nanmedian(x))
    mad = float(np.nanmedian(np.abs(x - median)))
    c0 = min(max(median + SEED_SHADOWS_MAD * mad, 0.0), 1.0)
    m = float(_mtf64(0.25, np.array(median - c0)))
    x = np.clip((x - c0) / (1.0 - c0), 0.0, 1.0)
    stretched = np.nan_to_num(_mtf64(m, x))
    pixels = np.rint(stretched * 255.0).astype(np.uint8)
    if header.bottom_up:
        pixels = pixels[::-1]
    size = thumbnail_size(pixels.shape[1], pixels.shape[0], THUMBNAIL_MAX_SIZE_PX)
    image = Image.fromarray(np.ascontiguousarray(pixels)).resize(size, Image.Resampling.LANCZOS)
    return image, _jpeg(image)


def _dtype_range(data: np.ndarray) -> tuple[float, float]:
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        return float(info.min), float(info.max)
    finite = data[np.isfinite(data)]
    return min(0.0, float(finite.min())), max(1.0, float(finite.max()))


def reference_pixels(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Full-resolution AutoSTF (PixInsight's formula, the project's constants, every pixel in
    float64, channels linked by averaging c0 and the median) resized like the thumbnail."""
    params = STFParams()
    data, header = load_image(path)  # full resolution: camera raw fully demosaiced
    pattern = _origin_pattern(header)
    if pattern is not None:
        data = debayer_superpixel(data, pattern)
    low, high = _dtype_range(data)
    x = (data.astype(np.float64) - low) / (high - low)
    planes = x[..., np.newaxis] if x.ndim == 2 else x
    medians, clips = [], []
    for channel in range(planes.shape[-1]):
        values = planes[..., channel]
        values = values[np.isfinite(values)]
        median = float(np.median(values))
        madn = params.mad_scale * float(np.median(np.abs(values - median)))
        medians.append(median)
        clips.append(min(max(median + params.shadows_clip_madn * madn, 0.0), 1.0))
    c0 = float(np.mean(clips))
    m = float(mtf(params.target_background, np.array(float(np.mean(medians)) - c0)))
    stretched = mtf(m, np.nan_to_num((planes - c0) / (1.0 - c0), nan=float(np.mean(medians))))
    pixels = np.rint(stretched * 255.0).astype(np.uint8)
    if header.bottom_up:
        pixels = pixels[::-1]
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(np.ascontiguousarray(pixels)).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float64)


# --- measuring ----------------------------------------------------------------------------------

PATHS: dict[str, Callable[[Path], tuple[Image.Image, bytes]]] = {
    "project": project_thumbnail,
    "baseline": baseline_thumbnail,
}


def _status_kb(name: str) -> int | None:
    try:
        with Path("/proc/self/status").open() as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure_memory(which: str, path: Path) -> dict[str, Any]:
    """Peak memory of one run of a path, in this (fresh) process."""
    import resource

    run = PATHS[which]
    Image.new("L", (8, 8)).save(io.BytesIO(), format="JPEG")  # load PIL's JPEG plugin first
    gc.collect()
    method = "VmHWM"
    base_kb = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        method = "ru_maxrss"
    if base_kb is None:
        method = "ru_maxrss"
    if method == "ru_maxrss":
        base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(path)
    peak_kb = _status_kb("VmHWM") if method == "VmHWM" else None
    if peak_kb is None:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gc.collect()
    tracemalloc.start()
    run(path)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert base_kb is not None
    return {
        "method": method,
        "rss_peak_bytes": (peak_kb - base_kb) * 1024,
        "tracemalloc_peak_bytes": traced_peak,
    }


def memory_in_subprocess(which: str, path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", which, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory measurement of {which} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def median_time(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    label: str
    path: Path
    skipped: str | None = None
    disk_bytes: int = 0
    project_s: float = math.nan
    baseline_s: float = math.nan
    project_peak: int = 0
    baseline_peak: int = 0
    project_traced: int = 0
    baseline_traced: int = 0
    memory_method: str = ""
    mad_render: float = math.nan
    mad_jpeg: float = math.nan
    size: tuple[int, int] = (0, 0)


def bench_row(label: str, path: Path, repeats: int) -> Row:
    row = Row(label, path)
    if not path.exists():
        row.skipped = f"skipped: {path} does not exist"
        return row
    try:
        load_image(path, draft=True)
    except UnsupportedFormatError as exc:
        row.skipped = f"skipped: {exc}"
        return row
    except AstrocatError as exc:
        row.skipped = f"skipped: load_image failed ({exc})"
        return row
    row.disk_bytes = path.stat().st_size
    project_thumbnail(path)  # warm-up: first-call costs (imports, PIL plugins) are not timed
    row.project_s = median_time(lambda: project_thumbnail(path), repeats)
    row.baseline_s = median_time(lambda: baseline_thumbnail(path), max(1, min(repeats, 3)))
    image, jpeg = project_thumbnail(path)
    row.size = image.size
    reference = reference_pixels(path, image.size)
    rendered = np.asarray(image, dtype=np.float64)
    decoded = np.asarray(Image.open(io.BytesIO(jpeg)), dtype=np.float64)
    row.mad_render = float(np.abs(rendered - reference).mean())
    row.mad_jpeg = float(np.abs(decoded - reference).mean())
    project_memory = memory_in_subprocess("project", path)
    baseline_memory = memory_in_subprocess("baseline", path)
    row.project_peak = project_memory["rss_peak_bytes"]
    row.baseline_peak = baseline_memory["rss_peak_bytes"]
    row.project_traced = project_memory["tracemalloc_peak_bytes"]
    row.baseline_traced = baseline_memory["tracemalloc_peak_bytes"]
    row.memory_method = project_memory["method"]
    return row


# --- output ----------------------------------------------------------------------------------


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def print_table(rows: list[Row]) -> None:
    header = (
        "frame",
        "on disk",
        "project",
        "baseline",
        "speed-up",
        "project peak",
        "baseline peak",
        "project peak/disk",
        "MAD vs ref",
        "MAD vs ref (JPEG)",
    )
    lines = [header]
    for row in rows:
        if row.skipped:
            lines.append((row.label, row.skipped, "", "", "", "", "", "", "", ""))
            continue
        lines.append(
            (
                row.label,
                _mb(row.disk_bytes),
                f"{row.project_s:.3f} s",
                f"{row.baseline_s:.3f} s",
                f"{row.baseline_s / row.project_s:.1f}x",
                _mb(row.project_peak),
                _mb(row.baseline_peak),
                f"{row.project_peak / row.disk_bytes:.2f}x",
                f"{row.mad_render:.2f}",
                f"{row.mad_jpeg:.2f}",
            )
        )
    widths = [
        max(len(line[i]) for line in lines if not (line[1].startswith("skipped") and i))
        for i in range(len(header))
    ]
    for index, line in enumerate(lines):
        if line[1].startswith("skipped"):
            print(f"{line[0]:<{widths[0]}} | {line[1]}")
            continue
        print(" | ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(line)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per path (default 5)")
    parser.add_argument("--measure", nargs=2, metavar=("PATH_KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        which, file_name = args.measure
        print(json.dumps(measure_memory(which, Path(file_name))))
        return 0

    with tempfile.TemporaryDirectory(prefix="astrocat-bench-") as temp:
        fits_path = Path(temp) / "synthetic_light_6248x4176.fits"
        write_fits(fits_path, synthetic_light_frame())
        rows = [
            bench_row("FITS 16-bit light 6248x4176 (synthetic)", fits_path, args.repeats),
            bench_row(
                "XISF M13_blue_0001_derived",
                SAMPLES / "xisf" / "M13_blue_0001_derived.xisf",
                args.repeats,
            ),
            bench_row("RAW Blackmagic.dng", SAMPLES / "raw" / "Blackmagic.dng", args.repeats),
        ]
    print(
        f"Thumbnails fit {THUMBNAIL_MAX_SIZE_PX}x{THUMBNAIL_MAX_SIZE_PX}, JPEG quality "
        f"{THUMBNAIL_JPEG_QUALITY}; times are medians of {args.repeats} runs (baseline: "
        f"{max(1, min(args.repeats, 3))}), each including load_image and JPEG encoding."
    )
    print_table(rows)
    measured = [row for row in rows if not row.skipped]
    if measured:
        method = measured[0].memory_method
        print(
            f"\nPeak = resident-set high-water mark above the resident set before the work, "
            f"one fresh subprocess per path ({method}); it counts numpy, astropy, PIL and LibRaw "
            f"buffers alike. tracemalloc peaks (Python and numpy allocations only): "
            + "; ".join(
                f"{row.label.split()[0]} project {_mb(row.project_traced)}, baseline "
                f"{_mb(row.baseline_traced)}"
                for row in measured
            )
            + "."
        )
        print(
            "MAD = mean absolute difference in grey levels (0-255) from a full-resolution "
            "float64 AutoSTF (PixInsight formula, project constants) resized the same way; "
            "thumbnail sizes: "
            + ", ".join(f"{row.label.split()[0]} {row.size[0]}x{row.size[1]}" for row in measured)
            + "."
        )
    fits_row = rows[0]
    if not fits_row.skipped:
        speedup = fits_row.baseline_s / fits_row.project_s
        over_disk = fits_row.project_peak / fits_row.disk_bytes
        print("\nGoals (FITS light frame):")
        for text, value, ok in (
            (f"speed-up >= {GOAL_SPEEDUP:g}x", f"{speedup:.1f}x", speedup >= GOAL_SPEEDUP),
            (
                f"peak memory <= {GOAL_PEAK_OVER_DISK:g}x size on disk",
                f"{over_disk:.2f}x",
                over_disk <= GOAL_PEAK_OVER_DISK,
            ),
            (
                f"MAD <= {GOAL_MAD_GREY:g} grey levels",
                f"{fits_row.mad_render:.2f} ({fits_row.mad_jpeg:.2f} after JPEG)",
                fits_row.mad_jpeg <= GOAL_MAD_GREY,
            ),
        ):
            print(f"  {text}: {value} -> {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
