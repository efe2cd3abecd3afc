"""The plate_solution step: status lifecycle in the catalog, nova resumption without a second
upload, the stale-solve cleanup, secrets, and non-FITS inputs through the real solve-field."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.solvers.base import SolveProgress
from astrocat_pipeline.adapters.solvers.local import LocalSolver
from astrocat_pipeline.adapters.solvers.nova import NovaSolver
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.cataloging.steps import solve_file, solve_plate, stale_solve_message
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.inventory import partition_key
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline_tests.adapters.solvers.nova_double import NovaDouble
from astrocat_pipeline_tests.adapters.solvers.test_nova import (
    HEIGHT,
    KEY,
    WIDTH,
    FakeClock,
    truth_wcs,
)
from astrocat_pipeline_tests.defs.conftest import needs_solver
from astrocat_pipeline_tests.image_files import write_fits, write_tiff, write_xisf
from astrocat_pipeline_tests.samples import needs_samples, sample


class Crash(Exception):  # noqa: N818 (stands in for a killed run, not an error type)
    pass


def _register(store: CatalogStore, path: Path) -> str:
    root = str(path.parent)
    key = partition_key(root, path.name)
    stat = path.stat()
    store.upsert_inventory(
        [InventoryEntry(root, path.name, stat.st_size, stat.st_mtime_ns, "fits", key)]
    )
    store.record_file(
        key,
        fingerprint=content_fingerprint(path),
        size_bytes=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
    )
    return key


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    data = np.full((HEIGHT, WIDTH), 1000, np.uint16)
    return write_fits(tmp_path / "M42 light.fits", data, {"IMAGETYP": "LIGHT", "OBJECT": "M42"})


def _nova(double: NovaDouble, fake: FakeClock, **kwargs) -> NovaSolver:
    return NovaSolver(
        double.api_url, KEY, poll_interval_s=5.0, clock=fake.clock, sleep=fake.sleep, **kwargs
    )


def test_nova_progress_is_recorded_and_a_crashed_run_resumes_without_uploading_again(
    catalog_store: CatalogStore, frame: Path, monkeypatch: pytest.MonkeyPatch
):
    key = _register(catalog_store, frame)
    fingerprint = content_fingerprint(frame)
    seen_statuses: list[str] = []
    run_solver = steps._run_solver

    def crash_once_a_job_exists(
        solver, path, width, height, hints, resume, on_progress, stars, checker, neighbour
    ):
        # The step's own callback records the progress; then the run "dies".
        def record_then_crash(progress: SolveProgress) -> None:
            on_progress(progress)
            seen_statuses.append(catalog_store.get_solution_row(fingerprint).status)
            if progress.job_id is not None:
                raise Crash

        return run_solver(
            solver, path, width, height, hints, resume, record_then_crash, stars, checker, neighbour
        )

    with NovaDouble(api_key=KEY, wcs_file=truth_wcs(), null_job_polls=2, solving_polls=3) as double:
        monkeypatch.setattr(steps, "_run_solver", crash_once_a_job_exists)
        with _nova(double, FakeClock()) as crashing, pytest.raises(Crash):
            solve_plate(catalog_store, crashing, key)
        monkeypatch.setattr(steps, "_run_solver", run_solver)
        row = catalog_store.get_solution_row(fingerprint)
        assert row.status == "processing"
        assert row.solver == "nova"
        assert row.submission_id
        assert row.job_id
        assert seen_statuses[0] == "submitted"

        # The cleanup fails it after 5 minutes without progress; a retry still resumes.
        failed = catalog_store.fail_stale_solutions(
            datetime.now(UTC) + timedelta(seconds=1), stale_solve_message(300)
        )
        assert failed == [fingerprint]
        assert catalog_store.get_solution_row(fingerprint).stale
        with _nova(double, FakeClock()) as resumed:
            outcome = solve_plate(catalog_store, resumed, key)
        assert len(double.uploads) == 1
    assert outcome.status == "ok", outcome.message
    row = catalog_store.get_solution_row(fingerprint)
    assert row.status == "solved"
    assert row.solver == "nova"
    assert not row.stale  # the new outcome replaced the cleanup's
    assert KEY not in json.dumps(dataclasses.asdict(row), default=str)
    assert outcome.metadata["attempts"][0]["solver"] == "nova"


def test_nova_hinted_failure_falls_back_to_a_blind_upload(catalog_store: CatalogStore, frame):
    key = _register(catalog_store, frame)
    with NovaDouble(api_key=KEY, wcs_file=truth_wcs(), job_outcome="failure") as double:
        with _nova(double, FakeClock()) as solver:
            outcome = solve_plate(catalog_store, solver, key, catalog=_M42_ONLY)
        assert len(double.uploads) == 2
        assert "center_ra" in double.uploads[0].request_json
        assert "center_ra" not in double.uploads[1].request_json
    assert outcome.status == "unsolved"  # nova found no solution: a result
    attempts = outcome.metadata["attempts"]
    assert [a["hints"] is not None for a in attempts] == [True, False]


class _OneObject:
    """An object catalog that knows M42 (hints from the OBJECT name)."""

    def resolve(self, name: str):
        from astrocat_pipeline.core.records import CatalogObject

        if name.replace(" ", "").upper() != "M42":
            return None
        return CatalogObject("NGC", "NGC 1976", "M 42", "HII", 83.82, -5.39)


_M42_ONLY = _OneObject()


def test_object_name_resolves_to_a_position_hint(frame):
    from astrocat_pipeline.cataloging.objects import object_position
    from astrocat_pipeline.core.hints import solve_hints
    from astrocat_pipeline.core.loading import read_header
    from astrocat_pipeline.core.metadata import normalize_metadata

    metadata = normalize_metadata(str(frame), read_header(frame))
    assert metadata.ra_deg is None
    hints = solve_hints(metadata, object_position(_M42_ONLY, metadata.object))
    assert (hints.ra_deg, hints.dec_deg) == (83.82, -5.39)


@needs_solver
@needs_samples
@pytest.mark.solver
@pytest.mark.parametrize("kind", ["tiff", "xisf"])
def test_non_fits_inputs_solve_with_the_local_solver(tmp_path, kind):
    data, _ = load_image(sample("synthetic/ra0_3deg.fits.gz"))
    truth = json.loads(sample("synthetic/ra0_3deg.truth.json").read_text())["wcs"]
    if kind == "tiff":
        path = write_tiff(tmp_path / "ra0 frame.tif", data)
    else:
        path = write_xisf(
            tmp_path / "ra0 frame.xisf", data, {"IMAGETYP": "LIGHT", "RA": 0.5, "DEC": 30.0}
        )
    solution, _ = solve_file(path, LocalSolver())
    assert solution.status == "solved", solution.error
    assert solution.geometry.ra_deg == pytest.approx(truth["CRVAL1"], abs=0.05) or (
        abs(solution.geometry.ra_deg - truth["CRVAL1"]) > 359.9
    )
    assert solution.geometry.dec_deg == pytest.approx(truth["CRVAL2"], abs=0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_attempts_are_kept_in_the_catalog(catalog_store: CatalogStore, frame):
    from astrocat_pipeline.core.records import PlateSolution, SolveAttempt, SolveHints

    hints = SolveHints(scale_low_arcsec=1.0, scale_high_arcsec=2.0)
    solution = PlateSolution(
        status="failed",
        solver="local",
        error="no solution",
        attempts=(
            SolveAttempt("local", hints, "no match", 1.5),
            SolveAttempt("local", None, "timed out", 90.0),
        ),
    )
    catalog_store.save_solution("sha256:abc", solution)
    assert catalog_store.get_solution("sha256:abc").attempts == solution.attempts
    row = catalog_store.get_solution_row("sha256:abc")
    assert [a.outcome for a in row.attempts] == ["no match", "timed out"]
