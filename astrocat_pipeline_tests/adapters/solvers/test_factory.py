"""build_solver: the configured solver behind the one interface, and the none solver."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrocat_pipeline.adapters.solvers import build_solver
from astrocat_pipeline.adapters.solvers.local import LocalSolver
from astrocat_pipeline.adapters.solvers.narrow import LocalWithNovaForNarrowFields
from astrocat_pipeline.adapters.solvers.none import NO_SOLVER_MESSAGE, NoSolver
from astrocat_pipeline.adapters.solvers.nova import NovaSolver
from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.records import SolveHints
from astrocat_pipeline.settings import Settings

KEY = "novaKEY7f3a9c21d4e8b6"
URL = "https://nova.astrometry.net/api/"


@pytest.mark.parametrize("blind_fallback", [True, False])
def test_local_falls_back_blind_by_itself(tmp_path: Path, blind_fallback: bool):
    solver = build_solver("local", index_dir=tmp_path, blind_fallback=blind_fallback)
    assert isinstance(solver, LocalSolver)
    assert (solver.name, solver.caller_blind_fallback) == ("local", False)
    assert (solver.index_dir, solver.blind_fallback) == (tmp_path, blind_fallback)
    with solver.input_file(tmp_path / "a.cr2") as given:
        assert given == tmp_path / "a.cr2"  # it reads every format itself


@pytest.mark.parametrize("blind_fallback", [True, False])
def test_nova_leaves_the_blind_upload_to_its_caller(blind_fallback: bool):
    solver = build_solver(
        "nova", api_url=URL, api_key=KEY, blind_fallback=blind_fallback, nova_deadline_s=42.0
    )
    assert isinstance(solver, NovaSolver)
    assert (solver.name, solver.caller_blind_fallback) == ("nova", blind_fallback)
    assert solver.deadline_s == 42.0
    assert KEY not in repr(solver)
    solver.close()


def test_the_settings_choice_builds_its_solver(tmp_path: Path):
    environ = {"ASTROCAT_HOME": str(tmp_path), "ASTROMETRY_API_KEY": KEY}
    kinds = (("local", LocalWithNovaForNarrowFields), ("nova", NovaSolver), ("none", NoSolver))
    for choice, kind in kinds:
        settings = Settings.from_env({**environ, "ASTROCAT_SOLVER": choice})
        solver = build_solver(
            settings.solver,
            index_dir=settings.index_dir,
            api_url=settings.api_url,
            api_key=settings.api_key,
        )
        assert isinstance(solver, kind)


def test_the_none_solver_skips_without_reading_the_file(tmp_path: Path):
    solver = build_solver("none")
    assert (solver.name, solver.caller_blind_fallback) == (None, False)
    progress: list[object] = []
    solution = solver.solve(
        tmp_path / "not there.fits",
        100,
        100,
        SolveHints(ra_deg=1.0, dec_deg=2.0, radius_deg=3.0),
        on_progress=progress.append,
    )
    assert (solution.status, solution.solver, solution.error) == (
        "skipped",
        None,
        NO_SOLVER_MESSAGE,
    )
    assert progress == []


@pytest.mark.parametrize("choice", ["auto", "astap", ""])
def test_an_unresolved_or_unknown_choice_is_a_config_error(choice: str):
    with pytest.raises(ConfigError, match="ASTROCAT_SOLVER"):
        build_solver(choice)


def test_nova_without_a_url_is_a_config_error():
    with pytest.raises(ConfigError, match="nova API URL"):
        build_solver("nova", api_key=KEY)


def test_local_with_a_nova_key_sends_only_narrow_fields_to_nova(tmp_path: Path):
    solver = build_solver("local", index_dir=tmp_path, api_url=URL, api_key=KEY, solve_budget_s=4.0)
    assert isinstance(solver, LocalWithNovaForNarrowFields)
    assert (solver.name, solver.caller_blind_fallback) == ("local", False)
    assert (solver.local.index_dir, solver.local.budget_s) == (tmp_path, 4.0)
    assert KEY not in repr(solver.local)
    solver.close()
