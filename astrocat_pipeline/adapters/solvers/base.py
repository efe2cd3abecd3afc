"""What the pipeline asks of any plate solver, so that it never needs to know which one it has.

Three solvers implement :class:`PlateSolver`: the local astrometry.net engine
(:mod:`.local`), the nova web service (:mod:`.nova`) and the one that never solves
(:mod:`.none`, ``ASTROCAT_SOLVER=none``). What differs between them is carried as data:

- ``name``: what solutions and progress rows record as their solver.
- progress: a solve reports :class:`SolveProgress` as it goes (local: ``processing`` when the
  engine starts; nova: ``submitted`` with the submission id after the upload, then
  ``processing`` with the job id), for the caller to store.
- resuming: the last progress stored is handed back as ``resume``; a solver whose work
  outlives its process (nova) waits for that job instead of starting again, the others ignore
  it.
- ``caller_blind_fallback``: whether the caller, not the solver, tries once more without hints
  after a hinted miss (nova: each call is one upload and one recorded attempt).
- ``input_file``: the file the solver is given for an image (nova: a FITS it can read).
- ``stars``: the frame's star list, when the caller has it (the catalog stores it from the one
  read of the file); the local solver then never reads the image (invariant 8).
- ``neighbour``: hints from a neighbouring frame's solution (the same night, optics and target),
  tried first by the local solver, then the frame's own hints and the blind search as usual.
- ``verify``: the caller's independent check of a candidate WCS (Hipparcos stars against the
  frame's stars, :mod:`~astrocat_pipeline.cataloging.solution_check`). A solver that tries
  several searches (the local one: hinted, then blind) calls it on each match and goes on after
  a rejected one; the caller checks the final answer again whatever the solver did.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from astrocat_pipeline.core.records import PlateSolution, SolveHints

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from astrocat_pipeline.core.solution_check import SolutionCheck
    from astrocat_pipeline.core.star_detect import DetectedStars

__all__ = ["PlateSolver", "ProgressCallback", "SolutionVerifier", "SolveProgress"]


@dataclass(frozen=True)
class SolveProgress:
    """Where an unfinished solve stands: what the catalog stores while it runs.

    ``status`` is ``"processing"`` (the local engine is running, or nova has a job for the
    upload) or ``"submitted"`` (nova has the upload but no job yet). ``submission_id`` and
    ``job_id`` are nova's ids, None until known and always None for the local solver. Handed back
    to a solver as ``resume``, it says which job to wait for instead of solving again.
    ``solver`` names the solver doing the work when it is not the caller's (a local solver that
    hands a frame to nova records nova's job as nova's, so that it is resumed after a crash).
    """

    status: str
    submission_id: int | None = None
    job_id: int | None = None
    solver: str | None = None


ProgressCallback = Callable[[SolveProgress], None]
# The caller's check of a candidate WCS (the frame's 0-based array pixels) given the star list
# the solver used (None if it has none): its verdict, ``rejected`` with the reason to give.
SolutionVerifier = Callable[["WCS", "DetectedStars | None"], "SolutionCheck"]


class PlateSolver(Protocol):
    """A plate solver the pipeline can use without knowing which one it is."""

    @property
    def name(self) -> str | None:
        """The solver recorded with its solutions and progress (``"local"``, ``"nova"``);
        None for a solver that never solves (its skipped solutions name no solver)."""
        ...

    @property
    def caller_blind_fallback(self) -> bool:
        """True when, after a hinted solve that failed, the caller should call :meth:`solve`
        once more without hints; False when the solver falls back by itself or must not."""
        ...

    def input_file(self, image_path: Path) -> AbstractContextManager[Path]:
        """A context giving the file to pass to :meth:`solve` for ``image_path`` (the file
        itself, or a converted copy in a temporary directory removed on exit)."""
        ...

    def solve(
        self,
        image_path: Path,
        width_px: int,
        height_px: int,
        hints: SolveHints | None,
        *,
        resume: SolveProgress | None = None,
        on_progress: ProgressCallback | None = None,
        stars: DetectedStars | None = None,
        verify: SolutionVerifier | None = None,
        neighbour: SolveHints | None = None,
    ) -> PlateSolution:
        """Plate-solve one image (the file :meth:`input_file` gave) of ``width_px`` x
        ``height_px`` pixels; ``verify`` checks each candidate WCS (see the module docstring).
        ``neighbour``: tight hints from a solved frame of the same night, tried before
        ``hints`` by a solver that tries several searches in one call (the local one); the
        others ignore it (their caller merges it into ``hints`` instead).

        Returns a ``solved`` solution, or a ``failed`` (or ``skipped``) one saying why, with
        every solver run in ``attempts``; reports progress to ``on_progress`` (what it raises
        propagates); with ``resume``, a solver that can continues that job. Raises
        :class:`~astrocat_pipeline.core.errors.SolverError` when the solver cannot be run at
        all or breaks its own protocol.
        """
        ...
