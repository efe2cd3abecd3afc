"""The passes of a blind search (adapters/solvers/blind_plan.py)."""

from __future__ import annotations

import math

import pytest

from astrocat_pipeline.adapters.solvers.blind_plan import (
    ENGINE_MAX_FIELD_DEG,
    BlindPass,
    blind_passes,
    quad_range_arcsec,
)
from astrocat_pipeline.core.tuning import SOLVER_BLIND_DEPTH_STEP, SOLVER_BLIND_FIRST_PASS_SHARE

ARCMIN = 60.0
# Quad sizes (arcsec) of Debian's Tycho-2 index files 07 to 19: 22'-30', 30'-42', ... 1400'-2000'.
TYCHO2_07_19 = [
    (low * ARCMIN, high * ARCMIN)
    for low, high in [
        (22, 30),
        (30, 42),
        (42, 60),
        (60, 85),
        (85, 120),
        (120, 170),
        (170, 240),
        (240, 340),
        (340, 480),
        (480, 680),
        (680, 1000),
        (1000, 1400),
        (1400, 2000),
    ]
]
TYCHO2_10_19 = TYCHO2_07_19[3:]


def field_deg(scale_arcsec: float, width_px: int) -> float:
    return scale_arcsec * width_px / 3600.0


def test_first_pass_searches_every_scale_at_once_then_bands_narrowest_first():
    first, second = blind_passes((1500, 1000), TYCHO2_07_19, 200)
    assert first.scales_arcsec == ()
    assert first.depth_step is None
    assert first.share == SOLVER_BLIND_FIRST_PASS_SHARE
    assert second.share == 1.0
    assert second.depth_step == SOLVER_BLIND_DEPTH_STEP
    lows = [low for low, _ in second.scales_arcsec]
    assert lows == sorted(lows)  # narrowest fields first
    # Contiguous, each a factor 2 in field width, up to the engine's widest field.
    for (_, high), (low, _) in zip(second.scales_arcsec, second.scales_arcsec[1:], strict=False):
        assert math.isclose(high, low)
    for low, high in second.scales_arcsec[:-1]:
        assert math.isclose(high / low, 2.0)
    assert math.isclose(field_deg(second.scales_arcsec[-1][1], 1500), ENGINE_MAX_FIELD_DEG)


def test_bands_no_index_file_can_serve_are_left_out():
    """A band whose quads fit no installed index would make the engine search its smallest
    (or largest) index file for nothing."""
    (_, narrow) = blind_passes((1500, 1000), TYCHO2_07_19, 200)
    (_, wide_only) = blind_passes((1500, 1000), TYCHO2_10_19, 200)
    for passes, quads in ((narrow, TYCHO2_07_19), (wide_only, TYCHO2_10_19)):
        smallest, largest = quads[0][0], quads[-1][1]
        for band in passes.scales_arcsec:
            low, high = quad_range_arcsec((1500, 1000), *band)
            assert low <= largest
            assert high >= smallest
    # With 10-19 alone, fields under ~0.8° (1500 px) have no index file: their bands go.
    assert field_deg(wide_only.scales_arcsec[0][0], 1500) > field_deg(
        narrow.scales_arcsec[0][0], 1500
    )
    assert field_deg(narrow.scales_arcsec[0][0], 1500) == pytest.approx(0.2)
    assert field_deg(wide_only.scales_arcsec[0][0], 1500) == pytest.approx(0.8)


def test_bands_follow_the_frame_width():
    """The same field widths on a 26 Mpx frame are four times finer pixel scales."""
    (_, small) = blind_passes((1500, 1000), TYCHO2_07_19, 200)
    (_, big) = blind_passes((6000, 4000), TYCHO2_07_19, 200)
    assert big.scales_arcsec[-1][1] == pytest.approx(small.scales_arcsec[-1][1] / 4)


def test_without_known_quad_sizes_only_the_whole_range_is_searched():
    (only,) = blind_passes((1500, 1000), [None, None], 200)
    assert only == BlindPass((), None, 200, 1.0)


def test_depth_ranges_step_through_the_stars_and_end_at_the_last():
    blind_pass = BlindPass(((1.0, 2.0),), 10, 25, 1.0)
    assert blind_pass.depth_ranges() == ((1, 10), (11, 20), (21, 25))
    assert BlindPass((), None, 25, 1.0).depth_ranges() == ()


@pytest.mark.parametrize(("size", "stars"), [((0, 10), 5), ((10, 10), 0)])
def test_nonsense_is_refused(size, stars):
    with pytest.raises(ValueError, match="must be positive"):
        blind_passes(size, TYCHO2_07_19, stars)
