"""Whole-process start-up of the ``astrocat`` command, and its thumbnail against AstroCat's
algorithm restated literally.

Run from the project root::

    .venv/bin/python -m bench.cli_bench [--repeats N]

Every figure is the median wall-clock time of N whole processes (interpreter start, imports,
work, exit), started with the same interpreter (``.venv/bin/python``), so what a user waits for
at a prompt. One run prepares, in a temporary directory:

- a 6248×4176 16-bit FITS light frame (``bench.thumbnail_bench.synthetic_light_frame``: sky
  gradient, noise, 6,000 stars, hot pixels);
- a small catalog: the demo library (``astrocat demo-library``: 15 frames in five formats)
  indexed with ``ASTROCAT_SOLVER=none``;

and times ``astrocat --help``, ``astrocat inspect`` on the FITS frame, ``astrocat search`` on the
catalog (by a deep-sky object's name, by a star's name, by filter), ``astrocat stats``,
``astrocat thumbnail`` on the FITS frame, and the literal AstroCat thumbnail
(:mod:`bench.astrocat_literal_thumbnail`, a standalone script importing only numpy,
astropy.io.fits and Pillow) on the same frame.

Goals: ``--help`` ≤ 0.2 s; ``inspect`` and ``search`` ≤ 0.5 s; ``thumbnail`` at least 5× faster
than the literal algorithm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.thumbnail_bench import synthetic_light_frame, write_fits

ROOT = Path(__file__).resolve().parents[1]
GOAL_HELP_S = 0.2
GOAL_QUICK_S = 0.5
GOAL_THUMBNAIL_SPEEDUP = 5.0


def astrocat_command() -> list[str]:
    """The installed console script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("astrocat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "astrocat_pipeline.cli"]


def time_process(argv: list[str], env: dict[str, str], repeats: int) -> float:
    """Median seconds of ``repeats`` whole runs of ``argv``; fails loudly if one fails."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(
                f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}"
            )
    return statistics.median(times)


def prepare_catalog(work: Path, env: dict[str, str]) -> None:
    """The demo library indexed without a solver (metadata and thumbnails only)."""
    library = work / "demo-library"
    subprocess.run([*astrocat_command(), "demo-library", str(library)], env=env, check=True)
    subprocess.run(
        [*astrocat_command(), "index", str(library), "--json"],
        env=env,
        check=True,
        capture_output=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="processes per figure (default 7)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="astrocat-cli-bench-") as temp:
        work = Path(temp)
        env = {
            **os.environ,
            "ASTROCAT_HOME": str(work / "home"),
            "ASTROCAT_SOLVER": "none",
            "DAGSTER_HOME": str(work / "dagster_home"),
        }
        for name in ("ASTROCAT_DATABASE_URL", "THUMBNAIL_CACHE_PATH", "ASTROCAT_LIBRARY_ROOTS"):
            env.pop(name, None)
        (work / "dagster_home").mkdir()
        (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        frame = work / "light_6248x4176.fits"
        write_fits(frame, synthetic_light_frame())
        prepare_catalog(work, env)
        astrocat = astrocat_command()
        out = work / "thumb.jpg"
        rows: list[tuple[str, float, str]] = []

        def row(label: str, command: list[str], goal: str) -> float:
            seconds = time_process(command, env, args.repeats)
            rows.append((label, seconds, goal))
            return seconds

        row("astrocat --help", [*astrocat, "--help"], f"<= {GOAL_HELP_S} s")
        row("astrocat inspect (FITS)", [*astrocat, "inspect", str(frame)], f"<= {GOAL_QUICK_S} s")
        row(
            "astrocat search --object 'Andromeda Galaxy'",
            [*astrocat, "search", "--object", "Andromeda Galaxy"],
            f"<= {GOAL_QUICK_S} s",
        )
        row(
            "astrocat search --object Vega (a star)",
            [*astrocat, "search", "--object", "Vega"],
            f"<= {GOAL_QUICK_S} s",
        )
        row(
            "astrocat search --filter L",
            [*astrocat, "search", "--filter", "L"],
            f"<= {GOAL_QUICK_S} s",
        )
        row("astrocat stats", [*astrocat, "stats"], "-")
        ours = row(
            "astrocat thumbnail (6248x4176 FITS)",
            [*astrocat, "thumbnail", str(frame), "-o", str(out)],
            "-",
        )
        literal = row(
            "literal AstroCat thumbnail (same frame)",
            [sys.executable, "-m", "bench.astrocat_literal_thumbnail", str(frame), str(out)],
            "-",
        )

    print(
        f"Whole-process wall-clock medians of {args.repeats} runs, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at the end (other processes add to every row)."
    )
    print(f"{'command':45} {'median s':>9}  goal")
    for label, seconds, goal in rows:
        print(f"{label:45} {seconds:9.3f}  {goal}")
    speedup = literal / ours
    print(
        f"thumbnail speed-up over the literal algorithm: {speedup:.1f}x "
        f"(goal >= {GOAL_THUMBNAIL_SPEEDUP:g}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
