"""Metadata extraction speed: files per second over 1,000 FITS files, and the time to inspect a
50 MB FITS against a 50 kB one (metadata reads headers only, so both should take the same).

Run from the project root: ``.venv/bin/python -m bench.metadata_bench``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata

FILES = 1000
GOAL_FILES_PER_S = 200.0
REPEATS = 15

# A N.I.N.A.-like header: the keywords a real light frame carries.
HEADER = {
    "IMAGETYP": "LIGHT",
    "EXPOSURE": 300.0,
    "EXPTIME": 300.0,
    "DATE-LOC": "2024-10-05T23:14:03",
    "DATE-OBS": "2024-10-05T21:14:03.512",
    "XBINNING": 1,
    "YBINNING": 1,
    "GAIN": 100,
    "OFFSET": 50,
    "EGAIN": 0.78,
    "XPIXSZ": 3.76,
    "YPIXSZ": 3.76,
    "INSTRUME": "ZWO ASI2600MM Pro",
    "SET-TEMP": -10.0,
    "CCD-TEMP": -10.1,
    "TELESCOP": "Esprit 100",
    "FOCALLEN": 550.0,
    "FOCRATIO": 5.5,
    "RA": 10.6847,
    "DEC": 41.269,
    "CENTALT": 65.2,
    "CENTAZ": 80.1,
    "AIRMASS": 1.1,
    "PIERSIDE": "West",
    "SITEELEV": 120.0,
    "SITELAT": 48.1,
    "SITELONG": 11.6,
    "OBJECT": "M 31",
    "OBJCTRA": "00 42 44",
    "OBJCTDEC": "+41 16 08",
    "OBJCTROT": 12.5,
    "FWHEEL": "ZWO EFW",
    "FILTER": "L",
    "FOCNAME": "ZWO EAF",
    "FOCPOS": 12345,
    "FOCUSPOS": 12345,
    "FOCUSSZ": 1.0,
    "FOCTEMP": 8.5,
    "FOCUSTEM": 8.5,
    "ROWORDER": "TOP-DOWN",
    "EQUINOX": 2000.0,
    "SWCREATE": "N.I.N.A. 3.1.2.9001",
}


def _write(path: Path, shape: tuple[int, int]) -> None:
    hdu = fits.PrimaryHDU(np.zeros(shape, np.uint16))
    for key, value in HEADER.items():
        hdu.header[key] = value
    hdu.writeto(path)


def _inspect(path: Path) -> None:
    normalize_metadata(str(path), read_header(path))


def _median_time(path: Path) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        _inspect(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="astrocat-bench-") as tmp:
        root = Path(tmp)
        paths = [root / f"M31_L_300s_{i:04d}.fits" for i in range(FILES)]
        for path in paths:
            _write(path, (16, 16))
        _inspect(paths[0])  # warm imports
        started = time.perf_counter()
        for path in paths:
            _inspect(path)
        elapsed = time.perf_counter() - started
        rate = FILES / elapsed

        small, big = root / "small.fits", root / "big.fits"
        _write(small, (150, 160))  # ~50 kB
        _write(big, (5000, 5000))  # ~50 MB
        small_s, big_s = _median_time(small), _median_time(big)
        small_kb, big_mb = small.stat().st_size / 1e3, big.stat().st_size / 1e6

    print("metadata extraction (read_header + normalize_metadata)")
    print(
        f"  {FILES} FITS files          {elapsed:8.2f} s   {rate:8.0f} files/s"
        f"   goal >= {GOAL_FILES_PER_S:.0f}: {'met' if rate >= GOAL_FILES_PER_S else 'MISSED'}"
    )
    print(f"  inspect {small_kb:6.0f} kB FITS   {small_s * 1e3:8.2f} ms (median of {REPEATS})")
    print(f"  inspect {big_mb:6.1f} MB FITS   {big_s * 1e3:8.2f} ms (median of {REPEATS})")
    print(f"  ratio 50 MB / 50 kB     {big_s / small_s:8.2f}")
    return 0 if rate >= GOAL_FILES_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
