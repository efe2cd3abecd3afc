"""Where frames lie on the sky (a HEALPix index of their centres), and the exact
footprint-cone overlap test.

A solved frame's footprint is the spherical quadrilateral of its four corners, joined by
great-circle arcs (exact for a TAN projection, within a few pixels of the SIP-distorted edges).

The sky index keeps one record per footprint (:func:`footprint_records`): the HEALPix cell
(NESTED) that holds its centre, at an order chosen from its size (its *size class*), written as
one NUNIQ number (``4 * 4**order + cell``, the IVOA MOC convention), so that every class has its
own key range in one integer column; plus the centre, the bounding radius (centre to farthest
corner) and the geometry the exact test needs, packed in one row (:data:`GEOMETRY_DOUBLES`).

A cone search (:func:`cone_key_ranges`) asks each size class present for the cells within
``radius + the class's largest bounding radius`` of the cone's centre, as NUNIQ ranges; the
database drops the rows whose bounding circle misses the cone (:func:`prefilter_terms`), and
:func:`geometry_overlaps_cone` keeps those whose quadrilateral really overlaps it.

Why this finds every overlapping footprint: if a footprint F of size class ``o`` (bounding
radius ``R <= class_max_radius_deg(o)``) shares a point with a cone of radius ``r``, F's centre
lies within ``r + R`` of the cone's centre; the cell of F's centre therefore touches the cone
enlarged to ``r + class_max_radius_deg(o)``, and :func:`cone_cell_ranges` returns every cell
that touches a cone (at a coarser order, whose NESTED descendants are one contiguous range).

Everything is computed with unit vectors, so RA 0h/24h and the poles need no special case.
Pure numpy (plus the HEALPix cell centres of ``astropy-healpix``): no database, no Dagster.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# astropy-healpix (and astropy.units with it) is imported where cells are computed: opening the
# catalog for a search by name or header fields needs neither (~0.3 s of start-up).

__all__ = [
    "GEOMETRY_DOUBLES",
    "MAX_ORDER",
    "FootprintRecords",
    "class_max_radius_deg",
    "cone_cell_ranges",
    "cone_cells",
    "cone_key_ranges",
    "distance_to_quads",
    "footprint_records",
    "geometry_overlaps_cone",
    "max_cell_radius_deg",
    "order_key_range",
    "prefilter_terms",
    "quad_centres",
    "quads_overlap_cone",
    "size_class_orders",
    "unit_vectors",
]

# NUNIQ numbers of orders up to 13 (16 * 4**13 = 2**30) fit a plain 32-bit INTEGER column.
MAX_ORDER = 13
# Float64 values of one footprint's packed geometry: the unit vectors of its four corners, in
# order around it (little-endian, as numpy's "<f8"). The centre, the edges' great circles and
# their lengths are derived from them when a search tests the candidates: storing them too (31
# values) made each row 2.6 times larger, which cost more in reading and transferring the ~1,300
# candidates of a 2° cone than deriving them (bench/cone_search_bench.py).
GEOMETRY_DOUBLES = 12
# The prefilter compares a dot product with a cosine computed in SQL: this slack keeps rounding
# (about 1e-16) from dropping a footprint whose bounding circle just touches the cone.
_PREFILTER_SLACK = 1e-12


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products along the last axis (broadcast): ``np.sum(a * b, axis=-1)`` in one pass,
    several times faster on the short (3-long) axes of the hot loops."""
    return np.einsum("...k,...k->...", a, b)


def unit_vectors(ra_deg: np.ndarray | float, dec_deg: np.ndarray | float) -> np.ndarray:
    """Unit vectors of ICRS positions.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Positions in degrees, broadcastable to a common shape ``S``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``S + (3,)``.
    """
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cos_dec = np.cos(dec)
    return np.stack(
        np.broadcast_arrays(cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)), -1
    )


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between unit vectors (accurate for tiny and for near-180° angles)."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def quad_centres(quads: np.ndarray) -> np.ndarray:
    """Unit vectors of the centres (normalized corner sums) of quadrilaterals ``(..., 4, 3)``."""
    total = quads.sum(axis=-2)
    return total / np.sqrt(_dot(total, total))[..., None]


def distance_to_quads(quads: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Angular distance from points to convex spherical quadrilaterals (0 inside).

    Parameters
    ----------
    quads : numpy.ndarray
        Corner unit vectors in order around the quadrilateral (either direction), shape
        ``(..., 4, 3)``. Each quadrilateral must be convex and smaller than a hemisphere, as
        every camera frame is; its edges are the great-circle arcs between consecutive corners.
    points : numpy.ndarray
        Unit vectors, shape ``(..., 3)``, broadcastable against ``quads[..., 0, :]``.

    Returns
    -------
    numpy.ndarray
        Distances in radians, shape of the broadcast leading dimensions.
    """
    a = quads
    b = np.roll(quads, -1, axis=-2)
    p = np.asarray(points, dtype=float)[..., None, :]  # against each of the 4 edges
    normals = np.cross(a, b)
    # Orientation from the quadrilateral's own centre, so that both corner orders work and the
    # antipodal region (where every edge test flips sign together) is not taken for the inside.
    orientation = np.sign(np.sum(normals * quad_centres(quads)[..., None, :], axis=-1))
    side = np.sum(normals * p, axis=-1) * orientation
    inside = np.all(side >= 0.0, axis=-1)

    pa = np.sum(p * a, axis=-1)
    pb = np.sum(p * b, axis=-1)
    ab = np.sum(a * b, axis=-1)
    norm = np.linalg.norm(normals, axis=-1)
    # The point's projection onto the edge's great circle falls between its ends exactly when
    # (A x p).(A x B) >= 0 and (p x B).(A x B) >= 0, i.e. the two conditions below.
    between = (pb >= ab * pa) & (pa >= ab * pb) & (norm > 1e-15)
    with np.errstate(invalid="ignore", divide="ignore"):
        sin_line = np.abs(np.sum(normals * p, axis=-1)) / norm
    to_line = np.arcsin(np.clip(np.where(between, sin_line, 0.0), 0.0, 1.0))
    to_ends = np.minimum(_angle(p, a), _angle(p, b))
    to_edges = np.where(between, to_line, to_ends).min(axis=-1)
    return np.where(inside, 0.0, to_edges)


# Each corner's successor around the quadrilateral (the other end of the edge it starts).
_NEXT_CORNER = [1, 2, 3, 0]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products along the last (3-long) axis: ``np.cross`` without its axis handling,
    which costs more than the arithmetic on the small arrays of a search."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def _overlaps_cone(
    quads: np.ndarray, centre: np.ndarray, radius_rad: float
) -> tuple[np.ndarray, np.ndarray]:
    """Whether convex quadrilaterals ``(n, 4, 3)`` come within ``radius_rad`` of the unit
    vector ``centre`` (inside included), and the cosine of the angle from ``centre`` to each
    one's centre.

    The geometry of :func:`distance_to_quads` as comparisons only (no trigonometry per
    footprint); a test checks that the two agree. Footprints whose centre or a corner lies in
    the cone overlap it (the centre of a convex footprint is inside it): most of the hits of a
    cone larger than the frames, found without the edges. The others take the full test:
    the cone's centre is inside, or its distance to an edge's great circle is at most the
    radius where its projection falls between the edge's ends.
    """
    cos_r = float(_cos_limit(radius_rad))
    # Cosine of the angle to each corner, (n, 4), in one matrix product; the centre is the
    # normalized corner sum, so its cosine is theirs summed over the sum's length (written
    # out: numpy's sum over the middle axis and 3-D matmul cost twice as much here).
    to_corners = (np.ascontiguousarray(quads).reshape(-1, 3) @ centre).reshape(-1, 4)
    total = quads[:, 0] + quads[:, 1]
    total += quads[:, 2]
    total += quads[:, 3]
    closeness = to_corners.sum(axis=1) / np.sqrt(_dot(total, total))
    hit = (closeness >= cos_r) | (to_corners.max(axis=1, initial=-2.0) >= cos_r)
    rest = np.flatnonzero(~hit)
    if rest.size == 0:
        return hit, closeness
    a = quads[rest]
    b = a[:, _NEXT_CORNER]
    normals = _cross(a, b)
    norm = np.sqrt(_dot(normals, normals))
    has_length = norm > 1e-15
    # Orientation from the quadrilateral's own centre, so that both corner orders work and the
    # antipodal region (where every edge test flips sign together) is not taken for the inside.
    orientation = np.sign(_dot(normals, total[rest][:, None, :]))
    with np.errstate(invalid="ignore", divide="ignore"):
        side = np.where(has_length, (normals @ centre) * orientation / norm, 0.0)
    # side: the sine of the signed distance from the cone's centre to each edge's circle.
    inside = np.all(side >= 0.0, axis=1) & np.all(has_length, axis=1)
    pa = to_corners[rest]
    pb = pa[:, _NEXT_CORNER]
    cos_length = _dot(a, b)
    # The centre's projection onto the edge's great circle falls between its ends exactly when
    # (A x p).(A x B) >= 0 and (p x B).(A x B) >= 0, i.e. the two conditions below.
    between = (pb >= cos_length * pa) & (pa >= cos_length * pb) & has_length
    # Every great circle comes within 90° of any point.
    near = True if radius_rad >= math.pi / 2 else np.abs(side) <= math.sin(radius_rad)
    hit[rest] = inside | np.any(between & near, axis=1)
    return hit, closeness


def quads_overlap_cone(
    corners_deg: np.ndarray, ra_deg: float, dec_deg: float, radius_deg: float
) -> np.ndarray:
    """Whether frame footprints overlap a cone, exactly (on the sphere, not by centre distance).

    Parameters
    ----------
    corners_deg : numpy.ndarray
        ``(ra, dec)`` in degrees of each footprint's four corners in order around it, shape
        ``(4, 2)`` or ``(n, 4, 2)`` (as ``FieldGeometry.corners_deg``).
    ra_deg, dec_deg, radius_deg : float
        The cone, in degrees.

    Returns
    -------
    numpy.ndarray
        bool, shape ``()`` or ``(n,)``: the cone's centre is inside the footprint, or some edge
        (a great-circle arc, corners included) comes within ``radius_deg`` of it.
    """
    corners = np.asarray(corners_deg, dtype=float)
    quads = unit_vectors(corners[..., 0], corners[..., 1])
    hit, _ = _overlaps_cone(
        quads.reshape(-1, 4, 3), unit_vectors(ra_deg, dec_deg), math.radians(radius_deg)
    )
    return hit.reshape(corners.shape[:-2])


@functools.cache
def max_cell_radius_deg(order: int) -> float:
    """An upper bound on the angle from any HEALPix cell's centre to any point of the cell.

    HEALPix's ``max_pixrad`` (Gorski et al. 2005; the C++ library's formula: centre at
    z = 2/3, phi = pi / 4nside to the vertex at z = 1 - (1 - 1/nside)^2 / 3, phi = 0), with a 2%
    margin because cell edges are not great circles. A test checks it against sampled cell
    boundaries. Cached (a pure function of ``order``).
    """
    _check_order(order)
    nside = 2**order
    va = unit_vectors(math.degrees(math.pi / (4 * nside)), math.degrees(math.asin(2.0 / 3.0)))
    t1 = (1.0 - 1.0 / nside) ** 2
    vb = unit_vectors(0.0, math.degrees(math.asin(1.0 - t1 / 3.0)))
    return math.degrees(float(_angle(va, vb))) * 1.02


def _check_order(order: int) -> None:
    if not 0 <= order <= MAX_ORDER:
        raise ValueError(f"HEALPix order must be within [0, {MAX_ORDER}], got {order!r}")


@functools.cache
def _cell_centres(order: int) -> np.ndarray:
    """Unit vectors of the centres of every NESTED cell of ``order``, shape (12 * 4**order, 3).

    Cached: a pure function of ``order`` (12 * 4**order * 24 bytes: call it only up to
    ``_CACHED_CENTRES_MAX_ORDER``), never mutated (read-only array), so nothing ever needs
    resetting.
    """
    from astropy_healpix import healpix_to_xyz

    x, y, z = healpix_to_xyz(np.arange(12 * 4**order), 2**order, order="nested")
    centres = np.stack([x, y, z], axis=-1)
    centres.flags.writeable = False
    return centres


# Orders whose every cell centre is cached by _cell_centres (1.2 MB at order 6); the cone walk of
# finer orders computes the centres of the few cells it visits (order 13 has 805 million).
_CACHED_CENTRES_MAX_ORDER = 6


def _centres_of(cells: np.ndarray, order: int) -> np.ndarray:
    """Unit vectors of the centres of NESTED ``cells`` of ``order``, shape ``(len(cells), 3)``."""
    if order <= _CACHED_CENTRES_MAX_ORDER and cells.size > 0:
        return _cell_centres(order)[cells]
    from astropy_healpix import healpix_to_xyz

    x, y, z = healpix_to_xyz(cells, 2**order, order="nested")
    return np.stack([x, y, z], axis=-1)


def _cos_limit(angle_rad: np.ndarray | float) -> np.ndarray:
    return np.cos(np.minimum(angle_rad, math.pi))


def cone_cell_ranges(
    ra_deg: float, dec_deg: float, radius_deg: float, order: int
) -> list[tuple[int, int]]:
    """The cells of ``order`` that may touch a cone, as sorted, merged half-open ranges.

    Cells of coarser orders that lie wholly inside the cone come out as one range of their
    descendants (NESTED numbering keeps them contiguous), so even a cone of tens of degrees is
    a short list. Every cell that touches the cone is included (see the module notes).

    Returns
    -------
    list of (int, int)
        ``[(lo, hi), ...]``: cells ``lo <= cell < hi`` at ``order``.
    """
    _check_order(order)
    if not radius_deg >= 0:
        raise ValueError(f"radius_deg must be >= 0, got {radius_deg!r}")
    return _cone_walk(unit_vectors(ra_deg, dec_deg), [(radius_deg, order, order, 0)])


def _cone_walk(
    centre: np.ndarray, queries: Sequence[tuple[float, int, int, int]]
) -> list[tuple[int, int]]:
    """Cells touching concentric cones, as sorted, merged ranges of numbers.

    One walk down the NESTED hierarchy serves every query ``(radius_deg, walk_order, order,
    offset)``: the cells of ``walk_order`` that touch the cone of ``radius_deg`` (whole coarser
    cells as one range), written as ranges of their descendants at ``order`` (>= walk_order)
    plus ``offset``. Each level handles the (cell, query) pairs of every query in the same
    array operations, so that the cost is per level, not per level and query.
    """
    if not queries:
        return []
    radius = np.radians([q[0] for q in queries])
    walk_order = np.array([q[1] for q in queries], dtype=np.int64)
    order = np.array([q[2] for q in queries], dtype=np.int64)
    offset = np.array([q[3] for q in queries], dtype=np.int64)
    # The (cell, query) pairs still open: at first the 12 base cells of every query.
    query = np.repeat(np.arange(len(queries)), 12)
    cells = np.tile(np.arange(12, dtype=np.int64), len(queries))
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    level = 0
    while cells.size:
        rho = math.radians(max_cell_radius_deg(level))
        dots = _centres_of(cells, level) @ centre
        # A cell touches the cone when its centre is within radius + rho; it is taken whole
        # when it lies inside the cone (centre within radius - rho), at the query's walk
        # order, or for a cone of the whole sky. -2 and 2 stand for always and never.
        touch_cos = _cos_limit(radius + rho)
        last = (walk_order == level) | (radius >= math.pi)
        whole_cos = np.where(
            last, -2.0, np.where(radius > rho, np.cos(np.maximum(radius - rho, 0.0)), 2.0)
        )
        touching = dots >= touch_cos[query]
        whole = touching & (dots >= whole_cos[query])
        if whole.any():
            mine = query[whole]
            shift = 2 * (order[mine] - level)
            taken = cells[whole]
            los.append(offset[mine] + (taken << shift))
            his.append(offset[mine] + ((taken + 1) << shift))
        open_ = touching & ~whole
        query = np.repeat(query[open_], 4)
        cells = (cells[open_][:, None] * 4 + np.arange(4)).ravel()
        level += 1
    if not los:
        return []
    return _merge(np.concatenate(los), np.concatenate(his))


def _merge(lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges, sorted and merged where they overlap or touch."""
    if lo.size == 0:
        return []
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    starts = np.ones(lo.size, dtype=bool)
    starts[1:] = lo[1:] > reach[:-1]
    first = np.flatnonzero(starts)
    ends = np.maximum.reduceat(hi, first)
    return list(zip(lo[first].tolist(), ends.tolist(), strict=True))


def cone_cells(ra_deg: float, dec_deg: float, radius_deg: float, order: int) -> np.ndarray:
    """The cells of :func:`cone_cell_ranges`, one by one (sorted int64 array)."""
    ranges = cone_cell_ranges(ra_deg, dec_deg, radius_deg, order)
    if not ranges:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges])


# --- the one-row-per-footprint index --------------------------------------------------------


def order_key_range(order: int) -> tuple[int, int]:
    """The half-open range of NUNIQ numbers (``4 * 4**order + cell``) of the cells of ``order``."""
    _check_order(order)
    return 4 * 4**order, 16 * 4**order


def class_max_radius_deg(order: int, class_radius_deg: float) -> float:
    """The largest bounding radius of the footprints of size class ``order``.

    Class ``order`` holds the footprints with a bounding radius of at most
    ``class_radius_deg / 2**order`` (finer orders for smaller frames), except class 0, which
    holds every larger one too (up to 180°: a wide-field or all-sky frame is never missed).
    """
    _check_order(order)
    return 180.0 if order == 0 else class_radius_deg / 2**order


def size_class_orders(bounding_radius_deg: np.ndarray, class_radius_deg: float) -> np.ndarray:
    """The size class (the HEALPix order of the indexed cell) of footprints of these bounding
    radii: the finest order whose :func:`class_max_radius_deg` still covers the radius.

    Returns
    -------
    numpy.ndarray
        int64, the shape of ``bounding_radius_deg``, within ``[0, MAX_ORDER]``.
    """
    radius = np.maximum(np.asarray(bounding_radius_deg, dtype=float), 1e-300)
    orders = np.floor(np.log2(class_radius_deg / radius)).astype(np.int64)
    return np.clip(orders, 0, MAX_ORDER)


@dataclass(frozen=True)
class FootprintRecords:
    """What the sky index stores for ``n`` footprints (arrays of length ``n``).

    Attributes
    ----------
    keys : numpy.ndarray
        int64: NUNIQ number of the cell of the footprint's centre at its size class's order.
    centres : numpy.ndarray
        float64, shape (n, 3): unit vector of the centre (normalized sum of the corners).
    cos_radius, sin_radius : numpy.ndarray
        float64: cosine and sine of the bounding radius (centre to farthest corner).
    geometry : numpy.ndarray
        float64, shape (n, GEOMETRY_DOUBLES): the packed geometry (see ``GEOMETRY_DOUBLES``);
        ``geometry[i].astype("<f8").tobytes()`` is row ``i``'s stored blob.
    """

    keys: np.ndarray
    centres: np.ndarray
    cos_radius: np.ndarray
    sin_radius: np.ndarray
    geometry: np.ndarray

    def blobs(self) -> list[bytes]:
        """The packed geometry of each footprint, as stored (little-endian float64)."""
        packed = np.ascontiguousarray(self.geometry, dtype="<f8")
        return [row.tobytes() for row in packed]


def footprint_records(corners_deg: np.ndarray, class_radius_deg: float) -> FootprintRecords:
    """The sky-index records of footprints.

    Parameters
    ----------
    corners_deg : numpy.ndarray
        ``(ra, dec)`` in degrees of the corners of ``n`` footprints, in order around each (either
        direction), shape ``(n, 4, 2)``.
    class_radius_deg : float
        The size classes' scale (see :func:`class_max_radius_deg`).
    """
    corners = np.asarray(corners_deg, dtype=float)
    if corners.ndim != 3 or corners.shape[1:] != (4, 2):
        raise ValueError(f"expected corners of shape (n, 4, 2), got {corners.shape}")
    if not np.all(np.isfinite(corners)):
        raise ValueError("footprint corners must be finite")
    quads = unit_vectors(corners[..., 0], corners[..., 1])
    centres = quad_centres(quads) if len(quads) else np.zeros((0, 3))
    radius = _angle(centres[:, None, :], quads).max(axis=1) if len(quads) else np.zeros(0)
    orders = size_class_orders(np.degrees(radius), class_radius_deg)
    from astropy import units as u
    from astropy_healpix import lonlat_to_healpix

    keys = np.zeros(len(quads), dtype=np.int64)
    lon = np.arctan2(centres[:, 1], centres[:, 0])
    lat = np.arcsin(np.clip(centres[:, 2], -1.0, 1.0))
    for order in np.unique(orders).tolist():
        mine = orders == order
        cells = lonlat_to_healpix(lon[mine] * u.rad, lat[mine] * u.rad, 2**order, order="nested")
        keys[mine] = order_key_range(order)[0] + np.asarray(cells, dtype=np.int64)
    geometry = quads.reshape(len(quads), GEOMETRY_DOUBLES)
    return FootprintRecords(keys, centres, np.cos(radius), np.sin(radius), geometry)


def cone_key_ranges(
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    orders: Iterable[int],
    class_radius_deg: float,
    query_cell_fraction: float,
) -> list[tuple[int, int]]:
    """The NUNIQ ranges a cone search scans: for each size class in ``orders``, the cells that
    may hold the centre of one of its footprints overlapping the cone.

    Each class's cells are those of :func:`cone_cell_ranges` for the cone enlarged by the
    class's largest bounding radius, at the coarsest order whose cell radius
    (:func:`max_cell_radius_deg`) is at most ``query_cell_fraction`` times that radius (about
    ten ranges per class, whatever the cone; a coarse cell is the contiguous range of its
    descendants). One walk down the HEALPix hierarchy serves every class.

    Returns
    -------
    list of (int, int)
        Sorted, disjoint half-open ranges of NUNIQ numbers.
    """
    if not radius_deg >= 0:
        raise ValueError(f"radius_deg must be >= 0, got {radius_deg!r}")
    queries = []
    for order in sorted(set(orders)):
        enlarged = min(radius_deg + class_max_radius_deg(order, class_radius_deg), 180.0)
        walk_order = order
        while walk_order > 0 and (
            max_cell_radius_deg(walk_order - 1) <= query_cell_fraction * enlarged
        ):
            walk_order -= 1
        queries.append((enlarged, walk_order, order, order_key_range(order)[0]))
    return _cone_walk(unit_vectors(ra_deg, dec_deg), queries)


def prefilter_terms(ra_deg: float, dec_deg: float, radius_deg: float) -> tuple[float, ...] | None:
    """Terms of the bounding-circle test a database can run before the exact one.

    A footprint of centre ``c`` and bounding radius ``R`` can overlap the cone only if
    ``c . p >= cos(r + R) = cos(r) cos(R) - sin(r) sin(R)`` (``p`` the cone's centre, ``r``
    its radius): with the returned ``(px, py, pz, cos_r, sin_r, slack)``, the condition is
    ``x*px + y*py + z*pz >= cos_r*cos_radius - sin_r*sin_radius - slack``. Valid while
    ``r + R <= 180°``, so only for cones up to 90° (None beyond) and footprints whose bounding
    radius is below 90° (``cos_radius > 0``; larger ones must pass unconditionally).
    """
    if radius_deg > 90.0:
        return None
    p = unit_vectors(ra_deg, dec_deg)
    r = math.radians(radius_deg)
    return (
        float(p[0]),
        float(p[1]),
        float(p[2]),
        math.cos(r),
        math.sin(r),
        _PREFILTER_SLACK,
    )


def geometry_overlaps_cone(
    geometry: np.ndarray, ra_deg: float, dec_deg: float, radius_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """The exact overlap test (as :func:`quads_overlap_cone`) on packed geometry.

    Parameters
    ----------
    geometry : numpy.ndarray
        float64, shape (n, GEOMETRY_DOUBLES), rows of :attr:`FootprintRecords.geometry`.
    ra_deg, dec_deg, radius_deg : float
        The cone, in degrees.

    Returns
    -------
    overlaps : numpy.ndarray
        bool, shape (n,).
    closeness : numpy.ndarray
        float64, shape (n,): cosine of the angle between the cone's and the footprint's
        centres (larger is nearer).
    """
    quads = np.asarray(geometry, dtype=float).reshape(-1, 4, 3)
    return _overlaps_cone(quads, unit_vectors(ra_deg, dec_deg), math.radians(radius_deg))
