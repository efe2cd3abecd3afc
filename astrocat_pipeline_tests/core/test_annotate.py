"""Objects drawn on a thumbnail: at the true extent, shape and orientation, rows flipped for a
frame stored bottom-up."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from PIL import Image

from astrocat_pipeline.core.annotate import (
    OBJECT_COLOUR,
    draw_annotations,
    frame_annotations,
    match_label,
)
from astrocat_pipeline.core.records import CatalogMatch

SCALE_ARCSEC = 10.0
FRAME = (400, 300)
THUMB = (200, 150)  # half size


def _wcs(rotation_deg: float = 0.0) -> WCS:
    """North up (+y), east left (-x) in array pixels, rotated by ``rotation_deg``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 30.0]
    wcs.wcs.crpix = [200.5, 150.5]  # 1-based: the frame's centre
    scale = SCALE_ARCSEC / 3600.0
    theta = np.radians(rotation_deg)
    wcs.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return wcs


def _match(pa_deg: float | None, x: float = 199.5, y: float = 149.5, **fields) -> CatalogMatch:
    values = {
        "catalog": "OpenNGC",
        "designation": "NGC 1",
        "name": None,
        "object_type": "G",
        "ra_deg": 150.0,
        "dec_deg": 30.0,
        "x_px": x,
        "y_px": y,
        "major_axis_arcmin": 10.0,
        "minor_axis_arcmin": 5.0,
        "position_angle_deg": pa_deg,
        **fields,
    }
    return CatalogMatch(**values)


def _extent(note) -> tuple[float, float]:
    xs = [x for x, _ in note.outline]
    ys = [y for _, y in note.outline]
    return max(xs) - min(xs), max(ys) - min(ys)


@pytest.mark.parametrize("bottom_up", [True, False])
def test_an_ellipse_has_its_true_size_and_position_angle(bottom_up):
    # 10' x 5' at 10"/px is 60 x 30 frame pixels, 30 x 15 on a half-size thumbnail.
    (north_south,) = frame_annotations(_wcs(), FRAME, THUMB, [_match(0.0)], bottom_up=bottom_up)
    width, height = _extent(north_south)
    assert height == pytest.approx(30.0, abs=0.3)
    assert width == pytest.approx(15.0, abs=0.3)
    (east_west,) = frame_annotations(_wcs(), FRAME, THUMB, [_match(90.0)], bottom_up=bottom_up)
    width, height = _extent(east_west)
    assert width == pytest.approx(30.0, abs=0.3)
    assert height == pytest.approx(15.0, abs=0.3)
    assert (north_south.x_px, north_south.y_px) == pytest.approx((99.5, 74.5))


def test_the_position_angle_turns_with_the_frame():
    # PA 45 in a frame rotated by 45 degrees: the major axis lies along the picture's rows or
    # columns again (which one depends on the rotation's sense), not diagonally.
    (note,) = frame_annotations(_wcs(45.0), FRAME, THUMB, [_match(45.0)], bottom_up=True)
    width, height = _extent(note)
    assert sorted((width, height)) == pytest.approx([15.0, 30.0], abs=0.5)


def test_a_bottom_up_frame_is_drawn_with_north_up():
    north = _match(None, y=249.5, dec_deg=30.0 + 100 * SCALE_ARCSEC / 3600)
    (flipped,) = frame_annotations(_wcs(), FRAME, THUMB, [north], bottom_up=True)
    (as_stored,) = frame_annotations(_wcs(), FRAME, THUMB, [north], bottom_up=False)
    assert flipped.y_px == pytest.approx(24.5)  # 100 px north of centre: above it
    assert as_stored.y_px == pytest.approx(124.5)


def test_stars_and_small_objects_are_markers_with_labels():
    star = _match(None, object_type="*", designation="HIP 1", name="Vega", major_axis_arcmin=None)
    tiny = _match(0.0, major_axis_arcmin=0.2, minor_axis_arcmin=0.1, messier=99)
    notes = frame_annotations(_wcs(), FRAME, THUMB, [star, tiny], bottom_up=False)
    assert [n.outline for n in notes] == [(), ()]
    assert [n.label for n in notes] == ["Vega", "M 99"]
    assert notes[0].is_star
    assert match_label(_match(0.0, name="Andromeda Galaxy", messier=31)) == "M 31"


def test_drawing_marks_the_outline_and_leaves_the_input_alone():
    picture = Image.new("L", THUMB, 0)
    notes = frame_annotations(_wcs(), FRAME, THUMB, [_match(0.0)], bottom_up=True)
    drawn = np.asarray(draw_annotations(picture, notes))
    assert drawn.shape == (150, 200, 3)
    assert np.asarray(picture).max() == 0
    # The centre row crosses the outline 7.5 px either side of the centre (a 15 px minor axis).
    row = drawn[75]
    marked = np.flatnonzero(np.all(np.abs(row.astype(int) - OBJECT_COLOUR) < 60, axis=1))
    assert marked.min() == pytest.approx(92, abs=2)
    assert marked.max() == pytest.approx(107, abs=2)
