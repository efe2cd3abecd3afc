"""solve_hints: pixel scale, pointing and search radius from normalized metadata."""

from __future__ import annotations

import math

import pytest

from astrocat_pipeline.core.hints import (
    DEFAULT_HINT_RADIUS_DEG,
    hint_disagreements,
    neighbour_hints,
    pixel_scale_arcsec,
    solve_hints,
)
from astrocat_pipeline.core.records import FieldGeometry, ImageMetadata, SolveHints
from astrocat_pipeline.core.tuning import (
    SOLVER_HINT_RADIUS_FACTOR,
    SOLVER_HINT_RADIUS_MIN_DEG,
    SOLVER_SCALE_TOLERANCE,
)


def metadata(**fields: object) -> ImageMetadata:
    return ImageMetadata(path="/lib/M31/light_0001.fits", format="fits", **fields)  # type: ignore[arg-type]


def test_pixel_scale_of_a_known_setup():
    # An 80 mm f/6.6 refractor (530 mm) with a 3.76 µm sensor: 1.46"/px.
    assert pixel_scale_arcsec(530.0, 3.76) == pytest.approx(1.4633, abs=1e-4)
    # The synthetic samples' 7.2"/px: 3.76 µm at 107.7 mm.
    assert pixel_scale_arcsec(206.265 * 3.76 / 7.2, 3.76) == pytest.approx(7.2, rel=1e-5)


@pytest.mark.parametrize(
    ("focal_length_mm", "pixel_size_um"),
    [(None, 3.76), (530.0, None), (0.0, 3.76), (530.0, -1.0), (math.nan, 3.76), (math.inf, 3.76)],
)
def test_pixel_scale_unknown(focal_length_mm, pixel_size_um):
    assert pixel_scale_arcsec(focal_length_mm, pixel_size_um) is None


def test_scale_bounds_use_the_tolerance():
    hints = solve_hints(metadata(focal_length_mm=530.0, pixel_size_um=3.76))
    scale = 206.264806 * 3.76 / 530.0
    assert hints.scale_low_arcsec == pytest.approx(scale * (1 - SOLVER_SCALE_TOLERANCE))
    assert hints.scale_high_arcsec == pytest.approx(scale * (1 + SOLVER_SCALE_TOLERANCE))
    assert hints.has_scale
    assert not hints.has_position
    assert hints.ra_deg is None
    assert hints.dec_deg is None
    assert hints.radius_deg is None


def test_binning_is_not_applied_twice():
    """XPIXSZ as N.I.N.A./SGP/MaxIm write it already includes the binning."""
    unbinned = solve_hints(metadata(focal_length_mm=530.0, pixel_size_um=7.52))
    binned = solve_hints(metadata(focal_length_mm=530.0, pixel_size_um=7.52, binning=2))
    assert binned.scale_low_arcsec == unbinned.scale_low_arcsec


def test_radius_from_field_size():
    # 6248 x 4176 px at 1.463"/px: 2.54° x 1.70°, 1.53° centre to corner.
    hints = solve_hints(
        metadata(
            focal_length_mm=530.0,
            pixel_size_um=3.76,
            width=6248,
            height=4176,
            ra_deg=10.68,
            dec_deg=41.27,
        )
    )
    field_radius = 0.5 * math.hypot(6248, 4176) * (206.264806 * 3.76 / 530.0) / 3600
    assert field_radius == pytest.approx(1.527, abs=1e-3)
    assert hints.radius_deg == pytest.approx(SOLVER_HINT_RADIUS_FACTOR * field_radius)
    assert (hints.ra_deg, hints.dec_deg) == (10.68, 41.27)
    assert hints.has_scale
    assert hints.has_position


def test_small_field_gets_the_minimum_radius():
    hints = solve_hints(
        metadata(
            focal_length_mm=2000.0,
            pixel_size_um=3.76,
            width=1000,
            height=800,
            ra_deg=200.0,
            dec_deg=-30.0,
        )
    )
    assert hints.radius_deg == SOLVER_HINT_RADIUS_MIN_DEG


def test_huge_field_radius_is_capped():
    hints = solve_hints(
        metadata(
            focal_length_mm=8.0,
            pixel_size_um=5.9,
            width=6000,
            height=4000,
            ra_deg=80.0,
            dec_deg=0.0,
        )
    )
    assert hints.radius_deg == 180.0


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"focal_length_mm": 530.0}, id="no pixel size"),
        pytest.param({"focal_length_mm": 530.0, "pixel_size_um": 3.76}, id="no frame size"),
        pytest.param({"width": 6248, "height": 4176}, id="no scale"),
    ],
)
def test_position_without_field_size_gets_the_default_radius(fields):
    hints = solve_hints(metadata(ra_deg=83.82, dec_deg=-5.39, **fields))
    assert hints.radius_deg == DEFAULT_HINT_RADIUS_DEG
    assert hints.has_position


def test_nothing_known_gives_empty_hints():
    hints = solve_hints(metadata(width=4000, height=3000))
    assert hints.to_dict() == {}
    assert not hints.has_scale
    assert not hints.has_position


@pytest.mark.parametrize(
    ("ra_deg", "dec_deg"),
    [(10.0, None), (None, 41.0), (10.0, 95.0), (10.0, -90.5), (math.nan, 41.0), (10.0, math.inf)],
)
def test_incomplete_or_impossible_position_is_dropped(ra_deg, dec_deg):
    hints = solve_hints(
        metadata(focal_length_mm=530.0, pixel_size_um=3.76, ra_deg=ra_deg, dec_deg=dec_deg)
    )
    assert hints.ra_deg is None
    assert hints.dec_deg is None
    assert hints.radius_deg is None
    assert hints.has_scale  # the scale survives a bad position


def test_ra_is_wrapped_into_range():
    assert solve_hints(metadata(ra_deg=-0.5, dec_deg=30.0)).ra_deg == pytest.approx(359.5)
    assert solve_hints(metadata(ra_deg=360.0, dec_deg=30.0)).ra_deg == 0.0


def test_poles_are_valid_positions():
    assert solve_hints(metadata(ra_deg=0.0, dec_deg=90.0)).has_position
    assert solve_hints(metadata(ra_deg=0.0, dec_deg=-90.0)).has_position


# --- cross-checks and neighbours (issue 19) ------------------------------------------------


def _geometry(ra_deg: float, dec_deg: float, scale_arcsec: float = 2.0, radius_deg: float = 1.0):
    return FieldGeometry(
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        pixel_scale_arcsec=scale_arcsec,
        rotation_deg=0.0,
        parity="normal",
        width_deg=1.6,
        height_deg=1.2,
        radius_deg=radius_deg,
        corners_deg=((0.0, 0.0),) * 4,
    )


def test_a_solution_beyond_the_hinted_radius_disagrees_and_the_scale_is_not_judged():
    hints = SolveHints(1.0, 1.5, 10.0, 20.0, 2.0)
    assert hint_disagreements(_geometry(11.0, 20.5, scale_arcsec=9.0), hints) == []
    (problem,) = hint_disagreements(_geometry(10.0, 23.0), hints)
    assert problem.startswith("centre 3° from the hinted position")
    assert hint_disagreements(_geometry(10.0, 23.0), SolveHints(1.0, 1.5)) == []
    assert hint_disagreements(_geometry(10.0, 23.0), None) == []


def test_a_neighbours_solution_is_a_tight_hint_unless_the_frame_points_elsewhere():
    neighbour = _geometry(83.8, -5.4, scale_arcsec=2.0, radius_deg=1.0)
    own = SolveHints(1.6, 2.4, 83.85, -5.35, 2.0)
    tight = neighbour_hints(neighbour, own)
    assert tight == SolveHints(1.96, 2.04, 83.8, -5.4, 1.0)
    elsewhere = SolveHints(1.6, 2.4, 120.0, 30.0, 2.0)
    assert neighbour_hints(neighbour, elsewhere) == elsewhere
    assert neighbour_hints(neighbour, None) == tight
