"""Local plate solving with astrometry.net's ``solve-field`` and its index files.

Every run happens in a fresh temporary directory: nothing is written next to the source image.
solve-field exits 0 whether or not it found a solution, so success is the presence of
``job.solved``/``job.wcs``; its ``--cpulimit`` overshoots several times over (2-3x per
FACTS.md, 6x measured with a 3 s limit), so each run also has a wall-clock timeout after which
its whole process group is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
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

from astrocat_pipeline.adapters.solver_input import needs_conversion, write_solver_fits
from astrocat_pipeline.core.errors import SolverError
from astrocat_pipeline.core.hints import usable_hints
from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.records import PlateSolution, SolveAttempt, SolveHints
from astrocat_pipeline.core.tuning import (
    SOLVER_CPU_LIMIT_S,
    SOLVER_DOWNSAMPLE_ABOVE_PX,
    SOLVER_WALL_TIMEOUT_S,
)
from astrocat_pipeline.core.wcs_geometry import celestial_wcs, field_geometry, wcs_to_header_text

__all__ = ["DEBIAN_INDEX_DIR", "LocalSolver"]

# Where Debian's astrometry-data-* packages install index files, and the config file that
# Debian's solve-field reads when it is not given --config.
DEBIAN_INDEX_DIR = Path("/usr/share/astrometry")
_DEBIAN_CONFIG = Path("/etc/astrometry.cfg")
_INDEX_GLOB = "index-*.fits"
_STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class _Attempt:
    """Outcome of one solve-field run."""

    hints: SolveHints | None
    header: fits.Header | None  # job.wcs, when solved
    timed_out: bool
    elapsed_s: float


class LocalSolver:
    """Plate-solve image files with a local ``solve-field``.

    Parameters
    ----------
    index_dir : Path, optional
        Directory of astrometry.net index files (``index-*.fits``). When given, solve-field gets a
        config file that loads every index there; when None, solve-field's own configuration
        is used (on Debian ``/etc/astrometry.cfg``, which points at ``/usr/share/astrometry``).
    executable : str
        The solve-field command, looked up on PATH unless it is a path.
    cpu_limit_s : float
        solve-field's ``--cpulimit`` for each run (it overshoots; see ``timeout_s``).
    timeout_s : float
        Wall-clock limit of each solve-field run; the run's process group is killed after it.
        A hinted run and its blind fallback each get this much.
    blind_fallback : bool
        When a hinted run finds nothing (or times out), try once more without hints.
    """

    def __init__(
        self,
        index_dir: Path | None = None,
        executable: str = "solve-field",
        cpu_limit_s: float = SOLVER_CPU_LIMIT_S,
        timeout_s: float = SOLVER_WALL_TIMEOUT_S,
        blind_fallback: bool = True,
    ) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.executable = executable
        self.cpu_limit_s = cpu_limit_s
        self.timeout_s = timeout_s
        self.blind_fallback = blind_fallback

    def __repr__(self) -> str:
        return (
            f"LocalSolver(index_dir={self.index_dir!r}, executable={self.executable!r}, "
            f"cpu_limit_s={self.cpu_limit_s}, timeout_s={self.timeout_s}, "
            f"blind_fallback={self.blind_fallback})"
        )

    # --- availability ---------------------------------------------------------------------

    def _index_dirs(self) -> list[Path]:
        """Directories solve-field will search for index files."""
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
        """The index files solve-field will load, sorted; empty if there are none."""
        found: list[Path] = []
        for directory in self._index_dirs():
            if directory.is_dir():
                found.extend(p for p in directory.glob(_INDEX_GLOB) if p.is_file())
        return sorted(found)

    def available(self) -> bool:
        """True if solve-field is on PATH and there is at least one index file."""
        return shutil.which(self.executable) is not None and bool(self.index_files())

    def _require_ready(self) -> str:
        executable = shutil.which(self.executable)
        if executable is None:
            raise SolverError(
                f"astrometry.net's {self.executable!r} is not on PATH; install the Debian "
                "package astrometry.net or choose another solver"
            )
        if not self.index_files():
            where = ", ".join(str(d) for d in self._index_dirs())
            raise SolverError(
                f"no astrometry.net index files ({_INDEX_GLOB}) in {where}; install "
                "astrometry-data-tycho2-10-19-littleendian or set ASTROMETRY_INDEX_DIR"
            )
        if self.index_dir is not None and "\n" in str(self.index_dir):
            raise SolverError(f"index directory {str(self.index_dir)!r} contains a newline")
        return executable

    # --- solving --------------------------------------------------------------------------

    def solve(
        self, image_path: Path, width_px: int, height_px: int, hints: SolveHints | None
    ) -> PlateSolution:
        """Plate-solve one image file.

        Parameters
        ----------
        image_path : Path
            An image solve-field reads itself (FITS, ``.fits.gz``, PNG, JPEG, TIFF). It is only
            read; any name works (spaces, quotes, commas, unicode).
        width_px, height_px : int
            Size of the frame in pixels; the geometry is computed for it and must match what
            solve-field measured.
        hints : SolveHints, optional
            Scale and/or position hints; incomplete parts (a scale without both bounds, a
            position without a radius) are not used.

        Returns
        -------
        PlateSolution
            ``status="solved"`` with geometry, WCS text and the hints of the attempt that
            succeeded (None for the blind one), or ``status="failed"`` with an error saying what
            was tried. ``elapsed_s`` covers all attempts.

        Raises
        ------
        SolverError
            solve-field is missing, there are no index files, it crashed (non-zero exit, stderr
            tail included), or its solution does not fit the given frame size.
        FileNotFoundError
            ``image_path`` is not a file.
        """
        executable = self._require_ready()
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

        started = time.monotonic()
        attempts: list[_Attempt] = []
        with tempfile.TemporaryDirectory(prefix="astrocat-solve-") as tmp:
            work = Path(tmp)
            if needs_conversion(image_path, read_header(image_path)):
                source = write_solver_fits(image_path, work / "input.fits")
            else:
                source = _link_input(image_path, work)
            for number, attempt_hints in enumerate(plan, start=1):
                attempt = self._run(
                    executable, source, work / f"attempt{number}", width_px, attempt_hints
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
        solution = self._solution(
            image_path, last.header, last.hints, width_px, height_px, elapsed_s
        )
        return dataclasses.replace(solution, attempts=records)

    def _describe(self, attempt: _Attempt) -> str:
        what = "blind" if attempt.hints is None else f"hinted ({_describe_hints(attempt.hints)})"
        if attempt.timed_out:
            return f"{what}: timed out after {self.timeout_s:g} s"
        return f"{what}: no match ({attempt.elapsed_s:.1f} s)"

    @staticmethod
    def _solution(
        image_path: Path,
        header: fits.Header,
        hints: SolveHints | None,
        width_px: int,
        height_px: int,
        elapsed_s: float,
    ) -> PlateSolution:
        measured = (header.get("IMAGEW"), header.get("IMAGEH"))
        if measured != (width_px, height_px):
            raise SolverError(
                f"{image_path}: solve-field solved a {measured[0]}x{measured[1]} px image but the "
                f"frame is {width_px}x{height_px} px (another HDU or a resampled copy?)"
            )
        wcs = celestial_wcs(header)
        if wcs is None:
            raise SolverError(f"{image_path}: solve-field reported a solution without a usable WCS")
        return PlateSolution(
            status="solved",
            solver="local",
            geometry=field_geometry(wcs, width_px, height_px),
            wcs_header=wcs_to_header_text(wcs),
            hints_used=hints,
            elapsed_s=elapsed_s,
        )

    def _command(
        self, executable: str, source: Path, out: Path, width_px: int, hints: SolveHints | None
    ) -> list[str]:
        cpu_limit = max(1, math.ceil(self.cpu_limit_s))
        command = [
            executable,
            "--dir", str(out),
            "--out", "job",
            "--temp-dir", str(out / "tmp"),
            "--no-plots",
            "--overwrite",
            "--new-fits", "none",
            "--no-tweak",  # the default SIP fit over-fits with few matched stars (FACTS.md)
            "--crpix-center",
            "--cpulimit", str(cpu_limit),
            "--temp-axy",
            "--index-xyls", "none",
            "--match", "none",
            "--rdls", "none",
            "--corr", "none",
        ]  # fmt: skip
        if width_px > SOLVER_DOWNSAMPLE_ABOVE_PX:
            command += ["--downsample", "2"]
        if self.index_dir is not None:
            config = out / "astrometry.cfg"
            # add_path takes the rest of the line, so directories with spaces work.
            config.write_text(
                f"cpulimit {cpu_limit}\nadd_path {self.index_dir.resolve()}\nautoindex\n",
                encoding="utf-8",
            )
            command += ["--config", str(config)]
        if hints is not None and hints.has_scale:
            command += [
                "--scale-units", "arcsecperpix",
                "--scale-low", f"{hints.scale_low_arcsec:.6g}",
                "--scale-high", f"{hints.scale_high_arcsec:.6g}",
            ]  # fmt: skip
        if hints is not None and hints.has_position:
            # With a position the index search takes ~0.05 s and solve-field's two Python
            # star-list filters (~0.6 s each, bench/solve_bench.py) are most of the run; they
            # help only searches of the whole sky, so the blind fallback keeps them.
            command += ["--no-remove-lines", "--uniformize", "0"]
            command += [
                f"--ra={hints.ra_deg:.7f}",
                f"--dec={hints.dec_deg:.7f}",  # '=' so a negative Dec is never read as an option
                f"--radius={hints.radius_deg:.6g}",
            ]
        return [*command, str(source)]

    def _run(
        self, executable: str, source: Path, out: Path, width_px: int, hints: SolveHints | None
    ) -> _Attempt:
        (out / "tmp").mkdir(parents=True)
        command = self._command(executable, source, out, width_px, hints)
        started = time.monotonic()
        timed_out = False
        with (out / "stdout.log").open("wb") as stdout, (out / "stderr.log").open("wb") as stderr:
            # A session of its own so that a timeout can kill solve-field's helpers too
            # (image2xy, astrometry-engine, python scripts), not just solve-field.
            process = subprocess.Popen(
                command,
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
        elapsed_s = time.monotonic() - started
        if timed_out:
            return _Attempt(hints=hints, header=None, timed_out=True, elapsed_s=elapsed_s)
        if returncode != 0:
            tail = (out / "stderr.log").read_text(encoding="utf-8", errors="replace")
            tail = tail[-_STDERR_TAIL_CHARS:].strip()
            raise SolverError(
                f"solve-field failed on {source.resolve()} with exit code {returncode}:\n{tail}"
            )
        wcs_path = out / "job.wcs"
        if not (out / "job.solved").exists() or not wcs_path.exists():
            return _Attempt(hints=hints, header=None, timed_out=False, elapsed_s=elapsed_s)
        with warnings.catch_warnings():
            # solve-field copies paths (the index directory's, say) into HISTORY cards as raw
            # bytes; astropy replaces non-ASCII ones with "?" and warns.
            warnings.simplefilter("ignore", AstropyWarning)
            header = fits.getheader(wcs_path)
        return _Attempt(hints=hints, header=header, timed_out=False, elapsed_s=elapsed_s)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``process`` and reap the leader."""
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _link_input(image_path: Path, work: Path) -> Path:
    """A plain-named link to the image inside ``work``, with the image's suffixes.

    solve-field passes the name through shell commands of its own (image2pnm runs ``file`` on
    it), which break on quotes, commas and the like; a link named ``input.fits.gz`` sidesteps
    that without copying the data. The suffixes are kept because they tell solve-field's
    helpers the format and compression.
    """
    suffixes = "".join(s for s in image_path.suffixes[-2:] if re.fullmatch(r"\.[A-Za-z0-9]+", s))
    link = work / f"input{suffixes.lower()}"
    link.symlink_to(image_path.resolve())
    return link


def _describe_hints(hints: SolveHints) -> str:
    parts = []
    if hints.has_scale:
        parts.append(f'scale {hints.scale_low_arcsec:.3g}–{hints.scale_high_arcsec:.3g}"/px')
    if hints.has_position:
        parts.append(f"{hints.radius_deg:.1f}° around {hints.ra_deg:.2f} {hints.dec_deg:+.2f}")
    return ", ".join(parts)
