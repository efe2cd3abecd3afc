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
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from astrocat_pipeline.adapters.solvers.base import ProgressCallback, SolveProgress
from astrocat_pipeline.core.errors import SolverError
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.hints import usable_hints
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.records import PlateSolution, SolveAttempt, SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.star_detect import DetectedStars, uniformize
from astrocat_pipeline.core.tuning import (
    SOLVER_CPU_LIMIT_S,
    SOLVER_MAX_STARS,
    SOLVER_PARALLEL_INDEX_MAX_BYTES,
    SOLVER_WALL_TIMEOUT_S,
)

__all__ = ["DEBIAN_INDEX_DIR", "LocalSolver"]

# Where Debian's astrometry-data-* packages install index files, and the config file that
# Debian's solve-field reads when it is not given --config.
DEBIAN_INDEX_DIR = Path("/usr/share/astrometry")
_DEBIAN_CONFIG = Path("/etc/astrometry.cfg")
_INDEX_GLOB = "index-*.fits"
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
    ) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else None
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
            f"blind_fallback={self.blind_fallback})"
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
        if usable is None or self.blind_fallback:
            plan.append(None)

        if on_progress is not None:
            on_progress(SolveProgress("processing"))
        started = time.monotonic()
        if stars is None:
            stars = self._stars(image_path, width_px, height_px)
        attempts: list[_Attempt] = []
        with tempfile.TemporaryDirectory(prefix="astrocat-solve-") as tmp:
            work = Path(tmp)
            for number, attempt_hints in enumerate(plan, start=1):
                attempt = self._run(
                    executable,
                    index_files,
                    stars,
                    work / f"attempt{number}",
                    (width_px, height_px),
                    attempt_hints,
                )
                attempts.append(attempt)
                if attempt.header is not None:
                    break
        elapsed_s = time.monotonic() - started
        records = tuple(
            SolveAttempt(
                solver="local",
                hints=a.hints,
                outcome="solved"
                if a.header is not None
                else "timed out"
                if a.timed_out
                else "no match",
                elapsed_s=a.elapsed_s,
            )
            for a in attempts
        )
        last = attempts[-1]
        if last.header is None:
            return PlateSolution(
                status="failed",
                solver="local",
                hints_used=usable,
                elapsed_s=elapsed_s,
                error=f"no solution for {image_path.name}: "
                + "; ".join(self._describe(a) for a in attempts),
                attempts=records,
            )
        solution = solution_from_wcs(
            last.header,
            width_px,
            height_px,
            solver="local",
            image=image_path,
            source="astrometry-engine",
            solved_size_px=(last.header.get("IMAGEW"), last.header.get("IMAGEH")),
            hints=last.hints,
            elapsed_s=elapsed_s,
        )
        return dataclasses.replace(solution, attempts=records)

    @staticmethod
    def _stars(image_path: Path, width_px: int, height_px: int) -> DetectedStars:
        """The frame's stars, brightest first, without the lines of artefacts solve-field's
        removelines step would cut; in the frame's own 0-based pixels."""
        data, _ = load_image(image_path)
        found = (data.shape[1], data.shape[0])
        if found != (width_px, height_px):
            raise SolverError(
                f"{image_path}: the solver would see a {found[0]}x{found[1]} px image but the "
                f"frame is {width_px}x{height_px} px (another HDU or a resampled copy?)"
            )
        # Big frames oversample their stars: detected on 2×2 block means, as solve-field's
        # --downsample 2 did; positions still refer to the full frame. The same list as the
        # one the indexing stores (core/frame_stars.py).
        return frame_stars(data)

    def _describe(self, attempt: _Attempt) -> str:
        what = "blind" if attempt.hints is None else f"hinted ({_describe_hints(attempt.hints)})"
        if attempt.timed_out:
            return f"{what}: timed out after {self.timeout_s:g} s"
        if attempt.no_index:
            return f"{what}: no match (no index file has quads of that scale)"
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
    ) -> tuple[Path, Path]:
        """Write the engine's configuration and job file (``.axy``) into ``out``; returns their
        paths. The job file holds what solve-field's augment-xylist step writes for our
        options; output names are relative to ``out``, the engine's working directory."""
        cpu_limit = max(1, math.ceil(self.cpu_limit_s))
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
        if hints is not None and hints.has_scale:
            header["ANAPPL1"] = (hints.scale_low_arcsec, "scale: arcsec/pixel min")
            header["ANAPPU1"] = (hints.scale_high_arcsec, "scale: arcsec/pixel max")
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

    def _run(
        self,
        executable: str,
        index_files: list[Path],
        stars: DetectedStars,
        out: Path,
        size_px: tuple[int, int],
        hints: SolveHints | None,
    ) -> _Attempt:
        started = time.monotonic()
        selected = self._indexes_for(index_files, size_px, hints)
        if not selected:
            # The engine would load every index, use none and find nothing.
            return _Attempt(hints=hints, header=None, timed_out=False, elapsed_s=0.0, no_index=True)
        out.mkdir(parents=True)
        config, job = self._write_job(out, selected, stars, size_px, hints)
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
                returncode = process.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                returncode = None
            finally:
                if process.returncode is None:
                    # Still running (timeout, or an exception such as KeyboardInterrupt): the
                    # group id is still reserved because the leader is not reaped yet.
                    _kill_group(process)
        if timed_out:
            elapsed_s = time.monotonic() - started
            return _Attempt(hints=hints, header=None, timed_out=True, elapsed_s=elapsed_s)
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
        return _Attempt(hints=hints, header=header, timed_out=False, elapsed_s=elapsed_s)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``process`` and reap the leader."""
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _describe_hints(hints: SolveHints) -> str:
    parts = []
    if hints.has_scale:
        parts.append(f'scale {hints.scale_low_arcsec:.3g}–{hints.scale_high_arcsec:.3g}"/px')
    if hints.has_position:
        parts.append(f"{hints.radius_deg:.1f}° around {hints.ra_deg:.2f} {hints.dec_deg:+.2f}")
    return ", ".join(parts)
