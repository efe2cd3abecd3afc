"""HEALPix cells of footprints and cones, and the exact footprint-cone overlap test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from astropy import units as u
from astropy_healpix import boundaries_lonlat, lonlat_to_healpix

from astrocat_pipeline.core import sky_index
from astrocat_pipeline.core.sky_index import (
    cone_cell_ranges,
    cone_cells,
    distance_to_quads,
    footprint_cells,
    footprints_cells,
    max_cell_radius_deg,
    quads_overlap_cone,
    unit_vectors,
)


def frame_corners(ra_deg, dec_deg, width_deg, height_deg, rotation_deg=0.0):
    """Corners (ra, dec) of a TAN frame centred at (ra, dec), in order around it."""
    xi = np.array([-1, 1, 1, -1]) * width_deg / 2
    eta = np.array([-1, -1, 1, 1]) * height_deg / 2
    t = math.radians(rotation_deg)
    x = np.radians(xi * math.cos(t) - eta * math.sin(t))
    y = np.radians(xi * math.sin(t) + eta * math.cos(t))
    ra0, dec0 = math.radians(ra_deg), math.radians(dec_deg)
    den = math.cos(dec0) - y * math.sin(dec0)
    ra = ra0 + np.arctan2(x, den)
    dec = np.arctan2(math.sin(dec0) + y * math.cos(dec0), np.hypot(x, den))
    return np.stack([np.degrees(ra) % 360.0, np.degrees(dec)], -1)


def random_frames(rng, n, min_deg=0.3, max_deg=8.0):
    frames = []
    for i in range(n):
        ra = rng.uniform(0, 360)
        dec = math.degrees(math.asin(rng.uniform(-1, 1)))
        if i % 5 == 0:
            dec = float(rng.choice([90.0, -90.0, 89.0, -88.7]))  # on or around a pole
        if i % 5 == 1:
            ra = float(rng.choice([0.0, 359.8, 0.3]))  # across RA 0h
        size = rng.uniform(min_deg, max_deg, 2)
        frames.append(frame_corners(ra, dec, size[0], size[1], rng.uniform(0, 360)))
    return np.array(frames)


def cell_boundaries(order, step=6):
    nside = 2**order
    lon, lat = boundaries_lonlat(np.arange(12 * 4**order), step, nside, order="nested")
    return unit_vectors(lon.to_value(u.deg), lat.to_value(u.deg))  # (npix, 4 * step, 3)


def cell_of(ra_deg, dec_deg, order):
    return int(lonlat_to_healpix(ra_deg * u.deg, dec_deg * u.deg, 2**order, order="nested"))


@pytest.mark.parametrize("order", range(7))
def test_max_cell_radius_bounds_every_cell(order):
    boundaries = cell_boundaries(order, step=8)
    centres = sky_index._cell_centres(order)
    farthest = np.degrees(np.arccos(np.clip(np.einsum("nkj,nj->nk", boundaries, centres), -1, 1)))
    assert farthest.max() <= max_cell_radius_deg(order)
    assert farthest.max() > 0.95 * max_cell_radius_deg(order)  # a bound, not a wild one


def test_cone_cells_contain_every_cell_the_cone_touches():
    order = 4
    boundaries = cell_boundaries(order)
    rng = np.random.default_rng(11)
    for i in range(120):
        ra = rng.uniform(0, 360)
        dec = math.degrees(math.asin(rng.uniform(-1, 1)))
        if i < 20:
            ra, dec = float(rng.choice([0.0, 359.99, 180.0])), float(rng.choice([90, -90, 89.5]))
        radius = float(rng.choice([0.0, 0.5, 2.0, 5.0, 30.0]))
        centre = unit_vectors(ra, dec)
        distance = np.degrees(np.arccos(np.clip(boundaries @ centre, -1, 1))).min(axis=1)
        touching = set(np.flatnonzero(distance <= radius).tolist()) | {cell_of(ra, dec, order)}
        found = set(cone_cells(ra, dec, radius, order).tolist())
        assert touching <= found, (ra, dec, radius)
        # ... and not the whole sky: no more than the cells within radius + 2 cell radii.
        assert len(found) <= len(set(np.flatnonzero(distance <= radius + 8.0).tolist())) + 1


def test_cone_cell_ranges_are_sorted_disjoint_and_cover_the_sky_for_180_degrees():
    order = 6
    assert cone_cell_ranges(10.0, 20.0, 180.0, order) == [(0, 12 * 4**order)]
    ranges = cone_cell_ranges(10.0, 20.0, 40.0, order)
    assert all(lo < hi for lo, hi in ranges)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    # A large cone is a few ranges (whole coarse cells), not thousands of single cells.
    assert len(ranges) < 400
    assert sum(hi - lo for lo, hi in ranges) > 5000
    assert (
        cone_cell_ranges(37.95, 89.26, 0.0, order)[0][1]
        - cone_cell_ranges(37.95, 89.26, 0.0, order)[0][0]
        >= 1
    )
    with pytest.raises(ValueError, match="radius"):
        cone_cell_ranges(0.0, 0.0, -1.0, order)
    with pytest.raises(ValueError, match="order"):
        cone_cell_ranges(0.0, 0.0, 1.0, 14)


def test_footprint_cells_contain_every_cell_the_frame_touches():
    order = 5
    boundaries = cell_boundaries(order)
    rng = np.random.default_rng(5)
    centres = sky_index._cell_centres(order)
    for corners in random_frames(rng, 150):
        quad = unit_vectors(corners[:, 0], corners[:, 1])
        # Only cells near the frame can touch it (frames are < 12° across).
        near = np.flatnonzero(centres @ sky_index.quad_centres(quad) > math.cos(math.radians(15)))
        inside = distance_to_quads(quad[None, None], boundaries[near]).min(axis=1) <= 0.0
        touching = set(near[inside].tolist())
        touching |= {cell_of(ra, dec, order) for ra, dec in corners}
        found = set(footprint_cells(corners, order).tolist())
        assert touching <= found, corners.tolist()


def test_footprints_cells_in_a_batch_equal_one_by_one():
    rng = np.random.default_rng(8)
    frames = random_frames(rng, 40)
    index, cells = footprints_cells(frames, 6)
    for i, corners in enumerate(frames):
        np.testing.assert_array_equal(cells[index == i], footprint_cells(corners, 6))
    empty_index, empty_cells = footprints_cells(np.zeros((0, 4, 2)), 6)
    assert empty_index.size == empty_cells.size == 0
    with pytest.raises(ValueError, match="finite"):
        footprint_cells(np.full((4, 2), np.nan), 6)


def dense_distance_deg(corners, ra_deg, dec_deg, n=121):
    """Brute force: smallest distance from the cone centre to a dense grid over the frame
    (bilinear in the corners' unit vectors, i.e. filling the quadrilateral)."""
    q = unit_vectors(corners[:, 0], corners[:, 1])
    s, t = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    s, t = s[..., None], t[..., None]
    grid = (1 - s) * (1 - t) * q[0] + s * (1 - t) * q[1] + s * t * q[2] + (1 - s) * t * q[3]
    grid /= np.linalg.norm(grid, axis=-1, keepdims=True)
    return float(np.degrees(np.arccos(np.clip(grid @ unit_vectors(ra_deg, dec_deg), -1, 1))).min())


def test_overlap_test_agrees_with_brute_force_everywhere_on_the_sky():
    rng = np.random.default_rng(3)
    frames = random_frames(rng, 60, max_deg=5.0)
    checked = 0
    for corners in frames:
        centre = corners.mean(axis=0)  # any nearby point will do as a cone centre seed
        for _ in range(6):
            ra = (centre[0] + rng.normal(0, 4)) % 360
            dec = float(np.clip(centre[1] + rng.normal(0, 4), -90, 90))
            radius = float(rng.uniform(0.05, 4.0))
            truth = dense_distance_deg(corners, ra, dec)
            if abs(truth - radius) < 0.05:  # too close to call with a 121 x 121 grid
                continue
            assert bool(quads_overlap_cone(corners, ra, dec, radius)) == (truth <= radius), (
                corners.tolist(),
                ra,
                dec,
                radius,
                truth,
            )
            checked += 1
    assert checked > 250


def test_boolean_test_and_distance_agree():
    rng = np.random.default_rng(21)
    frames = random_frames(rng, 50)
    quads = unit_vectors(frames[..., 0], frames[..., 1])
    points = unit_vectors(rng.uniform(0, 360, 50), np.degrees(np.arcsin(rng.uniform(-1, 1, 50))))
    for angle in (0.0, 0.01, 0.3, 2.0, 30.0, 100.0):
        distance = distance_to_quads(quads, points)
        within = sky_index._within(quads, sky_index._edges(quads), points, math.radians(angle))
        clear = np.abs(np.degrees(distance) - angle) > 1e-9
        np.testing.assert_array_equal(within[clear], (np.degrees(distance) <= angle)[clear])


def test_frame_across_ra_zero():
    corners = frame_corners(0.0, 30.0, 3.0, 2.0)
    assert corners[:, 0].max() > 358
    assert corners[:, 0].min() < 2
    for ra in (359.0, 0.0, 1.0, 358.3):
        assert quads_overlap_cone(corners, ra, 30.0, 0.1), ra
    assert not quads_overlap_cone(corners, 180.0, 30.0, 5.0)
    # West of the frame: its edge is 0.77° of RA (0.67° on the sky at Dec 30°) away.
    assert not quads_overlap_cone(corners, 357.5, 30.0, 0.6)
    assert quads_overlap_cone(corners, 357.5, 30.0, 0.72)


def test_frame_containing_the_pole_and_its_antipode():
    corners = frame_corners(45.0, 89.5, 3.0, 3.0, rotation_deg=30.0)
    assert quads_overlap_cone(corners, 0.0, 90.0, 0.0)  # the pole itself is in the frame
    assert quads_overlap_cone(corners, 225.0, 89.0, 0.1)  # across the pole from the centre
    assert not quads_overlap_cone(corners, 0.0, -90.0, 5.0)
    assert not quads_overlap_cone(corners, 225.0, 85.0, 1.0)
    # The antipode of the centre is not "inside" (every edge test flips sign together there).
    assert not quads_overlap_cone(corners, 225.0, -89.5, 0.0)


def test_overlap_is_by_footprint_not_by_centre_distance():
    # A long thin frame, 5° x 0.3° along the equator: a cone near its end overlaps although
    # its centre is far from the frame's centre, and one beside its middle does not although
    # it is much closer to the centre.
    corners = frame_corners(100.0, 0.0, 5.0, 0.3)
    assert quads_overlap_cone(corners, 102.4, 0.0, 0.05)
    assert not quads_overlap_cone(corners, 100.0, 0.5, 0.3)
    assert quads_overlap_cone(corners, 100.0, 0.5, 0.36)  # the edge is 0.35° from it
    assert quads_overlap_cone(corners[::-1], 100.0, 0.5, 0.36)  # either corner order


def test_many_frames_at_once():
    corners = np.stack([frame_corners(0.0, 30.0, 3.0, 2.0), frame_corners(90.0, -60.0, 1.0, 1.0)])
    np.testing.assert_array_equal(quads_overlap_cone(corners, 0.5, 30.5, 0.1), [True, False])
