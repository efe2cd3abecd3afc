"""The independent check of plate solutions (core/solution_check.py, Hipparcos stars against the
frame's own detections): true solutions rejected, wrong ones accepted, and its cost.

Frames: the realistic corpus of ``bench/solve_bench.py`` (the same seeded sky positions,
rotations and parities; every condition at every field width, 1500×1000 px) and the real-sky
samples in ``../shared/samples`` (the synthetic fields drawn from the Tycho-2 index stars alone,
and the real FITS frames with a header WCS). The star list is the one the pipeline stores
(``core.frame_stars``, its first ``STAR_LIST_MAX_STARS``).

For each frame the check judges:

- the **true** WCS (a rejection is a true solution lost: goal 0);
- **wrong** WCSs: 15 px and 2 % off (what the engine's false 40° solution was), rotated by 2°,
  scaled by 1.5 % about one corner (right in that corner only), and the frame's WCS moved 3
  field widths away (another field). A ``confirmed`` wrong WCS is a false acceptance (goal 0);
  an ``undecided`` one falls back to the solver's odds and the header's hints.

Then the corpus's one false solution (seed 88, 40°) is solved hinted with and without the check.

Run from the project root: ``.venv/bin/python -m bench.solution_check_bench [--quick]``.
Exit code 0 when no true solution is rejected and no wrong one confirmed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR, LocalSolver
from astrocat_pipeline.cataloging.solution_check import SolutionChecker
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.solution_check import CONFIRMED, REJECTED, UNDECIDED
from astrocat_pipeline.core.tuning import STAR_LIST_MAX_STARS
from astrocat_pipeline.core.wcs_geometry import celestial_wcs, wcs_from_header_text
from astrocat_pipeline.demo.realistic import CONDITIONS, CatalogSky, render_frame, write_fits
from bench.solve_bench import (
    NARROW_CONDITIONS,
    NARROW_WIDTH_DEG,
    QUICK_CONDITIONS,
    QUICK_WIDTHS_DEG,
    SMALL_SIZE,
    WIDTHS_DEG,
    _header_hints,
    _separation_arcmin,
    _spec,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _shifted(wcs: WCS, dx_px: float, scale: float) -> WCS:
    wrong = copy.deepcopy(wcs)
    wrong.wcs.crpix = wrong.wcs.crpix + np.array([dx_px, 0.0])
    wrong.wcs.cd = wrong.wcs.cd * scale
    wrong.wcs.set()
    return wrong


def _rotated(wcs: WCS, degrees: float) -> WCS:
    wrong = copy.deepcopy(wcs)
    a = np.radians(degrees)
    wrong.wcs.cd = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ (wcs.wcs.cd)
    wrong.wcs.set()
    return wrong


def _corner_scaled(wcs: WCS, scale: float) -> WCS:
    """Scaled about pixel (0, 0), which keeps its sky position: right in that corner only."""
    wrong = copy.deepcopy(wcs)
    corner = np.array([1.0, 1.0])
    wrong.wcs.crpix = corner - (corner - wcs.wcs.crpix) / scale
    wrong.wcs.cd = wcs.wcs.cd * scale
    wrong.wcs.set()
    return wrong


def _elsewhere(wcs: WCS, width_deg: float) -> WCS:
    """The same frame, three field widths further north (or south near the pole)."""
    wrong = copy.deepcopy(wcs)
    ra, dec = wrong.wcs.crval
    step = min(3.0 * width_deg, 60.0)
    wrong.wcs.crval = [ra, dec + step if dec + step <= 85.0 else dec - step]
    wrong.wcs.set()
    return wrong


WRONG = {
    "15px+2%": lambda wcs, width: _shifted(wcs, 15.0, 1.02),
    "rot 2°": lambda wcs, width: _rotated(wcs, 2.0),
    "corner 1.5%": lambda wcs, width: _corner_scaled(wcs, 1.015),
    "elsewhere": _elsewhere,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the solve_bench --quick subset")
    parser.add_argument("--index-dir", type=Path, default=DEBIAN_INDEX_DIR)
    args = parser.parse_args(argv)
    widths = QUICK_WIDTHS_DEG if args.quick else WIDTHS_DEG
    conditions = QUICK_CONDITIONS if args.quick else tuple(CONDITIONS)
    warnings.simplefilter("ignore")
    print(f"{_load()}")
    sky = CatalogSky(args.index_dir)
    checker = SolutionChecker()
    checker.reference.around(0.0, 0.0, 1.0)  # read the catalogue before timing
    true_verdicts: dict[float, Counter[str]] = defaultdict(Counter)
    wrong_verdicts: dict[tuple[float, str], Counter[str]] = defaultdict(Counter)
    costs_ms: list[float] = []
    true_rejected: list[str] = []
    wrong_confirmed: list[str] = []
    started = time.monotonic()
    seed = 1
    for width in widths:
        for condition in conditions if width > NARROW_WIDTH_DEG else NARROW_CONDITIONS:
            seed += 1
            spec = _spec(width, condition, seed, SMALL_SIZE)
            frame = render_frame(spec, sky)
            stars = frame_stars(frame.data, cfa=spec.bayer_pattern is not None).head(
                STAR_LIST_MAX_STARS
            )
            cpu = time.process_time()
            verdict = checker.verify(frame.wcs, spec.width_px, spec.height_px, stars)
            costs_ms.append(1000.0 * (time.process_time() - cpu))
            true_verdicts[width][verdict.verdict] += 1
            if verdict.verdict == REJECTED:
                true_rejected.append(f"{width:g}° {condition} seed {seed}: {verdict.reason}")
            for name, make in WRONG.items():
                wrong = make(frame.wcs, width)
                cpu = time.process_time()
                verdict = checker.verify(wrong, spec.width_px, spec.height_px, stars)
                costs_ms.append(1000.0 * (time.process_time() - cpu))
                wrong_verdicts[(width, name)][verdict.verdict] += 1
                if verdict.verdict == CONFIRMED:
                    wrong_confirmed.append(f"{width:g}° {condition} {name}: {verdict.reason}")
        print(f"  width {width:g}° done at {time.monotonic() - started:.0f} s; {_load()}")

    print(f"\nRealistic corpus, 1500x1000, true WCS ({_load()})")
    print(f"  {'width':>6}  {'confirmed':>9} {'undecided':>9} {'rejected':>8}")
    for width in widths:
        c = true_verdicts[width]
        print(f"  {width:>5g}°  {c[CONFIRMED]:>9} {c[UNDECIDED]:>9} {c[REJECTED]:>8}")
    print("\nWrong WCSs: rejected / undecided (falls back) / confirmed (a false acceptance)")
    print(f"  {'width':>6}  " + "  ".join(f"{name:>14}" for name in WRONG))
    for width in widths:
        cells = []
        for name in WRONG:
            c = wrong_verdicts[(width, name)]
            cells.append(f"{c[REJECTED]:>4} /{c[UNDECIDED]:>3} /{c[CONFIRMED]:>3}")
        print(f"  {width:>5g}°  " + "  ".join(f"{cell:>14}" for cell in cells))

    samples = _samples(checker)
    true_rejected += samples

    print(f"\nThe corpus's false solution (seed 88, 40°, hinted) ({_load()})")
    seed88_false = _seed88(sky, checker, args.index_dir)

    total_true = sum(sum(c.values()) for c in true_verdicts.values())
    total_wrong = sum(sum(c.values()) for c in wrong_verdicts.values())
    print(f"\nSummary ({_load()}; {time.monotonic() - started:.0f} s)")
    print(f"  true solutions rejected: {len(true_rejected)} of {total_true} corpus + samples")
    for line in true_rejected:
        print(f"    {line}")
    print(f"  wrong WCSs confirmed (false acceptances): {len(wrong_confirmed)} of {total_wrong}")
    for line in wrong_confirmed[:20]:
        print(f"    {line}")
    rejected_wrong = sum(c[REJECTED] for c in wrong_verdicts.values())
    print(f"  wrong WCSs rejected: {rejected_wrong} of {total_wrong}")
    print(
        f"  cost per check (CPU): median {np.median(costs_ms):.1f} ms, "
        f"max {np.max(costs_ms):.1f} ms (catalogue read once before: not counted)"
    )
    print(f"  seed 88 false solution stored: {'yes' if seed88_false else 'no'}")
    ok = not true_rejected and not wrong_confirmed and not seed88_false
    return 0 if ok else 1


def _samples(checker: SolutionChecker) -> list[str]:
    """The real-sky samples: each true WCS judged; returns the rejections."""
    rejected = []
    print(f"\nReal-sky samples ({_load()})")
    if not SAMPLES.is_dir():
        print(f"  not found at {SAMPLES}")
        return rejected
    files = sorted((SAMPLES / "synthetic").glob("*.fits.gz")) + [
        SAMPLES / "fits" / name for name in ("HorseHead.fits", "M6707HH.fits", "gc_2mass_k.fits")
    ]
    for path in files:
        data, header = load_image(path)
        if path.name.endswith(".fits.gz"):
            truth = json.loads(path.with_name(path.name[:-8] + ".truth.json").read_text())
            wcs_header = fits.Header()
            for key, value in truth["wcs"].items():
                wcs_header[key] = value
            wcs = WCS(wcs_header)
            what = "truth file"
        else:
            found = celestial_wcs(header.fits_header) if header.fits_header is not None else None
            if found is None:
                print(f"  {path.name}: no usable header WCS")
                continue
            wcs, what = found, "header WCS"
        stars = frame_stars(data, cfa=header.bayer_pattern is not None).head(STAR_LIST_MAX_STARS)
        cpu = time.process_time()
        verdict = checker.verify(wcs, data.shape[1], data.shape[0], stars)
        cost = 1000.0 * (time.process_time() - cpu)
        print(f"  {path.name} ({what}): {verdict.verdict} in {cost:.1f} ms: {verdict.reason}")
        if verdict.rejected:
            rejected.append(f"{path.name}: {verdict.reason}")
    return rejected


def _seed88(sky: CatalogSky, checker: SolutionChecker, index_dir: Path) -> bool:
    """Solve seed 88 hinted, without and with the check; True if a false solution remains."""
    import tempfile

    spec = _spec(40.0, "gradient_vignetting", 88, SMALL_SIZE)
    frame = render_frame(spec, sky)
    stars = frame_stars(frame.data).head(STAR_LIST_MAX_STARS)
    false = False
    with tempfile.TemporaryDirectory(prefix="astrocat-check-bench-") as tmp:
        path = write_fits(frame, Path(tmp) / "seed88.fits")
        hints = _header_hints(path)

        def verify(wcs: WCS, used: object) -> object:
            return checker.verify(wcs, spec.width_px, spec.height_px, stars)

        for label, kwargs in (("without the check", {}), ("with the check", {"verify": verify})):
            solver = LocalSolver(index_dir=index_dir)
            started = time.monotonic()
            solution = solver.solve(path, *SMALL_SIZE, hints, stars=stars, **kwargs)  # type: ignore[arg-type]
            elapsed = time.monotonic() - started
            off = None
            if solution.status == "solved" and solution.wcs_header:
                geometry = solution.geometry
                assert geometry is not None
                off = _separation_arcmin(
                    geometry.ra_deg, geometry.dec_deg, spec.ra_deg, spec.dec_deg
                )
                wcs = wcs_from_header_text(solution.wcs_header)
                assert wcs.has_celestial
            where = f"{off:.1f}′ from the truth" if off is not None else solution.error
            outcomes = "; ".join(a.outcome[:100] for a in solution.attempts)
            print(f"  {label}: {solution.status}, {where} ({elapsed:.1f} s; {outcomes})")
            if label == "with the check" and off is not None and off > 2.0:
                false = True
    return false


if __name__ == "__main__":
    sys.exit(main())
