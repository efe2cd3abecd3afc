"""Where frames lie on the sky, as HEALPix cells, and the exact footprint-cone overlap test.

A solved frame's footprint is the spherical quadrilateral of its four corners, joined by
great-circle arcs (exact for a TAN projection, within a few pixels of the SIP-distorted edges).
The sky index stores, for each footprint, the HEALPix cells (NESTED numbering, one fixed order)
that might touch it; a cone search turns the cone into cells, collects the footprints indexed
under them, and keeps those that really overlap the cone (:func:`quads_overlap_cone`).

Why this finds every overlapping footprint: if a footprint F and a cone Q share a point p, the
cell C holding p has its centre within the largest cell radius ``rho`` of F, so C is among F's
cells (:func:`footprint_cells` keeps every cell whose centre lies within ``rho`` of F), and C
has its centre within ``radius + rho`` of Q's centre, so C is among Q's cells
(:func:`cone_cell_ranges`). Both sides are supersets of the cells that truly touch, which only
costs a few extra candidates; the exact test removes them.

Everything is computed with unit vectors, so RA 0h/24h and the poles need no special case.
Pure numpy (plus the HEALPix cell centres of ``astropy-healpix``): no database, no Dagster.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from astropy_healpix import healpix_to_xyz

__all__ = [
    "MAX_ORDER",
    "cone_cell_ranges",
    "cone_cells",
    "distance_to_quads",
    "footprint_cells",
    "footprints_cells",
    "max_cell_radius_deg",
    "quad_centres",
    "quads_overlap_cone",
    "unit_vectors",
]

# Cell numbers of orders up to 13 (12 * 4**13 < 2**31) fit a plain 32-bit INTEGER column.
MAX_ORDER = 13
# Frames per batch in footprints_cells: bounds the temporary (frame, cell) arrays to ~100 MB.
_BATCH_FRAMES = 4096


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
    return total / np.linalg.norm(total, axis=-1, keepdims=True)


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


def _edges(quads: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per edge of quadrilaterals ``(..., 4, 3)``: unit normals (oriented so that the inside is
    on their positive side), the cosine of the edge length, and whether the edge has a length."""
    normals = np.cross(quads, np.roll(quads, -1, axis=-2))
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    # Orientation from the quadrilateral's own centre, so that both corner orders work and the
    # antipodal region (where every edge test flips sign together) is not taken for the inside.
    orientation = np.sign(np.sum(normals * quad_centres(quads)[..., None, :], axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = normals / norm * orientation[..., None]
    cos_length = np.sum(quads * np.roll(quads, -1, axis=-2), axis=-1)
    has_length = norm[..., 0] > 1e-15
    return np.where(has_length[..., None], unit, 0.0), cos_length, has_length


def _within(
    quads: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    points: np.ndarray,
    angle_rad: float | np.ndarray,
) -> np.ndarray:
    """Whether points lie within ``angle_rad`` of convex quadrilaterals (inside included).

    The same geometry as :func:`distance_to_quads`, as comparisons only (no trigonometry per
    point), for the hot loops; a test checks that the two agree.
    """
    normals, cos_length, has_length = edges
    p = points[..., None, :]
    side = np.sum(normals * p, axis=-1)  # sine of the signed distance to each edge's circle
    inside = np.all(side >= 0.0, axis=-1) & np.all(has_length, axis=-1)
    pa = np.sum(quads * p, axis=-1)
    pb = np.roll(pa, -1, axis=-1)
    between = (pb >= cos_length * pa) & (pa >= cos_length * pb) & has_length
    angle = np.asarray(angle_rad, dtype=float)[..., None]
    near_circle = (angle >= math.pi / 2) | (np.abs(side) <= np.sin(np.minimum(angle, math.pi / 2)))
    near_corner = pa >= _cos_limit(angle)
    return inside | np.any(between & near_circle, axis=-1) | np.any(near_corner, axis=-1)


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
    centre = unit_vectors(ra_deg, dec_deg)
    return _within(quads, _edges(quads), centre, math.radians(radius_deg))


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

    Cached: a pure function of ``order`` (at most 12 * 4**order * 24 bytes, 9.4 MB at order 8),
    never mutated (read-only array), so nothing ever needs resetting.
    """
    nside = 2**order
    x, y, z = healpix_to_xyz(np.arange(12 * 4**order), nside, order="nested")
    centres = np.stack([x, y, z], axis=-1)
    centres.flags.writeable = False
    return centres


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
    radius = math.radians(radius_deg)
    if radius >= math.pi:
        return [(0, 12 * 4**order)]
    centre = unit_vectors(ra_deg, dec_deg)
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    cells = np.arange(12)
    for level in range(order + 1):
        rho = math.radians(max_cell_radius_deg(level))
        dots = _cell_centres(level)[cells] @ centre
        touching = dots >= _cos_limit(radius + rho)
        whole = touching & (dots >= math.cos(radius - rho)) if radius > rho else touching & False
        if level == order:
            whole = touching
        shift = 2 * (order - level)
        los.append(cells[whole] << shift)
        his.append((cells[whole] + 1) << shift)
        partial = cells[touching & ~whole]
        if partial.size == 0:
            break
        cells = (partial[:, None] * 4 + np.arange(4)).ravel()
    lo = np.concatenate(los)
    hi = np.concatenate(his)
    order_ = np.argsort(lo, kind="stable")
    return _merge(lo[order_], hi[order_])


def _merge(lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in zip(lo.tolist(), hi.tolist(), strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def cone_cells(ra_deg: float, dec_deg: float, radius_deg: float, order: int) -> np.ndarray:
    """The cells of :func:`cone_cell_ranges`, one by one (sorted int64 array)."""
    ranges = cone_cell_ranges(ra_deg, dec_deg, radius_deg, order)
    if not ranges:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges])


def footprints_cells(corners_deg: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """The cells of ``order`` that may touch each of many footprints.

    Parameters
    ----------
    corners_deg : numpy.ndarray
        ``(ra, dec)`` in degrees of the corners of ``n`` footprints, in order around each,
        shape ``(n, 4, 2)``.
    order : int
        HEALPix order (NESTED numbering).

    Returns
    -------
    frame_index, cells : numpy.ndarray
        int64 arrays of equal length: footprint ``frame_index[i]`` has cell ``cells[i]``.
        Sorted by footprint, then cell; each pair once. Every cell whose centre lies within
        :func:`max_cell_radius_deg` of the footprint is included, hence every cell that touches
        it.
    """
    _check_order(order)
    corners = np.asarray(corners_deg, dtype=float)
    if corners.ndim != 3 or corners.shape[1:] != (4, 2):
        raise ValueError(f"expected corners of shape (n, 4, 2), got {corners.shape}")
    if not np.all(np.isfinite(corners)):
        raise ValueError("footprint corners must be finite")
    frames: list[np.ndarray] = []
    cells: list[np.ndarray] = []
    for start in range(0, len(corners), _BATCH_FRAMES):
        batch = corners[start : start + _BATCH_FRAMES]
        index, batch_cells = _batch_cells(batch, order)
        frames.append(index + start)
        cells.append(batch_cells)
    if not frames:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(frames), np.concatenate(cells)


def _batch_cells(corners: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    quads = unit_vectors(corners[..., 0], corners[..., 1])
    centres = quad_centres(quads)
    bounding = _angle(centres[:, None, :], quads).max(axis=1)  # centre to farthest corner
    n = len(quads)
    frame = np.repeat(np.arange(n, dtype=np.int64), 12)
    cells = np.tile(np.arange(12, dtype=np.int64), n)
    for level in range(order + 1):
        rho = math.radians(max_cell_radius_deg(level))
        dots = np.einsum("ij,ij->i", centres[frame], _cell_centres(level)[cells])
        keep = dots >= _cos_limit(bounding[frame] + rho)
        frame, cells = frame[keep], cells[keep]
        if level < order:
            frame = np.repeat(frame, 4)
            cells = (cells[:, None] * 4 + np.arange(4)).ravel()
    # Coarse levels used the footprint's bounding circle; the last one the quadrilateral itself.
    rho = math.radians(max_cell_radius_deg(order))
    normals, cos_length, has_length = _edges(quads)
    near = _within(
        quads[frame],
        (normals[frame], cos_length[frame], has_length[frame]),
        _cell_centres(order)[cells],
        rho,
    )
    return frame[near], cells[near]


def footprint_cells(corners_deg: np.ndarray, order: int) -> np.ndarray:
    """The cells of ``order`` that may touch one footprint (sorted int64 array).

    ``corners_deg`` is ``(4, 2)``: ``(ra, dec)`` of the corners in order around the frame, as
    ``FieldGeometry.corners_deg``. See :func:`footprints_cells`.
    """
    corners = np.asarray(corners_deg, dtype=float)
    if corners.shape != (4, 2):
        raise ValueError(f"expected 4 (ra, dec) corners, got shape {corners.shape}")
    _, cells = footprints_cells(corners[None], order)
    return cells
