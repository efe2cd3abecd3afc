"""Metadata extraction speed: files per second over 1,000 FITS files, and the time to inspect a
50 MB FITS against a 50 kB one (metadata reads headers only, so both should take the same).

Then the fast header parser against astropy, side by side in one run, in files per second over
1,000 headers without and 1,000 with the cards real software writes beyond the plain ones
(CONTINUE long strings, HIERARCH keywords, quotes in strings, COMMENT/HISTORY/blank cards,
booleans, complex values, numbers with odd spacing and D exponents, repeated keywords, a
non-ASCII byte), with the number of files whose keywords differ from astropy's and of files
the fast parser left to astropy. Goal: fast >= 200 files/s on both, 0 disagreements.

Run from the project root: ``.venv/bin/python -m bench.metadata_bench``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.readers.base import HeaderTextWarning
from astrocat_pipeline.core.readers.fits_reader import _fast_primary, header_keywords, quiet_astropy

FILES = 1000
GOAL_FILES_PER_S = 200.0
REPEATS = 15
ROUNDS = 3  # the parser comparison keeps the median of this many passes over the files

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


# The same frame as N.I.N.A. and other writers also write it: a long OBJECT over CONTINUE
# cards, HIERARCH keywords, quotes, commentary and blank cards, odd spacing, D exponents, a
# complex value, an undefined value, a repeated keyword and one non-ASCII byte.
FEATURE_CARDS = [
    "OBJECT  = 'NGC 7000 North America Nebula and IC 5070 Pelican Nebula mosaic &'",
    "CONTINUE  'panel 3 of 4 OIII&'",
    "CONTINUE  '' / target as typed in the sequencer",
    "HIERARCH NINA FOCUSER TEMPERATURE = 8.5 / [degC]",
    "HIERARCH ESO DET DIT = 2.5D0",
    "HIERARCH Camera Sensor Name = 'IMX571'",
    "OBSERVER= 'O''Brien''s ''scope' / quotes doubled",
    "COMMENT   Calibrated with master dark 'MD_300s' / not a value",
    "HISTORY   Registered by PixInsight",
    "        = 'blank keyword card'",
    "",
    "FLIPPED =                    F",
    "DOSTACK = T",
    "FOCUSPOS=   +    012345 / odd spacing",
    "EGAIN   =         7.800000D-01",
    "PEDESTAL=   -1.5d 2",
    "CPLXTEST= (1.0, -2.5D1)",
    "UNDEF   =                      / no value",
    "FILTER  = 'OIII'",
    "FILTER  = 'Ha' / a second FILTER card: the first wins",
    "SITENAME= 'M\xfcnchen'",
]


def _card(text: str) -> str:
    if len(text) > 80:
        raise ValueError(f"a card holds 80 characters: {text!r}")
    return text.ljust(80)


def _write_cards(path: Path, cards: list[str]) -> None:
    """A 16x16 uint16 FITS file written card by card, as software that writes its own
    headers does."""
    text = "".join(_card(card) for card in cards) + _card("END")
    text += " " * (-len(text) % 2880)
    data = np.zeros((16, 16), ">i2").tobytes()
    path.write_bytes(text.encode("latin-1") + data + b"\0" * (-len(data) % 2880))


def _plain_cards() -> list[str]:
    header = fits.PrimaryHDU(np.zeros((16, 16), np.uint16)).header
    for key, value in HEADER.items():
        header[key] = value
    return [card.image for card in header.cards]


def _feature_cards() -> list[str]:
    plain = [card for card in _plain_cards() if not card.startswith(("OBJECT", "FILTER"))]
    return plain + FEATURE_CARDS


def _fast_keywords(path: Path) -> dict[str, Any] | None:
    parsed = _fast_primary(path)
    return None if parsed is None else parsed[0]


def _astropy_keywords(path: Path) -> dict[str, Any]:
    with quiet_astropy():
        return header_keywords(fits.getheader(path))


def _rate(paths: list[Path], read: Callable[[Path], Any]) -> float:
    """Files per second of ``read`` over the files: the median of ROUNDS passes."""
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for path in paths:
            read(path)
        rates.append(len(paths) / (time.perf_counter() - started))
    return statistics.median(rates)


def _compare(root: Path, name: str, cards: list[str]) -> tuple[float, float, int, int]:
    """Fast and astropy files/s over FILES copies of one header, the files whose keywords
    differ, and the files the fast parser left to astropy."""
    paths = [root / f"{name}_{i:04d}.fits" for i in range(FILES)]
    for path in paths:
        _write_cards(path, cards)
    disagreements = declined = 0
    for path in paths:
        fast = _fast_keywords(path)
        declined += fast is None
        disagreements += read_header(path).keywords != _astropy_keywords(path)
    return _rate(paths, _fast_keywords), _rate(paths, _astropy_keywords), disagreements, declined


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

        with warnings.catch_warnings():
            # The feature header's non-ASCII byte warns on every read; it is there on purpose.
            warnings.simplefilter("ignore", HeaderTextWarning)
            compared = {
                "plain header": _compare(root, "plain", _plain_cards()),
                "with features": _compare(root, "features", _feature_cards()),
            }

    print("metadata extraction (read_header + normalize_metadata)")
    print(
        f"  {FILES} FITS files          {elapsed:8.2f} s   {rate:8.0f} files/s"
        f"   goal >= {GOAL_FILES_PER_S:.0f}: {'met' if rate >= GOAL_FILES_PER_S else 'MISSED'}"
    )
    print(f"  inspect {small_kb:6.0f} kB FITS   {small_s * 1e3:8.2f} ms (median of {REPEATS})")
    print(f"  inspect {big_mb:6.1f} MB FITS   {big_s * 1e3:8.2f} ms (median of {REPEATS})")
    print(f"  ratio 50 MB / 50 kB     {big_s / small_s:8.2f}")
    print(
        f"header keywords: fast parser vs astropy (getheader + header_keywords), {FILES} files"
        f" each, median of {ROUNDS} passes"
    )
    print("                   fast files/s   astropy files/s   disagreements   left to astropy")
    met = rate >= GOAL_FILES_PER_S
    for name, (fast, slow, disagreements, declined) in compared.items():
        print(f"  {name:15} {fast:14.0f} {slow:17.0f} {disagreements:15d} {declined:17d}")
        met = met and fast >= GOAL_FILES_PER_S and disagreements == 0
    verdict = "met" if met else "MISSED"
    print(f"  goal fast >= {GOAL_FILES_PER_S:.0f} files/s, 0 disagreements: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
