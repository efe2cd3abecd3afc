"""Plate solvers behind one interface (:class:`~.base.PlateSolver`): the local astrometry.net
engine (:mod:`.local`), the nova web service (:mod:`.nova`) and none at all (:mod:`.none`), and
the factory that builds the configured one."""

from __future__ import annotations

from pathlib import Path

from astrocat_pipeline.adapters.solvers.base import (
    PlateSolver,
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.adapters.solvers.local import LocalSolver
from astrocat_pipeline.adapters.solvers.narrow import LocalWithNovaForNarrowFields
from astrocat_pipeline.adapters.solvers.none import NoSolver
from astrocat_pipeline.adapters.solvers.nova import NovaSolver
from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.tuning import NOVA_DEADLINE_S, SOLVER_BUDGET_S

__all__ = [
    "PlateSolver",
    "ProgressCallback",
    "SolutionVerifier",
    "SolveProgress",
    "build_solver",
]


def build_solver(
    solver: str,
    *,
    index_dir: Path | None = None,
    api_url: str = "",
    api_key: str | None = None,
    blind_fallback: bool = True,
    nova_deadline_s: float = NOVA_DEADLINE_S,
    solve_budget_s: float = SOLVER_BUDGET_S,
) -> PlateSolver:
    """The plate solver of a resolved ``ASTROCAT_SOLVER`` choice.

    Parameters
    ----------
    solver : str
        ``"local"``, ``"nova"`` or ``"none"`` (``"auto"`` is resolved before, by the settings).
    index_dir : Path, optional
        The local solver's index files (``ASTROMETRY_INDEX_DIR``); None: solve-field's own.
    api_url, api_key : str
        nova's API base URL and the account's key (``ASTROMETRY_API_URL``/``_KEY``); the
        nova solver needs them, and with them the local solver sends frames too narrow for
        its index files to nova.
    blind_fallback : bool
        Try once more without hints after a hinted miss (``ASTROCAT_SOLVER_BLIND_FALLBACK``).
    nova_deadline_s : float
        How long one nova upload may wait for its result (``ASTROCAT_NOVA_DEADLINE_S``).
    solve_budget_s : float
        Wall-clock budget of one local solve, hinted and blind together
        (``ASTROCAT_SOLVE_BUDGET_S``).

    Raises
    ------
    ConfigError
        ``solver`` is not one of the three, or nova's URL or deadline cannot work.
    """
    if solver == "local":
        local = LocalSolver(
            index_dir=index_dir, blind_fallback=blind_fallback, budget_s=solve_budget_s
        )
        if not api_key:
            return local
        # With a nova key, frames too narrow for the local index files go to nova.
        nova = NovaSolver(
            api_url, api_key, deadline_s=nova_deadline_s, blind_fallback=blind_fallback
        )
        return LocalWithNovaForNarrowFields(local, nova)
    if solver == "nova":
        return NovaSolver(
            api_url, api_key, deadline_s=nova_deadline_s, blind_fallback=blind_fallback
        )
    if solver == "none":
        return NoSolver()
    raise ConfigError(f"ASTROCAT_SOLVER={solver!r}: expected local, nova or none (resolved)")
