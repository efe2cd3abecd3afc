"""Blind plate solving only, on the frames blind searches fail on: realistic frames of chosen
conditions, widths and seeds, and the real-sky samples wide enough for the Tycho-2 index files.

Each frame is solved through ``LocalSolver`` with no hints at all (its default 10 s budget),
whole ``solve()`` calls, star finding included. Correct: centre within 1′ of the truth; false:
solved elsewhere. CPU time is this process's and the engine's (load-independent, unlike wall).

Run it on another checkout to compare (the frames are the same for the same seeds)::

    PYTHONPATH=$PWD .venv/bin/python -m bench.blind_bench [--widths 1,2] [--seeds 101,102,103]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/blind_bench.py ...

The default conditions are the ones blind runs failed on in ``solve_bench`` (bench/README.md),
plus clear frames as a check that nothing else got slower.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR, LocalSolver
from astrocat_pipeline.core.records import PlateSolution
from astrocat_pipeline.demo.realistic import CatalogSky, render_frame, write_fits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.solve_bench import _separation_arcmin, _spec

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "synthetic"
CONDITIONS = "nebulosity,bayer_rggb,binned_2x2,partial_cloud,foreground,clear"
SIZE = (1500, 1000)


def _cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _blind(solver: LocalSolver, path: Path, size: tuple[int, int]) -> tuple[PlateSolution, float]:
    cpu = _cpu_s()
    solution = solver.solve(path, size[0], size[1], None)
    return solution, _cpu_s() - cpu


def _verdict(solution: PlateSolution, ra_deg: float, dec_deg: float) -> tuple[str, float | None]:
    if solution.status != "solved" or solution.geometry is None:
        return "failed", None
    error = _separation_arcmin(solution.geometry.ra_deg, solution.geometry.dec_deg, ra_deg, dec_deg)
    return ("ok" if error <= 1.0 else "FALSE"), error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="1,2", help="field widths, degrees ('': none)")
    parser.add_argument("--conditions", default=CONDITIONS)
    parser.add_argument("--seeds", default="101,102,103")
    parser.add_argument("--no-samples", action="store_true")
    args = parser.parse_args(argv)
    solver = LocalSolver(index_dir=DEBIAN_INDEX_DIR)
    print(f"blind, budget {solver.budget_s:g} s; {_load()}")
    outcomes: list[tuple[str, float]] = []
    sky = CatalogSky(DEBIAN_INDEX_DIR)
    with tempfile.TemporaryDirectory(prefix="astrocat-blind-bench-") as tmp:
        for width in (float(w) for w in args.widths.split(",") if w):
            for condition in args.conditions.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    spec = _spec(width, condition, seed, SIZE)
                    frame = render_frame(spec, sky)
                    path = write_fits(frame, Path(tmp) / f"{condition}-{width:g}-{seed}.fits")
                    solution, cpu = _blind(solver, path, SIZE)
                    verdict, error = _verdict(solution, spec.ra_deg, spec.dec_deg)
                    outcomes.append((verdict, cpu))
                    off = "" if error is None else f" ({error:.2f}' off)"
                    print(
                        f"  {width:>4g}° {condition:<16} seed {seed:<5} {verdict:<6} "
                        f"CPU {cpu:5.2f} s{off}"
                    )
                    path.unlink()
    if not args.no_samples:
        for truth_path in sorted(SAMPLES.glob("*.truth.json")):
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            image = truth_path.with_name(truth_path.name.replace(".truth.json", ".fits.gz"))
            solution, cpu = _blind(solver, image, (truth["w"], truth["h"]))
            verdict, _ = _verdict(solution, truth["ra"], truth["dec"])
            outcomes.append((verdict, cpu))
            print(f"  sample {image.name:<24} {verdict:<6} CPU {cpu:5.2f} s")
    ok = sum(v == "ok" for v, _ in outcomes)
    false = sum(v == "FALSE" for v, _ in outcomes)
    cpus = [c for _, c in outcomes]
    print(
        f"blind: {ok}/{len(outcomes)} correct, {false} false, median CPU "
        f"{statistics.median(cpus):.2f} s, max {max(cpus):.2f} s; {_load()}"
    )
    return 0 if false == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
