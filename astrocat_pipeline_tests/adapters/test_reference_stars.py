"""Hipparcos stars around a position, for checking plate solutions (adapters/reference_stars.py)."""

from __future__ import annotations

import numpy as np
import pytest

from astrocat_pipeline.adapters.reference_stars import HipparcosStars


@pytest.fixture(scope="module")
def stars() -> HipparcosStars:
    return HipparcosStars()


def test_stars_around_vega_brightest_first_and_within_the_radius(stars):
    ra, dec, mag = stars.around(279.2347, 38.7837, 2.0)
    assert mag[0] == pytest.approx(0.09, abs=0.1)  # Vega (Hp 0.09) comes first
    assert ra[0] == pytest.approx(279.2347, abs=0.01)
    assert np.all(np.diff(mag) >= 0)
    cos = np.sin(np.radians(dec)) * np.sin(np.radians(38.7837)) + np.cos(np.radians(dec)) * np.cos(
        np.radians(38.7837)
    ) * np.cos(np.radians(ra - 279.2347))
    assert np.all(cos >= np.cos(np.radians(2.0)) - 1e-12)
    assert 20 < len(ra) < 200  # Hipparcos: ~2.9 stars per square degree on average


def test_a_cone_across_ra_zero_and_one_around_the_pole(stars):
    ra, _, _ = stars.around(0.2, 10.0, 3.0)
    assert np.any(ra > 350)
    assert np.any(ra < 10)
    _, dec, _ = stars.around(0.0, 90.0, 1.0)
    assert len(dec) > 0
    assert np.all(dec >= 89.0)
