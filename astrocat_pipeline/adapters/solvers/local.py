"""Local plate solving with astrometry.net's engine and its index files.

``solve-field`` is a pipeline of programs: it converts the image (a Python helper), extracts stars
(image2xy), filters and reorders the star list (two more Python helpers), writes a job file (an
"augmented xylist", ``.axy``) and runs ``astrometry-engine`` on it. With a position hint the
engine needs ~0.03 s and the rest took 0.6-1.3 s (bench/solve_bench.py). So this adapter does
the steps before the engine itself: it loads the frame with the project's loader (any format),
finds its stars in-process (:mod:`~astrocat_pipeline.core.star_detect`, including
solve-field's default list filters), writes the job file with the options solve-field would
(``--crpix-center``, ``--no-tweak``, scale and position hints, CPU limit) and runs
``astrometry-engine``, the same program solve-field runs, with a configuration listing only the
index files whose quad sizes fit the hinted scale (the engine's own selection rule, so the
search is unchanged; the engine just skips loading the others).

Every run happens in a fresh temporary directory: nothing is written next to the source image.
The engine exits 0 whether or not it found a solution, so success is the presence of
``job.solved``/``job.wcs``; its CPU limit overshoots several times over (2-3x, and 6x
measured with a 3 s limit), so each run also has a wall-clock timeout after which its whole
process group is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from astrocat_pipeline.adapters.solvers.base import (
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.adapters.solvers.blind_plan import BlindPass, blind_passes
from astrocat_pipeline.adapters.solvers.engine_files import FitsTableError, read_column
from astrocat_pipeline.core.errors import SolverError
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.hints import hint_disagreements, usable_hints
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.records import PlateSolution, SolveAttempt, SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.star_detect import DetectedStars, uniformize
from astrocat_pipeline.core.tuning import (
    SOLVER_BUDGET_MARGIN_S,
    SOLVER_BUDGET_S,
    SOLVER_BUDGET_WALL_SLACK,
    SOLVER_CPU_LIMIT_S,
    SOLVER_HINTED_BUDGET_SHARE,
    SOLVER_MAX_STARS,
    SOLVER_MIN_LOG_ODDS,
    SOLVER_MIN_STARS,
    SOLVER_NEIGHBOUR_CPU_S,
    SOLVER_PARALLEL_INDEX_MAX_BYTES,
    SOLVER_WALL_TIMEOUT_S,
)
from astrocat_pipeline.core.wcs_geometry import celestial_wcs

__all__ = ["DEBIAN_INDEX_DIR", "NO_INDEX_OUTCOME", "LocalSolver"]

# Where Debian's astrometry-data-* packages install index files, and the config file that
# Debian's solve-field reads when it is not given --config.
DEBIAN_INDEX_DIR = Path("/usr/share/astrometry")
_DEBIAN_CONFIG = Path("/etc/astrometry.cfg")
_INDEX_GLOB = "index-*.fits"
# The outcome of an attempt whose hinted scale no installed index file covers.
NO_INDEX_OUTCOME = "no index for its scale"
_STDERR_TAIL_CHARS = 2000
# astrometry-engine searches an index when its quads (SCALE_L..SCALE_U) overlap
# [0.1 × shorter side × lowest scale, 1.0 × diagonal × highest scale] (DEFAULT_QSF_LO/HI in
# onefield.c, used in engine.c); the adapter selects index files with the same rule.
_QUAD_SIZE_FRACTION_LO = 0.1
_QUAD_SIZE_FRACTION_HI = 1.0
_RADIAN_ARCSEC = 180.0 / math.pi * 3600.0


@dataclass(frozen=True)
class _Attempt:
    """Outcome of one astrometry-engine run."""

    hints: SolveHints | None
    header: fits.Header | None  # job.wcs, when solved
    timed_out: bool
    elapsed_s: float
    no_index: bool = False  # not run: no index file has quads of the hinted scale
    log_odds: float | None = None  # the engine's confidence in its match (natural log)
    rejected: str | None = None  # why a match the engine found is not taken as the solution
    budget_s: float = 0.0  # the wall-clock time this run was allowed
    cpu_share_s: float | None = None  # set when the run was stopped at its share of the budget


class LocalSolver:
    """Plate-solve image files with a local astrometry.net (``astrometry-engine``).

    Parameters
    ----------
    index_dir : Path, optional
        Directory of astrometry.net index files (``index-*.fits``). When None, the directories
        solve-field's own configuration names (on Debian ``/etc/astrometry.cfg``, which points
        at ``/usr/share/astrometry``).
    executable : str
        The astrometry-engine command (installed with solve-field), looked up on PATH unless it
        is a path.
    cpu_limit_s : float
        The engine's CPU limit for each run (it overshoots; see ``timeout_s``).
    timeout_s : float
        Wall-clock limit of each engine run; the run's process group is killed after it.
        A hinted run and its blind fallback each get this much.
    blind_fallback : bool
        When a hinted run finds nothing (or times out), try once more without hints (the
        solver does it itself: ``caller_blind_fallback`` is False).
    budget_s : float
        CPU-time budget of one whole solve, loading, star finding, hinted and blind runs
        together (``ASTROCAT_SOLVE_BUDGET_S``): a frame that cannot be solved gives up after
        about this much of one core. A hinted run that a blind one may follow gets
        ``SOLVER_HINTED_BUDGET_SHARE`` of what is left, the last run the rest; each run is
        also killed after ``SOLVER_BUDGET_WALL_SLACK`` times its share of wall-clock time.
    """

    name = "local"
    caller_blind_fallback = False

    def __init__(
        self,
        index_dir: Path | None = None,
        executable: str = "astrometry-engine",
        cpu_limit_s: float = SOLVER_CPU_LIMIT_S,
        timeout_s: float = SOLVER_WALL_TIMEOUT_S,
        blind_fallback: bool = True,
        budget_s: float = SOLVER_BUDGET_S,
    ) -> None:
        if not budget_s > 0:
            raise ValueError(f"budget_s must be positive, got {budget_s}")
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.budget_s = budget_s
        self.executable = executable
        self.cpu_limit_s = cpu_limit_s
        self.timeout_s = timeout_s
        self.blind_fallback = blind_fallback
        # Quad sizes (arcsec) of each index file, read from its header once per solver.
        self._index_scales: dict[Path, tuple[float, float] | None] = {}

    def __repr__(self) -> str:
        return (
            f"LocalSolver(index_dir={self.index_dir!r}, executable={self.executable!r}, "
            f"cpu_limit_s={self.cpu_limit_s}, timeout_s={self.timeout_s}, "
            f"blind_fallback={self.blind_fallback}, budget_s={self.budget_s})"
        )

    # --- availability ---------------------------------------------------------------------

    def _index_dirs(self) -> list[Path]:
        """Directories searched for index files."""
        if self.index_dir is not None:
            return [self.index_dir]
        dirs = []
        if _DEBIAN_CONFIG.is_file():
            for line in _DEBIAN_CONFIG.read_text(encoding="utf-8", errors="replace").splitlines():
                words = line.strip().split(maxsplit=1)
                if len(words) == 2 and words[0] == "add_path":
                    dirs.append(Path(words[1].strip()))
        return dirs or [DEBIAN_INDEX_DIR]

    def index_files(self) -> list[Path]:
        """The index files the engine may load, sorted; empty if there are none."""
        found: list[Path] = []
        for directory in self._index_dirs():
            if directory.is_dir():
                found.extend(p for p in directory.glob(_INDEX_GLOB) if p.is_file())
        return sorted(found)

    def available(self) -> bool:
        """True if astrometry-engine is on PATH and there is at least one index file."""
        return shutil.which(self.executable) is not None and bool(self.index_files())

    def _require_ready(self) -> tuple[str, list[Path]]:
        executable = shutil.which(self.executable)
        if executable is None:
            raise SolverError(
                f"astrometry.net's {self.executable!r} is not on PATH; install the Debian "
                "package astrometry.net or choose another solver"
            )
        index_files = self.index_files()
        if not index_files:
            where = ", ".join(str(d) for d in self._index_dirs())
            raise SolverError(
                f"no astrometry.net index files ({_INDEX_GLOB}) in {where}; install "
                "astrometry-data-tycho2-10-19-littleendian or set ASTROMETRY_INDEX_DIR"
            )
        unusable = [f for f in index_files if "\n" in str(f.resolve())]
        if unusable:
            raise SolverError(f"index file path {str(unusable[0])!r} contains a newline")
        return executable, index_files

    # --- solving --------------------------------------------------------------------------

    def input_file(self, image_path: Path) -> contextlib.nullcontext[Path]:
        """The image itself: the solver loads any format and finds its stars in-process."""
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
        """Plate-solve one image file.

        Parameters
        ----------
        image_path : Path
            Any image the project's loader reads (FITS, XISF, camera raw, TIFF, PNG, JPEG). It
            is only read; any name works (spaces, quotes, commas, unicode).
        width_px, height_px : int
            Size of the frame in pixels; the geometry is computed for it and must match the
            loaded image.
        hints : SolveHints, optional
            Scale and/or position hints; incomplete parts (a scale without both bounds, a
            position without a radius) are not used.
        resume : SolveProgress, optional
            Ignored: a local run does not outlive its process, so there is nothing to resume.
        on_progress : callable, optional
            Called once with ``SolveProgress("processing")`` when the work starts; what it
            raises propagates.
        stars : DetectedStars, optional
            The frame's stars, found already in the ``width_px`` x ``height_px`` frame
            (brightest first, 0-based array pixels; the catalog stores them from the one read
            of the file): the image is then not read at all. None: they are found here.
        neighbour : SolveHints, optional
            Tight hints from a solved frame of the same night (same optics and target), tried
            before ``hints``; the frame's own hints and the blind search follow if it finds
            nothing, all within the one budget.
        verify : callable, optional
            The caller's independent check of each match the engine finds (given the match's
            WCS and the star list used here): a rejected match is not taken and the next
            search (blind, after a hinted one) goes on within the same budget.

        Returns
        -------
        PlateSolution
            ``status="solved"`` with geometry, WCS text and the hints of the attempt that
            succeeded (None for the blind one), or ``status="failed"`` with an error saying what
            was tried. ``elapsed_s`` covers everything from loading the image to the last
            attempt; each attempt's own ``elapsed_s`` covers its engine run.

        Raises
        ------
        SolverError
            astrometry-engine is missing, there are no index files, it crashed (non-zero exit,
            stderr tail included), or the image does not have the given frame size
            (:class:`~astrocat_pipeline.core.errors.InvalidSolutionError` when its solution is
            not one of this frame).
        FileNotFoundError
            ``image_path`` is not a file.
        ImageReadError, UnsupportedFormatError
            The file cannot be read as an image.
        """
        executable, index_files = self._require_ready()
        image_path = Path(image_path)
        if not image_path.is_file():
            raise FileNotFoundError(f"image to plate-solve not found: {image_path}")
        if width_px < 1 or height_px < 1:
            raise ValueError(
                f"{image_path}: frame size must be positive, got {width_px}x{height_px}"
            )

        usable = usable_hints(hints)
        plan: list[SolveHints | None] = [usable] if usable is not None else []
        from_neighbour = usable_hints(neighbour)
        if from_neighbour is not None and from_neighbour != usable:
            # Tried first; the frame's own hints and the blind search follow if it fails (a
            # wrong neighbour costs its share of the budget, never the solution).
            plan.insert(0, from_neighbour)
        if usable is None or self.blind_fallback:
            plan.append(None)

        if on_progress is not None:
            on_progress(SolveProgress("processing"))
        started = time.monotonic()
        cpu = _CpuClock()
        if stars is None:
            stars = self._stars(image_path, width_px, height_px)
        if len(stars) < SOLVER_MIN_STARS:
            return PlateSolution(
                status="failed",
                solver="local",
                hints_used=usable,
                elapsed_s=time.monotonic() - started,
                error=f"no solution for {image_path.name}: too few stars ({len(stars)} found, "
                f"at least {SOLVER_MIN_STARS} needed)",
            )
        attempts: list[_Attempt] = []
        solution: PlateSolution | None = None
        out_of_time = False
        with tempfile.TemporaryDirectory(prefix="astrocat-solve-") as tmp:
            work = Path(tmp)
            for number, attempt_hints in enumerate(plan, start=1):
                # SOLVER_BUDGET_MARGIN_S is kept for what a run costs after its share is spent
                # (the last poll, the kill, reading its answer), so the whole stays within.
                remaining = self.budget_s - SOLVER_BUDGET_MARGIN_S - cpu.spent_s()
                if remaining <= 0:
                    out_of_time = True
                    break
                last = number == len(plan)
                allowed = remaining if last else remaining * SOLVER_HINTED_BUDGET_SHARE
                if number == 1 and attempt_hints is not None and attempt_hints is from_neighbour:
                    # A neighbour's hint is tight: right, it solves in a tenth of a second;
                    # wrong, the rest of the budget is the frame's own.
                    allowed = min(allowed, SOLVER_NEIGHBOUR_CPU_S)
                attempt = self._run(
                    executable,
                    index_files,
                    stars,
                    work / f"attempt{number}",
                    (width_px, height_px),
                    attempt_hints,
                    allowed,
                    cpu,
                )
                if attempt.header is not None:
                    solution, problem = self._verified(
                        attempt, image_path, width_px, height_px, usable, stars, verify
                    )
                    if problem is not None:
                        attempt = dataclasses.replace(attempt, rejected=problem)
                        solution = None
                attempts.append(attempt)
                if solution is not None:
                    break
                if attempt.no_index and attempt_hints is not None and attempt_hints.has_scale:
                    # The frame's scale is known and no index file has quads that fit it: a
                    # blind search would search the wrong indexes until the budget runs out.
                    break
        elapsed_s = time.monotonic() - started
        records = tuple(
            SolveAttempt(solver="local", hints=a.hints, outcome=_outcome(a), elapsed_s=a.elapsed_s)
            for a in attempts
        )
        if solution is None:
            reasons = [self._describe(a, width_px, height_px) for a in attempts]
            if out_of_time:
                reasons.append(f"gave up: the {self.budget_s:g} s budget was spent")
            return PlateSolution(
                status="failed",
                solver="local",
                hints_used=usable,
                elapsed_s=elapsed_s,
                error=f"no solution for {image_path.name}: " + "; ".join(reasons),
                attempts=records,
            )
        return dataclasses.replace(solution, elapsed_s=elapsed_s, attempts=records)

    def _verified(
        self,
        attempt: _Attempt,
        image_path: Path,
        width_px: int,
        height_px: int,
        frame_hints: SolveHints | None,
        stars: DetectedStars,
        verify: SolutionVerifier | None,
    ) -> tuple[PlateSolution, str | None]:
        """The attempt's solution, and why it must not be taken (None when it may): the
        engine's log-odds below ``SOLVER_MIN_LOG_ODDS``, a field that disagrees with the
        frame's own hints (a blind run may match anywhere on the sky), or the caller's
        ``verify`` rejecting it (reference stars that do not land on the frame's stars)."""
        assert attempt.header is not None
        celestial = celestial_wcs(attempt.header)
        solution = solution_from_wcs(
            celestial if celestial is not None else attempt.header,
            width_px,
            height_px,
            solver="local",
            image=image_path,
            source="astrometry-engine",
            solved_size_px=(attempt.header.get("IMAGEW"), attempt.header.get("IMAGEH")),
            hints=attempt.hints,
            elapsed_s=attempt.elapsed_s,
        )
        if attempt.log_odds is None or attempt.log_odds < SOLVER_MIN_LOG_ODDS:
            odds = "unknown" if attempt.log_odds is None else f"{attempt.log_odds:.1f}"
            return solution, f"log-odds {odds} below {SOLVER_MIN_LOG_ODDS:.1f}"
        assert solution.geometry is not None
        problems = hint_disagreements(solution.geometry, frame_hints)
        if problems:
            return solution, "disagrees with the header's hints: " + "; ".join(problems)
        if verify is not None:
            assert celestial is not None  # solution_from_wcs raised otherwise
            verdict = verify(celestial, stars)
            if verdict.rejected:
                return solution, verdict.reason
        return solution, None

    @staticmethod
    def _stars(image_path: Path, width_px: int, height_px: int) -> DetectedStars:
        """The frame's stars, brightest first, without the lines of artefacts solve-field's
        removelines step would cut; in the frame's own 0-based pixels."""
        data, header = load_image(image_path)
        found = (data.shape[1], data.shape[0])
        if found != (width_px, height_px):
            raise SolverError(
                f"{image_path}: the solver would see a {found[0]}x{found[1]} px image but the "
                f"frame is {width_px}x{height_px} px (another HDU or a resampled copy?)"
            )
        # Big frames oversample their stars: detected on 2×2 block means, as solve-field's
        # --downsample 2 did, and a one-shot-colour mosaic on 2×2 superpixels; positions still
        # refer to the full frame. The same list as the one the indexing stores
        # (core/frame_stars.py).
        return frame_stars(data, cfa=header.bayer_pattern is not None)

    def _describe(self, attempt: _Attempt, width_px: int, height_px: int) -> str:
        what = "blind" if attempt.hints is None else f"hinted ({_describe_hints(attempt.hints)})"
        if attempt.rejected is not None:
            return f"{what}: a match was rejected ({attempt.rejected})"
        if attempt.no_index:
            hints = attempt.hints
            assert hints is not None
            assert hints.scale_high_arcsec is not None
            field_deg = max(width_px, height_px) * hints.scale_high_arcsec / 3600.0
            return (
                f"{what}: no index for its scale (a field of at most {field_deg:.2g}°; no "
                "installed index file has quads that fit it: install narrower ones "
                "(scripts/setup with ASTROCAT_NARROW_INDEXES=1) or use nova)"
            )
        if attempt.cpu_share_s is not None:
            return (
                f"{what}: no match within its {attempt.cpu_share_s:.2g} s of the "
                f"{self.budget_s:g} s CPU budget"
            )
        if attempt.timed_out:
            return f"{what}: timed out after {attempt.budget_s:.3g} s"
        return f"{what}: no match ({attempt.elapsed_s:.1f} s)"

    # --- the engine job -------------------------------------------------------------------

    def _index_scale(self, index_file: Path) -> tuple[float, float] | None:
        """The (smallest, largest) quad size of an index file in arcsec; None if its header
        does not say (such a file is always listed)."""
        if index_file not in self._index_scales:
            scale: tuple[float, float] | None = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyWarning)
                try:
                    header = fits.getheader(index_file)
                except OSError:
                    header = fits.Header()  # the engine will report what is wrong with it
            low, high = header.get("SCALE_L"), header.get("SCALE_U")  # radians
            if isinstance(low, float) and isinstance(high, float):
                scale = (low * _RADIAN_ARCSEC, high * _RADIAN_ARCSEC)
            self._index_scales[index_file] = scale
        return self._index_scales[index_file]

    def _indexes_for(
        self, index_files: list[Path], size_px: tuple[int, int], hints: SolveHints | None
    ) -> list[Path]:
        """The index files the engine would search for this frame and scale hint (all of them
        without a scale), smallest quads first."""
        by_scale = sorted(
            index_files, key=lambda f: (self._index_scale(f) or (math.inf, math.inf), f)
        )
        low = hints.scale_low_arcsec if hints is not None else None
        high = hints.scale_high_arcsec if hints is not None else None
        if low is None or high is None:
            return by_scale  # every index may hold the frame's quads
        width_px, height_px = size_px
        quad_low = _QUAD_SIZE_FRACTION_LO * min(width_px, height_px) * low
        quad_high = _QUAD_SIZE_FRACTION_HI * math.hypot(width_px, height_px) * high
        return [
            index_file
            for index_file in by_scale
            if (scale := self._index_scale(index_file)) is None
            or (scale[0] <= quad_high and quad_low <= scale[1])
        ]

    def _write_job(
        self,
        out: Path,
        index_files: list[Path],
        stars: DetectedStars,
        size_px: tuple[int, int],
        hints: SolveHints | None,
        cpu_limit_s: float,
        blind_pass: BlindPass | None = None,
    ) -> tuple[Path, Path]:
        """Write the engine's configuration and job file (``.axy``) into ``out``; returns their
        paths. The job file holds what solve-field's augment-xylist step writes for our
        options; output names are relative to ``out``, the engine's working directory."""
        cpu_limit = max(1, math.ceil(cpu_limit_s))
        config = out / "astrometry.cfg"
        # Without a scale every index is searched, and the engine searches one index after the
        # other, all depths each: whichever comes first costs 1-3 s whenever its quads do not
        # fit the field (index 10 first: +1.3-2 s on 10°-40° fields; index 19 first, the
        # engine's own order: +0.4-2.8 s on the demo's 3° fields). In parallel, every index is
        # tried at each depth in turn, so the search ends at the first depth any index solves
        # (0.05-0.2 s on both kinds, measured; bench/README.md). With a scale only the few fitting
        # indexes are listed, and one at a time keeps the memory low; so does a large index set.
        blind_scale = hints is None or not hints.has_scale
        fits_in_memory = (
            sum(index_file.stat().st_size for index_file in index_files)
            <= SOLVER_PARALLEL_INDEX_MAX_BYTES
        )
        parallel = "inparallel\n" if blind_scale and fits_in_memory else ""
        # `index` takes the rest of the line, so paths with spaces work (newlines are refused).
        config.write_text(
            f"cpulimit {cpu_limit}\n{parallel}"
            + "".join(f"index {index_file.resolve()}\n" for index_file in index_files),
            encoding="utf-8",
        )
        if hints is None:
            # Blind: solve-field's default list order, spread over the frame (uniformize).
            stars = uniformize(stars.head(SOLVER_MAX_STARS))
        else:
            # With a hint, brightest first: as fast on the demo frames (engine median 0.025 s
            # either way), and uniformize slowed the TIFF's search from 0.02 s to 0.2 s.
            stars = stars.head(SOLVER_MAX_STARS)
        width_px, height_px = size_px
        header = fits.Header()
        header["IMAGEW"] = (width_px, "image width")
        header["IMAGEH"] = (height_px, "image height")
        header["ANRUN"] = (True, "Solve this field!")
        header["ANCLIM"] = (cpu_limit, "CPU time limit (seconds)")
        header["ANVERUNI"] = (True, "Uniformize field during verification")
        header["ANVERDUP"] = (False, "Deduplicate field during verification")
        header["ANCRPIXC"] = (True, "Set CRPIX to the image center")  # --crpix-center
        # --no-tweak: the SIP fit over-fits when few stars match (docs/plate-solving.md).
        header["ANTWEAK"] = (False, "Tweak: no, thanks")
        header["ANSOLVED"] = ("job.solved", "solved output file")
        header["ANWCS"] = ("job.wcs", "WCS header output filename")
        # The match file carries the engine's log-odds, which the solution is checked against.
        header["ANMATCH"] = ("job.match", "match output file")
        if hints is not None and hints.has_scale:
            header["ANAPPL1"] = (hints.scale_low_arcsec, "scale: arcsec/pixel min")
            header["ANAPPU1"] = (hints.scale_high_arcsec, "scale: arcsec/pixel max")
        if blind_pass is not None and blind_pass.code_tolerance is not None:
            # One pass of a blind search (blind_plan.py): solve-field's --code-tolerance.
            header["ANCTOL"] = (blind_pass.code_tolerance, "code tolerance")
        if hints is not None and hints.has_position:
            header["ANERA"] = (hints.ra_deg, "RA center estimate (deg)")
            header["ANEDEC"] = (hints.dec_deg, "Dec center estimate (deg)")
            header["ANERAD"] = (hints.radius_deg, "Search radius from estimated posn (deg)")
        # Star lists are in FITS pixel coordinates: 1-based.
        table = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="X", format="D", unit="pix", array=stars.x_px + 1.0),
                fits.Column(name="Y", format="D", unit="pix", array=stars.y_px + 1.0),
                fits.Column(name="FLUX", format="D", array=stars.flux),
            ]
        )
        job = out / "job.axy"
        fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(job)
        return config, job

    def _run_blind(
        self,
        executable: str,
        index_files: list[Path],
        stars: DetectedStars,
        out: Path,
        size_px: tuple[int, int],
        allowed_s: float,
        clock: _CpuClock | None,
    ) -> _Attempt:
        """A blind search in the passes of :func:`blind_passes`, each given its share of what
        is left of ``allowed_s``; the first pass that finds a match ends it."""
        started = time.monotonic()
        clock = clock if clock is not None else _CpuClock()
        spent_before = clock.spent_s()
        passes = blind_passes()
        attempt: _Attempt | None = None
        budget_s = 0.0  # the time the passes were allowed, together
        for number, blind_pass in enumerate(passes, start=1):
            left = allowed_s - (clock.spent_s() - spent_before)
            if left <= 0:
                break
            attempt = self._run(
                executable,
                index_files,
                stars,
                out / f"pass{number}",
                size_px,
                None,
                left * blind_pass.share,
                clock,
                blind_pass,
            )
            budget_s += attempt.budget_s
            if attempt.header is not None or attempt.no_index:
                break
        if attempt is None:
            return _Attempt(hints=None, header=None, timed_out=True, elapsed_s=0.0)
        return dataclasses.replace(attempt, elapsed_s=time.monotonic() - started, budget_s=budget_s)

    def _run(
        self,
        executable: str,
        index_files: list[Path],
        stars: DetectedStars,
        out: Path,
        size_px: tuple[int, int],
        hints: SolveHints | None,
        allowed_s: float,
        clock: _CpuClock | None = None,
        blind_pass: BlindPass | None = None,
    ) -> _Attempt:
        if hints is None and blind_pass is None:
            return self._run_blind(executable, index_files, stars, out, size_px, allowed_s, clock)
        started = time.monotonic()
        selected = self._indexes_for(index_files, size_px, hints)
        if not selected:
            # The engine would load every index, use none and find nothing.
            return _Attempt(hints=hints, header=None, timed_out=False, elapsed_s=0.0, no_index=True)
        out.mkdir(parents=True)
        # The budget is CPU time (the engine's own limit); the wall clock only guards against
        # the limit's overshoot and a busy machine, with SOLVER_BUDGET_WALL_SLACK to spare.
        cpu_limit_s = min(self.cpu_limit_s, allowed_s)
        wall_s = min(self.timeout_s, allowed_s * SOLVER_BUDGET_WALL_SLACK + 1.0)
        config, job = self._write_job(out, selected, stars, size_px, hints, cpu_limit_s, blind_pass)
        timed_out = False
        with (out / "stdout.log").open("wb") as stdout, (out / "stderr.log").open("wb") as stderr:
            # A session of its own so that a timeout kills whatever the engine started too.
            process = subprocess.Popen(
                [executable, "--config", str(config), str(job)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=out,
                start_new_session=True,
            )
            try:
                returncode, engine_cpu_s = _wait(process, wall_s, allowed_s)
                timed_out = returncode is None
                if clock is not None:
                    clock.add_engine(engine_cpu_s)
            finally:
                if process.returncode is None:
                    # Still running (timeout, or an exception such as KeyboardInterrupt): the
                    # group id is still reserved because the leader is not reaped yet.
                    _kill_group(process)
        if timed_out:
            elapsed_s = time.monotonic() - started
            return _Attempt(
                hints=hints,
                header=None,
                timed_out=True,
                elapsed_s=elapsed_s,
                budget_s=min(wall_s, allowed_s),
                cpu_share_s=allowed_s if engine_cpu_s >= allowed_s else None,
            )
        if returncode != 0:
            tail = (out / "stderr.log").read_text(encoding="utf-8", errors="replace")
            tail = tail[-_STDERR_TAIL_CHARS:].strip()
            raise SolverError(
                f"astrometry-engine failed on {job} with exit code {returncode}:\n{tail}"
            )
        wcs_path = out / "job.wcs"
        header = None
        if (out / "job.solved").exists() and wcs_path.exists():
            with warnings.catch_warnings():
                # The engine copies paths (the index files', say) into HISTORY cards as raw
                # bytes; astropy replaces non-ASCII ones with "?" and warns.
                warnings.simplefilter("ignore", AstropyWarning)
                header = fits.getheader(wcs_path)
        elapsed_s = time.monotonic() - started
        return _Attempt(
            hints=hints,
            header=header,
            timed_out=False,
            elapsed_s=elapsed_s,
            log_odds=_log_odds(out / "job.match") if header is not None else None,
            budget_s=min(wall_s, allowed_s),
        )


# How often a running engine's CPU time is looked at.
_CPU_POLL_S = 0.05
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _wait(
    process: subprocess.Popen[bytes], wall_s: float, cpu_s: float
) -> tuple[int | None, float]:
    """(the engine's exit code, the CPU seconds it used), the code None once it has used
    ``cpu_s`` of CPU time (its own limit overshoots 2-3×, and whole seconds only) or
    ``wall_s`` of wall-clock time.

    The CPU time is the engine process's own, read from /proc while it runs and once more when
    it has exited but is not reaped yet (a zombie keeps its times), so solves running at the
    same time in other threads of this process do not count against each other's budget."""
    deadline = time.monotonic() + wall_s
    used = 0.0
    exit_fd = _exit_descriptor(process.pid)
    try:
        while True:
            try:
                exited = (
                    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
                    is not None
                )
            except ChildProcessError:  # reaped elsewhere
                exited = True
            reading = _process_cpu_s(process.pid)
            if reading is not None:
                used = reading
            if exited:
                return process.wait(), used
            if used >= cpu_s or time.monotonic() >= deadline:
                return None, used
            pause_s = min(_CPU_POLL_S, max(0.0, deadline - time.monotonic()))
            if exit_fd is None:
                time.sleep(pause_s)
            else:
                # Woken the moment the engine exits: a hinted search often takes less than
                # the poll's period, which a plain sleep added to every solve (25 ms on average).
                select.select([exit_fd], [], [], pause_s)
    finally:
        if exit_fd is not None:
            os.close(exit_fd)


def _exit_descriptor(pid: int) -> int | None:
    """A descriptor that becomes readable when process ``pid`` exits (Linux's pidfd), or None
    where there is none (the wait then sleeps its poll's period)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _process_cpu_s(pid: int) -> float | None:
    """User and system CPU seconds of a running process (Linux /proc; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Fields after the command name (which may hold spaces, in parentheses): utime, stime are
    # the 12th and 13th of them.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S
    except (IndexError, ValueError):
        return None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``process`` and reap the leader."""
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class _CpuClock:
    """CPU seconds one solve has spent since it was made: its own thread's (loading, star
    finding) and its engine runs' (each counted by ``add_engine``). Per thread and per engine
    process, so that files solved at the same time in other threads do not use its budget."""

    def __init__(self) -> None:
        self._own = time.thread_time()
        self._engines = 0.0

    def add_engine(self, cpu_s: float) -> None:
        self._engines += cpu_s

    def spent_s(self) -> float:
        return time.thread_time() - self._own + self._engines


def _outcome(attempt: _Attempt) -> str:
    if attempt.rejected is not None:
        return f"rejected: {attempt.rejected}"
    if attempt.header is not None:
        return "solved"
    if attempt.no_index:
        return NO_INDEX_OUTCOME
    return "timed out" if attempt.timed_out else "no match"


def _log_odds(match_file: Path) -> float | None:
    """The best log-odds in the engine's match file (None if it is missing or unreadable)."""
    try:
        values = read_column(match_file, "LOGODDS")
    except (OSError, FitsTableError):
        return None
    if len(values) == 0 or not np.isfinite(values).any():
        return None
    return float(np.nanmax(values))


def _describe_hints(hints: SolveHints) -> str:
    parts = []
    if hints.has_scale:
        parts.append(f'scale {hints.scale_low_arcsec:.3g}–{hints.scale_high_arcsec:.3g}"/px')
    if hints.has_position:
        parts.append(f"{hints.radius_deg:.1f}° around {hints.ra_deg:.2f} {hints.dec_deg:+.2f}")
    return ", ".join(parts)
