"""The passes of a blind search (adapters/solvers/blind_plan.py)."""

from __future__ import annotations

from astrocat_pipeline.adapters.solvers.blind_plan import BlindPass, blind_passes

# astrometry.net's default code tolerance (solve-field --code-tolerance).
ENGINE_DEFAULT_CODE_TOLERANCE = 0.01


def test_tight_codes_first_then_the_default_with_what_is_left():
    first, last = blind_passes()
    assert first.code_tolerance is not None
    assert 0 < first.code_tolerance < ENGINE_DEFAULT_CODE_TOLERANCE
    assert 0 < first.share < 1  # the second pass always has time left
    assert last == BlindPass(None, 1.0)  # the engine's default tolerance, the rest
