"""Catalog objects inside a solved frame: the geometry of "what is in my picture".

Pure functions: no Dagster, no environment, no database. The catalogs themselves come from the
adapters (``adapters.openngc``, ``adapters.bright_stars``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from astrocat_pipeline.core.object_names import ObjectNames
from astrocat_pipeline.core.records import CatalogMatch, CatalogObject, FieldGeometry
from astrocat_pipeline.core.tuning import (
    MATCH_ALL_OBJECTS_MAX_FIELD_DEG,
    MATCH_ELLIPSE_SAMPLES,
    MATCH_MIN_SIZE_ARCMIN_PER_FIELD_DEG,
)

if TYPE_CHECKING:
    from astropy.wcs import WCS

# astropy's coordinates and WCS, shapely and wcs_geometry are imported where a frame is matched:
# resolving a name (``astrocat search --object``) needs none of them, and they cost ~0.5 s of
# start-up.

__all__ = ["STAR_TYPE", "ObjectCatalog", "match_field", "minimum_object_size_arcmin"]

# OpenNGC's type code for a star; the named-star catalog uses it too.
STAR_TYPE = "*"
# Sample points farther than this many field radii from the field centre are projected without
# the WCS's distortion polynomials: SIP is fitted inside the frame and diverges far outside it,
# where only the rough direction of an ellipse's boundary matters.
_DISTORTION_REACH_RADII = 1.5


class ObjectCatalog:
    """An in-memory object catalog with vectorized position lookups.

    Parameters
    ----------
    objects
        The catalog's objects; positions in ICRS degrees. Where two objects claim the same
        designation or name, the first one keeps it.
    """

    def __init__(self, objects: Sequence[CatalogObject]) -> None:
        self.objects = tuple(objects)
        ra = np.radians([o.ra_deg for o in self.objects])
        dec = np.radians([o.dec_deg for o in self.objects])
        # Unit vectors make angular distances exact everywhere, poles and RA 0h included.
        self._xyz = np.stack(
            [np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], 1
        ).reshape(-1, 3)
        self._half_axis_deg = np.array(
            [(o.major_axis_arcmin or 0.0) / 120.0 for o in self.objects], dtype=float
        )
        self._names = ObjectNames(self.objects)

    @classmethod
    def merge(cls, catalogs: Iterable[ObjectCatalog]) -> ObjectCatalog:
        """One catalog of the objects of several (earlier catalogs win name clashes)."""
        return cls([obj for catalog in catalogs for obj in catalog.objects])

    def __len__(self) -> int:
        return len(self.objects)

    def resolve(self, name: str) -> CatalogObject | None:
        """The object a user means by ``name`` (see :meth:`ObjectNames.resolve`)."""
        return self._names.resolve(name)

    def within(self, ra_deg: float, dec_deg: float, radius_deg: float) -> np.ndarray:
        """Indices of objects whose extent comes within ``radius_deg`` of a position."""
        ra, dec = np.radians(ra_deg), np.radians(dec_deg)
        centre = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
        separation_deg = np.degrees(np.arccos(np.clip(self._xyz @ centre, -1.0, 1.0)))
        return np.flatnonzero(separation_deg <= radius_deg + self._half_axis_deg)


def minimum_object_size_arcmin(field_deg: float) -> float | None:
    """The smallest major axis an unnamed deep-sky object needs to be listed for a field.

    None (every object counts) for fields up to ``MATCH_ALL_OBJECTS_MAX_FIELD_DEG`` across;
    wider fields list Messier objects, named objects, named stars, and objects of at least
    ``MATCH_MIN_SIZE_ARCMIN_PER_FIELD_DEG`` arcminutes per degree of field (core.tuning).
    """
    if field_deg <= MATCH_ALL_OBJECTS_MAX_FIELD_DEG:
        return None
    return field_deg * MATCH_MIN_SIZE_ARCMIN_PER_FIELD_DEG


def _listed(obj: CatalogObject, min_size_arcmin: float | None) -> bool:
    if min_size_arcmin is None or obj.messier is not None or obj.name:
        return True
    return obj.major_axis_arcmin is not None and obj.major_axis_arcmin >= min_size_arcmin


def _relevance(match: CatalogMatch) -> tuple[int, int, float, float, str]:
    """Messier objects first, then named ones; within each, larger, then brighter, first."""
    return (
        0 if match.messier is not None else 1,
        0 if match.name else 1,
        -(match.major_axis_arcmin or 0.0),
        match.magnitude if match.magnitude is not None else math.inf,
        match.designation,
    )


def _world_to_pixel(
    wcs: WCS, ra_deg: np.ndarray, dec_deg: np.ndarray, with_distortion: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel positions of ICRS positions, through the full WCS (SIP included) where
    ``with_distortion`` is set and through its projection alone elsewhere."""
    from astropy import units as u
    from astropy.coordinates import FK5, ICRS, SkyCoord
    from astropy.wcs.utils import wcs_to_celestial_frame

    frame = wcs_to_celestial_frame(wcs)
    is_j2000_fk5 = isinstance(frame, FK5) and math.isclose(frame.equinox.jyear, 2000.0)
    lon, lat = ra_deg, dec_deg
    if not isinstance(frame, ICRS) and not is_j2000_fk5 and ra_deg.size:
        # A header WCS in galactic (or other) coordinates: look at the sky in its own frame.
        native = SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs").transform_to(frame)
        lon = np.asarray(native.spherical.lon.deg, dtype=float)
        lat = np.asarray(native.spherical.lat.deg, dtype=float)
    world = [lon, lat] if wcs.wcs.lng == 0 else [lat, lon]
    x = np.full(ra_deg.shape, np.nan)
    y = np.full(ra_deg.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if np.any(with_distortion):
            near = [w[with_distortion] for w in world]
            x[with_distortion], y[with_distortion] = wcs.all_world2pix(*near, 0, quiet=True)
        if np.any(~with_distortion):
            far = [w[~with_distortion] for w in world]
            x[~with_distortion], y[~with_distortion] = wcs.wcs_world2pix(*far, 0)
    return x, y


def _ellipses(objects: Sequence[CatalogObject]) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions of points on the boundary of each object's ellipse, shape (n, samples)."""
    t = np.linspace(0.0, 2.0 * np.pi, MATCH_ELLIPSE_SAMPLES, endpoint=False)
    major = np.array([(o.major_axis_arcmin or 0.0) / 120.0 for o in objects])[:, None]
    # Without a position angle the orientation is unknown: the circle of the major axis covers
    # every orientation.
    minor = (
        np.array(
            [
                (o.minor_axis_arcmin if o.position_angle_deg is not None else None)
                or o.major_axis_arcmin
                or 0.0
                for o in objects
            ]
        )[:, None]
        / 120.0
    )
    pa = np.radians([o.position_angle_deg or 0.0 for o in objects])[:, None]
    # Offsets east and north of the centre: the major axis points to position angle pa.
    east = major * np.cos(t) * np.sin(pa) + minor * np.sin(t) * np.cos(pa)
    north = major * np.cos(t) * np.cos(pa) - minor * np.sin(t) * np.sin(pa)
    ra0 = np.array([o.ra_deg for o in objects])[:, None]
    dec0 = np.array([o.dec_deg for o in objects])[:, None]
    from astrocat_pipeline.core.wcs_geometry import offset_by

    return offset_by(ra0, dec0, np.hypot(east, north), np.degrees(np.arctan2(east, north)))


def match_field(
    catalog: ObjectCatalog, wcs: WCS, width_px: int, height_px: int, geometry: FieldGeometry
) -> list[CatalogMatch]:
    """Catalog objects whose extent overlaps the frame, most relevant first.

    An object counts when its extent overlaps the pixel rectangle of the frame: the ellipse of
    its major and minor axes at its position angle (a circle when only the major axis is known,
    a point for stars and objects without a size), sampled on the sky and projected through the
    frame's own WCS (SIP included), so that fields across RA 0h, around a pole or strongly
    distorted come out right. Which objects are eligible depends on the field's size (see
    :func:`minimum_object_size_arcmin`); nothing else limits the count.

    Pixel positions are 0-based (x = column, y = row) of the array as stored; an object that
    straddles the edge has its centre outside ``[-0.5, width_px - 0.5]``.

    Ordered by relevance: Messier objects, then named objects and stars, then the rest; larger
    objects, then brighter ones, first within each group.
    """
    wcs = wcs.celestial
    min_size = minimum_object_size_arcmin(max(geometry.width_deg, geometry.height_deg))
    candidates = [
        i
        for i in catalog.within(geometry.ra_deg, geometry.dec_deg, geometry.radius_deg)
        if _listed(catalog.objects[i], min_size)
    ]
    if not candidates:
        return []
    objects = [catalog.objects[i] for i in candidates]
    reach_cos = math.cos(math.radians(min(_DISTORTION_REACH_RADII * geometry.radius_deg, 90.0)))
    field_centre = np.array(_unit(geometry.ra_deg, geometry.dec_deg))

    ra = np.array([o.ra_deg for o in objects])
    dec = np.array([o.dec_deg for o in objects])
    near = np.stack(_unit(ra, dec), -1) @ field_centre >= reach_cos
    x, y = _world_to_pixel(wcs, ra, dec, near)
    left, bottom, right, top = -0.5, -0.5, width_px - 0.5, height_px - 0.5
    inside = (x >= left) & (x <= right) & (y >= bottom) & (y <= top)

    extended = np.array([bool(o.major_axis_arcmin) for o in objects])
    # Centre outside the frame: the ellipse may still reach in. Skip those clearly too far for
    # that (more than 1.5 x the semi-major axis in pixels beyond the edge, or behind the sky).
    semi_major_px = np.array([(o.major_axis_arcmin or 0.0) * 30.0 for o in objects])
    semi_major_px /= geometry.pixel_scale_arcsec
    gap = np.hypot(
        np.maximum(np.maximum(left - x, x - right), 0.0),
        np.maximum(np.maximum(bottom - y, y - top), 0.0),
    )
    maybe = extended & ~inside & ~(gap > 1.5 * semi_major_px + 2.0)
    overlaps = inside.copy()
    if np.any(maybe):
        overlaps[maybe] = _ellipses_overlap(
            wcs,
            [o for o, m in zip(objects, maybe, strict=True) if m],
            field_centre,
            reach_cos,
            (left, bottom, right, top),
        )
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
            minor_axis_arcmin=obj.minor_axis_arcmin,
            position_angle_deg=obj.position_angle_deg,
            magnitude=obj.magnitude,
        )
        for obj, px, py, ok in zip(objects, x, y, overlaps, strict=True)
        # A centre with no pixel position (behind the projection) cannot be stored; such an
        # object would be over 90° across.
        if ok and math.isfinite(px) and math.isfinite(py)
    ]
    return sorted(matches, key=_relevance)


def _unit(ra_deg: np.ndarray | float, dec_deg: np.ndarray | float) -> tuple[np.ndarray, ...]:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)


def _ellipses_overlap(
    wcs: WCS,
    objects: Sequence[CatalogObject],
    field_centre: np.ndarray,
    reach_cos: float,
    rect: tuple[float, float, float, float],
) -> np.ndarray:
    """Whether each object's projected ellipse (the convex hull of its boundary points in
    pixels, so that a ring bent by the projection far from the frame stays a valid polygon)
    overlaps the frame rectangle."""
    import shapely

    ra, dec = _ellipses(objects)
    near = np.stack(_unit(ra, dec), -1) @ field_centre >= reach_cos
    x, y = _world_to_pixel(wcs, ra.ravel(), dec.ravel(), near.ravel())
    points = np.stack([x.reshape(ra.shape), y.reshape(ra.shape)], -1)
    frame = shapely.box(*rect)
    result = np.zeros(len(objects), dtype=bool)
    for i, ring in enumerate(points):
        ring = ring[np.all(np.isfinite(ring), axis=1)]
        if len(ring):
            result[i] = shapely.intersects(shapely.MultiPoint(ring).convex_hull, frame)
    return result
