"""Catalog objects inside a solved frame: the geometry of "what is in my picture"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.wcs import WCS

from astrocat_pipeline.core.designations import messier_designation, normalize_designation
from astrocat_pipeline.core.records import CatalogMatch, CatalogObject, FieldGeometry


class ObjectCatalog:
    """An in-memory object catalog with vectorized position lookups.

    Parameters
    ----------
    objects
        The catalog's objects; positions in ICRS degrees.
    """

    def __init__(self, objects: Sequence[CatalogObject]) -> None:
        self.objects = tuple(objects)
        ra = np.radians([o.ra_deg for o in self.objects])
        dec = np.radians([o.dec_deg for o in self.objects])
        # Unit vectors make angular distances exact everywhere, poles and RA 0h included.
        self._xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], 1)
        self._half_axis_deg = np.array(
            [(o.major_axis_arcmin or 0.0) / 120.0 for o in self.objects], dtype=float
        )
        self._by_key: dict[str, CatalogObject] = {}
        for obj in self.objects:
            for key in (obj.designation, *obj.aliases):
                self._by_key.setdefault(key.upper(), obj)
            if obj.messier is not None:
                self._by_key.setdefault(messier_designation(obj.messier).upper(), obj)
            if obj.name:
                for common in obj.name.split(","):
                    self._by_key.setdefault(common.strip().upper(), obj)

    def __len__(self) -> int:
        return len(self.objects)

    def resolve(self, name: str) -> CatalogObject | None:
        """The object a user means by ``name``: a designation in any spelling, a Messier
        number or a common name ("Andromeda Galaxy"); None if unknown."""
        key = normalize_designation(name)
        if key is not None and (obj := self._by_key.get(key.upper())):
            return obj
        return self._by_key.get(" ".join(name.split()).upper())

    def within(self, ra_deg: float, dec_deg: float, radius_deg: float) -> np.ndarray:
        """Indices of objects whose extent comes within ``radius_deg`` of a position."""
        ra, dec = np.radians(ra_deg), np.radians(dec_deg)
        centre = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
        separation_deg = np.degrees(np.arccos(np.clip(self._xyz @ centre, -1.0, 1.0)))
        return np.flatnonzero(separation_deg <= radius_deg + self._half_axis_deg)


def _relevance(match: CatalogMatch) -> tuple[int, int, float, str]:
    return (
        0 if match.messier is not None else 1,
        0 if match.name else 1,
        -(match.major_axis_arcmin or 0.0),
        match.designation,
    )


def match_field(
    catalog: ObjectCatalog, wcs: WCS, width_px: int, height_px: int, geometry: FieldGeometry
) -> list[CatalogMatch]:
    """Catalog objects whose extent overlaps the frame, most relevant first.

    An object counts when the circle of its major axis (a point when the size is unknown),
    projected through the frame's own WCS (SIP included), overlaps the pixel rectangle.
    Pixel positions are 0-based (x = column, y = row) of the array as stored.
    """
    candidates = catalog.within(geometry.ra_deg, geometry.dec_deg, geometry.radius_deg)
    if candidates.size == 0:
        return []
    ra = np.array([catalog.objects[i].ra_deg for i in candidates])
    dec = np.array([catalog.objects[i].dec_deg for i in candidates])
    x, y = wcs.all_world2pix(ra, dec, 0, quiet=True)
    half_axis_px = catalog._half_axis_deg[candidates] * 3600.0 / geometry.pixel_scale_arcsec
    # Distance from the object's centre to the frame rectangle (0 when inside).
    dx = np.maximum(np.maximum(-0.5 - x, x - (width_px - 0.5)), 0.0)
    dy = np.maximum(np.maximum(-0.5 - y, y - (height_px - 0.5)), 0.0)
    inside = np.isfinite(x) & np.isfinite(y) & (np.hypot(dx, dy) <= half_axis_px)
    matches = [
        CatalogMatch(
            catalog=obj.catalog,
            designation=obj.designation,
            name=obj.name,
            object_type=obj.object_type,
            ra_deg=obj.ra_deg,
            dec_deg=obj.dec_deg,
            x_px=float(px),
            y_px=float(py),
            major_axis_arcmin=obj.major_axis_arcmin,
            messier=obj.messier,
        )
        for obj, px, py in (
            (catalog.objects[i], x[k], y[k]) for k, i in enumerate(candidates) if inside[k]
        )
    ]
    return sorted(matches, key=_relevance)
