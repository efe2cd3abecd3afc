"""The local solver, with nova for the frames too narrow for the installed index files.

Debian's Tycho-2 index files solve fields down to about 0.5° (with the 07-09 packages) or 1°-2°
(10-19 alone); nothing packaged solves narrower ones. When a nova key is set, such a frame
(the local solver says "no index for its scale", quickly, without searching) is sent to nova
instead of being left unsolved; every other frame stays local.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from astrocat_pipeline.adapters.solvers.base import (
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.adapters.solvers.local import NO_INDEX_OUTCOME, LocalSolver
from astrocat_pipeline.adapters.solvers.nova import NovaSolver
from astrocat_pipeline.core.records import PlateSolution, SolveHints
from astrocat_pipeline.core.star_detect import DetectedStars

__all__ = ["LocalWithNovaForNarrowFields"]


class LocalWithNovaForNarrowFields:
    """:class:`LocalSolver` first; nova for a frame no local index file has the scale of.

    Its ``name`` is the local solver's; a nova job it starts is recorded as nova's (its
    progress carries ``solver="nova"``), so that after a crash the next run resumes that job
    instead of uploading the frame again. The solution names the solver that solved it.
    """

    name = "local"
    caller_blind_fallback = False

    def __init__(self, local: LocalSolver, nova: NovaSolver) -> None:
        self.local = local
        self.nova = nova

    def input_file(self, image_path: Path) -> contextlib.nullcontext[Path]:
        return self.local.input_file(image_path)

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
        """The local solution, or nova's when the local solver has no index for the scale;
        a nova job an earlier run left (``resume``) is waited for, not solved again. ``verify``
        checks the local solver's matches; nova's answer is checked by the caller."""

        def nova_progress(progress: SolveProgress) -> None:
            if on_progress is not None:
                on_progress(dataclasses.replace(progress, solver="nova"))

        if resume is not None:
            with self.nova.input_file(image_path) as source:
                return self.nova.solve(
                    source, width_px, height_px, hints, resume=resume, on_progress=nova_progress
                )
        local = self.local.solve(
            image_path,
            width_px,
            height_px,
            hints,
            on_progress=on_progress,
            stars=stars,
            verify=verify,
            neighbour=neighbour,
        )
        if local.status == "solved" or not any(
            attempt.outcome == NO_INDEX_OUTCOME for attempt in local.attempts
        ):
            return local
        with self.nova.input_file(image_path) as source:
            remote = self.nova.solve(source, width_px, height_px, hints, on_progress=nova_progress)
        elapsed_s = (local.elapsed_s or 0.0) + (remote.elapsed_s or 0.0)
        if remote.status != "solved":
            remote = dataclasses.replace(remote, error=f"{local.error}; then nova: {remote.error}")
        return dataclasses.replace(
            remote, attempts=local.attempts + remote.attempts, elapsed_s=elapsed_s
        )

    def close(self) -> None:
        close = getattr(self.nova, "close", None)
        if close is not None:
            close()
