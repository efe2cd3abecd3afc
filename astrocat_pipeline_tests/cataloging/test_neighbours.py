"""A night solves like one field (cataloging/neighbours.py and the catalog's solved_neighbours):
which solved frame hints a frame with weak hints, and how each kind of solver gets the hint
(local: tried first; nova: only in place of what the header lacks, never an extra upload)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.wcs import WCS

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.cataloging.neighbours import find_neighbour, merged_hints, weak_hints
from astrocat_pipeline.cataloging.steps import solve_plate
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.records import FrameType, ImageMetadata, SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline_tests.cataloging.test_steps_solve import _register
from astrocat_pipeline_tests.fakes import FakeSolver
from astrocat_pipeline_tests.image_files import write_fits

NIGHT = datetime(2026, 3, 14, 21, 0, tzinfo=UTC)
SIZE = (600, 400)
SCALE_ARCSEC = 10.0
M42 = (83.82, -5.39)


def _wcs(ra_deg: float, dec_deg: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(SIZE[0] + 1) / 2, (SIZE[1] + 1) / 2]
    wcs.wcs.cd = np.array([[-1.0, 0.0], [0.0, 1.0]]) * SCALE_ARCSEC / 3600.0
    wcs.wcs.set()
    return wcs


def _frame(
    store: CatalogStore,
    tmp_path: Path,
    name: str,
    *,
    minutes: float,
    object_key: str | None = "M 42",
    size: tuple[int, int] = SIZE,
    header: dict[str, object] | None = None,
    solved_at: tuple[float, float] | None = None,
) -> tuple[str, str, Path]:
    """A frame in the catalog (key, fingerprint, path), solved at ``solved_at`` if given."""
    data = np.full((size[1], size[0]), 1000 + len(name), np.uint16)  # a content of its own
    date_obs = NIGHT + timedelta(minutes=minutes)
    cards = {"IMAGETYP": "LIGHT", "DATE-OBS": date_obs.strftime("%Y-%m-%dT%H:%M:%S")}
    path = write_fits(tmp_path / f"{name}.fits", data, {**cards, **(header or {})})
    key = _register(store, path)
    metadata = ImageMetadata(
        path=str(path),
        format="fits",
        width=size[0],
        height=size[1],
        frame_type=FrameType.LIGHT,
        object=object_key,
        date_obs=date_obs,
    )
    store.record_metadata(key, metadata, {}, object_key)
    fingerprint = content_fingerprint(path)
    if solved_at is not None:
        solution = solution_from_wcs(
            _wcs(*solved_at), *size, solver="local", image=path, source="a test"
        )
        store.save_solution(fingerprint, solution)
    return key, fingerprint, path


def _metadata(minutes: float, size: tuple[int, int] = SIZE) -> ImageMetadata:
    return ImageMetadata(
        path="x.fits",
        format="fits",
        width=size[0],
        height=size[1],
        frame_type=FrameType.LIGHT,
        date_obs=NIGHT + timedelta(minutes=minutes),
    )


SCALE_ONLY = SolveHints(scale_low_arcsec=8.0, scale_high_arcsec=12.0)


def test_the_nearest_solved_frame_of_the_night_gives_a_tight_hint(
    catalog_store: CatalogStore, tmp_path: Path
):
    _frame(catalog_store, tmp_path, "early", minutes=0, solved_at=(83.0, -5.0))
    _frame(catalog_store, tmp_path, "close", minutes=50, solved_at=M42)
    _frame(catalog_store, tmp_path, "unsolved", minutes=59)
    neighbour = find_neighbour(catalog_store, _metadata(60), SCALE_ONLY, object_key="M 42")
    assert neighbour is not None
    assert neighbour.minutes_apart == pytest.approx(10.0)
    hints = neighbour.hints
    assert (hints.ra_deg, hints.dec_deg) == pytest.approx(M42)
    assert hints.scale_low_arcsec == pytest.approx(SCALE_ARCSEC * 0.98, rel=1e-3)
    assert hints.scale_high_arcsec == pytest.approx(SCALE_ARCSEC * 1.02, rel=1e-3)


def test_no_neighbour_from_another_night_size_target_or_optics(
    catalog_store: CatalogStore, tmp_path: Path
):
    _frame(catalog_store, tmp_path, "yesterday", minutes=-24 * 60, solved_at=M42)
    _frame(catalog_store, tmp_path, "binned", minutes=5, size=(300, 200), solved_at=M42)
    _frame(catalog_store, tmp_path, "other target", minutes=5, object_key="M 31", solved_at=M42)
    assert find_neighbour(catalog_store, _metadata(0), SCALE_ONLY, object_key="M 42") is None
    # Another focal length: a scale outside the frame's own hint.
    _frame(catalog_store, tmp_path, "other optics", minutes=5, solved_at=M42)
    other_optics = SolveHints(scale_low_arcsec=3.0, scale_high_arcsec=4.0)
    assert find_neighbour(catalog_store, _metadata(0), other_optics, object_key="M 42") is None
    # Elsewhere than the frame's own hinted position.
    far = SolveHints(ra_deg=120.0, dec_deg=20.0, radius_deg=2.0)
    assert find_neighbour(catalog_store, _metadata(0), far, object_key="M 42") is None


def test_strong_hints_of_its_own_need_no_neighbour(catalog_store: CatalogStore, tmp_path: Path):
    _frame(catalog_store, tmp_path, "solved", minutes=5, solved_at=M42)
    strong = SolveHints(8.0, 12.0, ra_deg=83.8, dec_deg=-5.4, radius_deg=2.0)
    assert not weak_hints(strong)
    assert find_neighbour(catalog_store, _metadata(0), strong, object_key="M 42") is None
    assert find_neighbour(catalog_store, _metadata(0), SCALE_ONLY, object_key="M 42") is not None


def test_the_local_solver_gets_the_neighbour_and_nova_only_what_the_header_lacks(
    catalog_store: CatalogStore, tmp_path: Path
):
    _frame(catalog_store, tmp_path, "solved", minutes=0, solved_at=M42)
    # FOCALLEN and XPIXSZ give 10.3"/px: a scale, no pointing.
    optics = {"FOCALLEN": 75.3, "XPIXSZ": 3.76}
    key, _, _ = _frame(catalog_store, tmp_path, "next", minutes=3, header=optics)
    local = FakeSolver(_wcs(*M42), name="local")
    outcome = solve_plate(catalog_store, local, key)
    assert outcome.status == "ok", outcome.message
    (given,) = local.neighbours
    assert given is not None
    assert (given.ra_deg, given.dec_deg) == pytest.approx(M42)
    assert local.calls[0].hints is not None
    assert local.calls[0].hints.ra_deg is None  # its own hints are handed over unchanged

    nova = FakeSolver(_wcs(*M42), name="nova", caller_blind_fallback=True, blind_only=True)
    outcome = solve_plate(catalog_store, nova, key, force=True)
    assert outcome.status == "ok", outcome.message
    # Two uploads, as without a neighbour (hinted, then blind); the first carries the
    # neighbour's position beside the header's own scale.
    assert [call.hints is None for call in nova.calls] == [False, True]
    first = nova.calls[0].hints
    assert first is not None
    assert (first.ra_deg, first.dec_deg) == pytest.approx(M42)
    assert first.scale_low_arcsec == pytest.approx(0.8 * 10.3, rel=0.01)


def test_nova_without_any_hints_of_its_own_stays_one_blind_upload(
    catalog_store: CatalogStore, tmp_path: Path
):
    _frame(catalog_store, tmp_path, "solved", minutes=0, solved_at=M42)
    key, _, _ = _frame(catalog_store, tmp_path, "bare", minutes=3)
    nova = FakeSolver(_wcs(*M42), name="nova", caller_blind_fallback=True)
    solve_plate(catalog_store, nova, key)
    assert len(nova.calls) == 1  # no upload of the neighbour's own
    assert nova.calls[0].hints is not None
    assert nova.calls[0].hints.ra_deg is None  # the one upload stays as it was: blind
    assert merged_hints(None, SCALE_ONLY) is None


def test_without_neighbours_the_solver_gets_none(catalog_store: CatalogStore, tmp_path: Path):
    _frame(catalog_store, tmp_path, "solved", minutes=0, solved_at=M42)
    key, _, _ = _frame(catalog_store, tmp_path, "next", minutes=3)
    local = FakeSolver(_wcs(*M42), name="local")
    solve_plate(catalog_store, local, key, use_neighbours=False)
    assert local.neighbours == [None]
