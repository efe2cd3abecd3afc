"""Stand-ins for outside systems in tests that need one but not the real thing.

:class:`FakeSolver` is a :class:`~astrocat_pipeline.adapters.solvers.base.PlateSolver` that
answers with a known WCS (the demo field's true one, say) or a failure, without astrometry.net
or nova, and records how it was called. Tests of a solver itself use the real ones (the
local engine, the nova double).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from astropy.wcs import WCS

from astrocat_pipeline.adapters.solvers.base import (
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.core.hints import usable_hints
from astrocat_pipeline.core.records import PlateSolution, SolveAttempt, SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.star_detect import DetectedStars

FAKE_ELAPSED_S = 0.25  # what each fake run says it took


@dataclass(frozen=True)
class SolveCall:
    """One call of :meth:`FakeSolver.solve`, as the solver saw it."""

    image_path: Path
    width_px: int
    height_px: int
    hints: SolveHints | None
    resume: SolveProgress | None


class FakeSolver:
    """A plate solver that answers from a given WCS instead of solving.

    Parameters
    ----------
    wcs : astropy.wcs.WCS, optional
        The solution every successful call returns; None: every call fails ("no match").
    name : str
        The solver name its solutions and progress carry.
    caller_blind_fallback : bool
        What it tells the caller (as nova does when True).
    blind_only : bool
        Fail every hinted call (a wrong hint), solve the blind ones.
    raises : Exception, optional
        Raise this from every call instead of answering (a solver that cannot run).
    progress : tuple of SolveProgress
        Reported, in order, at the start of every call.
    during_solve : callable, optional
        Called after the progress is reported, before answering (to look at the catalog
        while the "solve" runs).
    """

    def __init__(
        self,
        wcs: WCS | None = None,
        *,
        name: str = "fake",
        caller_blind_fallback: bool = False,
        blind_only: bool = False,
        raises: Exception | None = None,
        progress: tuple[SolveProgress, ...] = (SolveProgress("processing"),),
        during_solve: Callable[[], None] | None = None,
    ) -> None:
        self.wcs = wcs
        self.name = name
        self.caller_blind_fallback = caller_blind_fallback
        self.blind_only = blind_only
        self.raises = raises
        self.progress = progress
        self.during_solve = during_solve
        self.calls: list[SolveCall] = []
        self.inputs: list[Path] = []  # every image given to input_file
        self.star_lists: list[DetectedStars | None] = []  # the stars given to each call
        self.verifiers: list[SolutionVerifier | None] = []  # the check given to each call
        self.neighbours: list[SolveHints | None] = []  # the neighbour hints given to each call

    def input_file(self, image_path: Path) -> contextlib.nullcontext[Path]:
        self.inputs.append(image_path)
        return contextlib.nullcontext(image_path)

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
        self.calls.append(SolveCall(Path(image_path), width_px, height_px, hints, resume))
        self.star_lists.append(stars)
        self.verifiers.append(verify)
        self.neighbours.append(neighbour)
        for step in self.progress:
            if on_progress is not None:
                on_progress(step)
        if self.during_solve is not None:
            self.during_solve()
        if self.raises is not None:
            raise self.raises
        usable = usable_hints(hints)
        if self.wcs is None or (self.blind_only and usable is not None):
            return PlateSolution(
                status="failed",
                solver=self.name,
                hints_used=usable,
                elapsed_s=FAKE_ELAPSED_S,
                error=f"no solution for {Path(image_path).name} (fake)",
                attempts=(SolveAttempt(self.name, usable, "no match", FAKE_ELAPSED_S),),
            )
        solution = solution_from_wcs(
            self.wcs,
            width_px,
            height_px,
            solver=self.name,
            image=image_path,
            source="the fake solver",
            hints=usable,
            elapsed_s=FAKE_ELAPSED_S,
        )
        return dataclasses.replace(
            solution, attempts=(SolveAttempt(self.name, usable, "solved", FAKE_ELAPSED_S),)
        )
