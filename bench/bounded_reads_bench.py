"""The cost of the decompression bounds (issue 15): ``load_image`` of an honest 6 Mpx 16-bit
frame (4000x3000, sky-like noise) as a tile-compressed FITS with GZIP_1 and GZIP_2 tiles (one
row per tile, fpack's default) and as a deflate TIFF (tifffile's default strips, with and
without a predictor), with the check that inflates every tile or strip before astropy or
tifffile decodes it, and with that check switched off, alternately in one run. Prints the
median of each and the ratio.

Run from the project root: ``.venv/bin/python -m bench.bounded_reads_bench [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from astropy.io import fits

from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.readers import fits_reader, tiff_reader

WIDTH, HEIGHT = 4000, 3000


def _frame() -> np.ndarray:
    rng = np.random.default_rng(15)
    return rng.normal(1000, 30, (HEIGHT, WIDTH)).clip(0, 65535).astype(np.uint16)


def _files(folder: Path) -> dict[str, tuple[Path, Any, str]]:
    data = _frame()
    files: dict[str, tuple[Path, Any, str]] = {}
    for compression in ("GZIP_1", "GZIP_2"):
        path = folder / f"{compression}.fits.fz"
        hdu = fits.CompImageHDU(data, compression_type=compression)
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        files[f"FITS {compression}"] = (path, fits_reader, "_check_gzip_tiles")
    for name, predictor in (("deflate", False), ("deflate + predictor", True)):
        path = folder / f"{name.replace(' + ', '_')}.tif"
        tifffile.imwrite(path, data, compression="zlib", predictor=predictor)
        files[f"TIFF {name}"] = (path, tiff_reader, "_check_strips")
    return files


def _timed(load: Callable[[], object]) -> float:
    started = time.perf_counter()
    load()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        files = _files(Path(folder))
        print(f"{'file':<22} {'size':>8} {'checked':>9} {'unchecked':>10} {'ratio':>6}")
        for name, (path, module, check) in files.items():
            original = getattr(module, check)
            load_image(path)  # warm the page cache and the imports
            with_check: list[float] = []
            without: list[float] = []
            for _ in range(args.repeats):
                with_check.append(_timed(lambda p=path: load_image(p)))
                setattr(module, check, lambda *_args: None)
                try:
                    without.append(_timed(lambda p=path: load_image(p)))
                finally:
                    setattr(module, check, original)
            checked, unchecked = statistics.median(with_check), statistics.median(without)
            print(
                f"{name:<22} {path.stat().st_size / 1e6:>6.1f}MB {checked:>8.3f}s "
                f"{unchecked:>9.3f}s {checked / unchecked:>6.2f}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
