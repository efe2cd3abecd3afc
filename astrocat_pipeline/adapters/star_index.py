"""Stars of the astrometry.net index files around a sky position, through ``query-starkd``.

The index files hold the catalogue stars the solver matches against (for the Debian
``astrometry-data-tycho2-*`` packages: a uniform subset of Tycho-2 with its V_T magnitude).
Each index file keeps its own subset and the coarser ones repeat stars of the finer ones, so the
lists are merged and deduplicated by position.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from astrocat_pipeline.core.errors import CatalogDataError

# Index files as astrometry.net names them: "index-4110.fits", "index-4110-07.fits" (healpix
# tiles) or, in the Debian packages, "index-tycho2-10.littleendian.fits".
INDEX_GLOB = "index-*.fits"
# Two entries closer than this are the same catalogue star (the index files copy positions
# from one catalogue, so duplicates agree to the last digit; 1" leaves room for rounding).
DUPLICATE_TOLERANCE_ARCSEC = 1.0
# One query of one index file takes ~20 ms here; this only guards against a hung process.
QUERY_TIMEOUT_S = 30.0
# Magnitude columns in order of preference (Tycho-2 indexes tag along MAG_VT, MAG_BT, ...).
_MAG_COLUMNS = ("MAG_VT", "MAG_V", "MAG", "MAG_BT")


def list_index_stars(
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    index_dir: Path,
    *,
    query_starkd: str = "query-starkd",
    timeout_s: float = QUERY_TIMEOUT_S,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List the index stars within ``radius_deg`` of a position, each star once.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Centre of the search, ICRS degrees.
    radius_deg : float
        Search radius in degrees (> 0).
    index_dir : Path
        Folder holding the astrometry.net index files (``index-*.fits``).
    query_starkd : str
        Name or path of the ``query-starkd`` executable.
    timeout_s : float
        Wall-clock limit for each ``query-starkd`` run.

    Returns
    -------
    ra_deg, dec_deg, mag : numpy.ndarray
        float64 arrays of shape (n,), sorted by magnitude (brightest first). ``ra_deg`` is in
        [0, 360). ``mag`` is the index's tag-along magnitude (V_T for Tycho-2).

    Raises
    ------
    CatalogDataError
        If ``query-starkd`` or the index files are missing, or a query fails.
    """
    if not radius_deg > 0:
        raise ValueError(f"radius_deg must be > 0, got {radius_deg!r}")
    if not -90.0 <= dec_deg <= 90.0:
        raise ValueError(f"dec_deg must be within [-90, 90], got {dec_deg!r}")
    executable = shutil.which(query_starkd)
    if executable is None:
        raise CatalogDataError(
            f"{query_starkd!r} was not found on PATH: it comes with astrometry.net "
            "(Debian package 'astrometry.net')"
        )
    index_dir = Path(index_dir)
    index_files = sorted(index_dir.glob(INDEX_GLOB))
    if not index_files:
        raise CatalogDataError(
            f"no astrometry.net index files ({INDEX_GLOB}) in {index_dir}: install e.g. "
            "'astrometry-data-tycho2-10-19-littleendian' or point index_dir at your index folder"
        )

    ras: list[np.ndarray] = []
    decs: list[np.ndarray] = []
    mags: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="astrocat-starkd-") as tmp:
        for number, index_file in enumerate(index_files):
            out = Path(tmp) / f"stars-{number}.fits"
            ra, dec, mag = _query_one(
                executable, index_file, ra_deg % 360.0, dec_deg, radius_deg, out, timeout_s
            )
            ras.append(ra)
            decs.append(dec)
            mags.append(mag)
    return _deduplicate(np.concatenate(ras), np.concatenate(decs), np.concatenate(mags))


def _query_one(
    executable: str,
    index_file: Path,
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    out: Path,
    timeout_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    args = [
        executable,
        "-r",
        repr(float(ra_deg)),
        "-d",
        repr(float(dec_deg)),
        "-R",
        repr(float(radius_deg)),
        "-T",
        "-o",
        str(out),
        str(index_file),
    ]
    # Own session, so a timeout stops the whole process group, not only the direct child.
    with subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise CatalogDataError(
                f"query-starkd did not finish within {timeout_s} s on {index_file}"
            ) from exc
    if proc.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise CatalogDataError(
            f"query-starkd failed on {index_file} (exit {proc.returncode}): " + " | ".join(tail)
        )
    empty = np.zeros(0, dtype=np.float64)
    if not out.exists():
        # query-starkd writes no file at all when no star is within the radius.
        return empty, empty, empty
    with fits.open(out) as hdul:
        if len(hdul) < 2 or hdul[1].data is None:
            return empty, empty, empty
        table = hdul[1].data
        names = [name.upper() for name in table.columns.names]
        mag_column = next((name for name in _MAG_COLUMNS if name in names), None)
        if "RA" not in names or "DEC" not in names or mag_column is None:
            raise CatalogDataError(
                f"query-starkd output for {index_file} has columns {names}; expected RA, DEC "
                f"and one of {list(_MAG_COLUMNS)}"
            )
        ra = np.asarray(table["RA"], dtype=np.float64) % 360.0
        dec = np.asarray(table["DEC"], dtype=np.float64)
        mag = np.asarray(table[mag_column], dtype=np.float64)
    return ra, dec, mag


def _deduplicate(
    ra_deg: np.ndarray, dec_deg: np.ndarray, mag: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep one entry per star, brightest first (ties broken by position, so stable)."""
    order = np.lexsort((dec_deg, ra_deg, np.nan_to_num(mag, nan=np.inf)))
    ra_deg, dec_deg, mag = ra_deg[order], dec_deg[order], mag[order]
    ra_rad = np.radians(ra_deg)
    dec_rad = np.radians(dec_deg)
    xyz = np.column_stack(
        (np.cos(dec_rad) * np.cos(ra_rad), np.cos(dec_rad) * np.sin(ra_rad), np.sin(dec_rad))
    )
    tolerance_deg = DUPLICATE_TOLERANCE_ARCSEC / 3600.0
    # Chord length equivalent to the tolerance angle, for a cheap squared-distance test.
    chord2 = (2.0 * math.sin(math.radians(tolerance_deg) / 2.0)) ** 2
    # Candidates for a duplicate differ in Dec by less than the tolerance: sweep in Dec order.
    by_dec = np.argsort(dec_deg, kind="stable")
    sorted_dec = dec_deg[by_dec]
    keep = np.ones(len(ra_deg), dtype=bool)
    for i in range(len(ra_deg)):
        if not keep[i]:
            continue
        lo = np.searchsorted(sorted_dec, dec_deg[i] - tolerance_deg, side="left")
        hi = np.searchsorted(sorted_dec, dec_deg[i] + tolerance_deg, side="right")
        near = by_dec[lo:hi]
        near = near[near > i]  # only fainter (later) entries can be dropped as duplicates
        if near.size:
            d2 = np.sum((xyz[near] - xyz[i]) ** 2, axis=1)
            keep[near[d2 <= chord2]] = False
    return ra_deg[keep], dec_deg[keep], mag[keep]
