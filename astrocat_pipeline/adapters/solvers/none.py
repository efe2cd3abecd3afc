"""The solver of ``ASTROCAT_SOLVER=none``: it never solves, so every frame it is given is
``skipped`` with a message saying how to turn solving on."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from astrocat_pipeline.adapters.solvers.base import (
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.core.records import PlateSolution, SolveHints

if TYPE_CHECKING:
    from astrocat_pipeline.core.star_detect import DetectedStars

__all__ = ["NO_SOLVER_MESSAGE", "NoSolver"]

NO_SOLVER_MESSAGE = "no plate solver configured (ASTROCAT_SOLVER)"


class NoSolver:
    """A plate solver that answers ``skipped`` without reading anything.

    Its solutions name no solver (``solver=None``, as the JSON contract has it for skipped
    solutions), so ``name`` is None; it reports no progress and has nothing to resume.
    """

    name: str | None = None
    caller_blind_fallback = False

    def __repr__(self) -> str:
        return "NoSolver()"

    def input_file(self, image_path: Path) -> contextlib.nullcontext[Path]:
        """The image itself: nothing reads it."""
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
        """``skipped``, saying that no solver is configured (nothing to verify)."""
        return PlateSolution(status="skipped", error=NO_SOLVER_MESSAGE)
