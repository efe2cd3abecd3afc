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
    GEOMETRY_DOUBLES,
    MAX_ORDER,
    class_max_radius_deg,
    cone_cell_ranges,
    cone_cells,
    cone_key_ranges,
    distance_to_quads,
    footprint_records,
    geometry_overlaps_cone,
    max_cell_radius_deg,
    order_key_range,
    prefilter_terms,
    quads_overlap_cone,
    size_class_orders,
    unit_vectors,
)
from astrocat_pipeline.core.tuning import (
    SKY_INDEX_CLASS_RADIUS_DEG,
    SKY_INDEX_QUERY_CELL_FRACTION,
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


def records(corners):
    return footprint_records(corners, SKY_INDEX_CLASS_RADIUS_DEG)


def key_ranges(ra, dec, radius, orders):
    return cone_key_ranges(
        ra, dec, radius, orders, SKY_INDEX_CLASS_RADIUS_DEG, SKY_INDEX_QUERY_CELL_FRACTION
    )


def passes_prefilter(rec, ra, dec, radius):
    """The SQL bounding-circle condition of CatalogStore.cone_search, in numpy."""
    terms = prefilter_terms(ra, dec, radius)
    if terms is None:
        return np.ones(len(rec.keys), dtype=bool)
    px, py, pz, cos_r, sin_r, slack = terms
    dot = rec.centres @ np.array([px, py, pz])
    return (dot >= cos_r * rec.cos_radius - sin_r * rec.sin_radius - slack) | (rec.cos_radius <= 0)


def in_ranges(keys, ranges):
    return np.array([any(lo <= k < hi for lo, hi in ranges) for k in keys.tolist()], dtype=bool)


def test_size_classes_cover_each_footprint_and_are_the_finest_that_do():
    radii = np.array([1e-4, 0.01, 0.2, 0.5, 1.0, 1.9, 2.0, 2.1, 3.5, 10.0, 30.0, 45.0, 64.0, 89.0])
    orders = size_class_orders(radii, 128.0)
    for radius, order in zip(radii.tolist(), orders.tolist(), strict=True):
        assert 0 <= order <= MAX_ORDER
        assert radius <= class_max_radius_deg(order, 128.0)
        if order < MAX_ORDER:  # the next finer class would not hold it
            assert radius > class_max_radius_deg(order + 1, 128.0)
    assert orders.tolist()[5:9] == [6, 6, 5, 5]  # 128° / 2**6 = 2°
    assert orders[-1] == 0  # wide-field frames land in the coarse classes
    assert class_max_radius_deg(0, 128.0) == 180.0  # ... and class 0 takes anything


def wide_frames(rng, n):
    """Camera-lens and wide-angle frames, 10°-100° on a side (TAN corners)."""
    frames = []
    for i in range(n):
        ra = rng.uniform(0, 360)
        dec = float(rng.choice([90.0, -89.0, 0.0])) if i % 4 == 0 else rng.uniform(-80, 80)
        size = rng.uniform(10.0, 100.0, 2)
        frames.append(frame_corners(ra, dec, size[0], size[1], rng.uniform(0, 360)))
    return np.array(frames)


def test_cone_key_ranges_and_prefilter_keep_every_overlapping_footprint():
    # Brute force over frames from 1' to 100°, at the poles and across RA 0h, against cones
    # from a point to 120°: every footprint that really overlaps the cone is in a scanned range
    # and passes the bounding-circle prefilter.
    rng = np.random.default_rng(17)
    frames = np.concatenate(
        [
            random_frames(rng, 150, min_deg=0.3, max_deg=8.0),
            random_frames(rng, 30, min_deg=0.02, max_deg=0.3),
            wide_frames(rng, 30),
        ]
    )
    rec = records(frames)
    orders = sorted({int(np.log2(k // 4) // 2) for k in rec.keys.tolist()})
    assert len(orders) >= 6
    checked = 0
    for i in range(150):
        if i < 40:  # near a frame (so that many overlap), else anywhere
            ra, dec = frames[i % len(frames)].mean(axis=0)
            ra, dec = (ra + rng.normal(0, 3)) % 360, float(np.clip(dec + rng.normal(0, 3), -90, 90))
        else:
            ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        if i % 10 == 0:
            ra, dec = float(rng.choice([0.0, 359.99])), float(rng.choice([90.0, -90.0, 89.7]))
        radius = float(rng.choice([0.0, 0.1, 0.5, 2.0, 5.0, 20.0, 89.0, 120.0]))
        truth = quads_overlap_cone(frames, ra, dec, radius)
        ranges = key_ranges(ra, dec, radius, orders)
        found = in_ranges(rec.keys, ranges) & passes_prefilter(rec, ra, dec, radius)
        assert not np.any(truth & ~found), (ra, dec, radius, np.flatnonzero(truth & ~found))
        overlaps, _ = geometry_overlaps_cone(rec.geometry[found], ra, dec, radius)
        np.testing.assert_array_equal(overlaps, truth[found])
        checked += int(truth.sum())
    assert checked > 1000


def test_cone_key_ranges_are_few_sorted_and_only_in_the_classes_asked_for():
    orders = [0, 3, 5, 6, 7, 9]
    spans = [order_key_range(order) for order in orders]
    for radius, most in ((0.0, 20), (0.5, 25), (2.0, 25), (30.0, 25), (180.0, 1)):
        ranges = key_ranges(37.0, 62.0, radius, orders)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # sorted, merged
        for lo, hi in spans:
            mine = [(max(a, lo), min(b, hi)) for a, b in ranges if a < hi and b > lo]
            assert 1 <= len(mine) <= most, (radius, lo, len(mine))
        # No key outside the classes asked for (adjacent classes' ranges may merge).
        for a, b in ranges:
            covered = sum(min(b, hi) - max(a, lo) for lo, hi in spans if a < hi and b > lo)
            assert covered == b - a
    # Class 0 (wide fields, up to 180°) is always scanned whole: one range.
    assert key_ranges(10.0, -30.0, 0.5, [0]) == [order_key_range(0)]
    assert key_ranges(10.0, -30.0, 0.5, []) == []
    with pytest.raises(ValueError, match="radius"):
        key_ranges(0.0, 0.0, -1.0, [3])


def test_records_pack_the_geometry_of_the_exact_test():
    rng = np.random.default_rng(8)
    frames = random_frames(rng, 40)
    rec = records(frames)
    assert rec.geometry.shape == (40, GEOMETRY_DOUBLES)
    blobs = rec.blobs()
    assert {len(b) for b in blobs} == {GEOMETRY_DOUBLES * 8}
    unpacked = np.frombuffer(b"".join(blobs), dtype="<f8").reshape(40, GEOMETRY_DOUBLES)
    np.testing.assert_array_equal(unpacked, rec.geometry)
    np.testing.assert_allclose(np.linalg.norm(rec.centres, axis=1), 1.0)
    for corners, key, centre in zip(frames, rec.keys.tolist(), rec.centres, strict=True):
        order = int(np.log2(key // 4) // 2)
        ra, dec = np.degrees(np.arctan2(centre[1], centre[0])), np.degrees(np.arcsin(centre[2]))
        assert key - order_key_range(order)[0] == cell_of(float(ra) % 360, float(dec), order)
        one = records(corners[None])
        assert one.keys.tolist() == [key]
    for ra, dec, radius in ((0.0, 90.0, 0.0), (10.0, 20.0, 3.0), (359.9, -45.0, 1.0)):
        overlaps, closeness = geometry_overlaps_cone(rec.geometry, ra, dec, radius)
        np.testing.assert_array_equal(overlaps, quads_overlap_cone(frames, ra, dec, radius))
        np.testing.assert_allclose(closeness, rec.centres @ unit_vectors(ra, dec))
    empty = records(np.zeros((0, 4, 2)))
    assert empty.keys.size == 0
    assert empty.geometry.shape == (0, GEOMETRY_DOUBLES)
    with pytest.raises(ValueError, match="finite"):
        records(np.full((1, 4, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        records(np.zeros((4, 2)))


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
        within = np.array(
            [
                sky_index._overlaps_cone(quad[None], point, math.radians(angle))[0][0]
                for quad, point in zip(quads, points, strict=True)
            ]
        )
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
