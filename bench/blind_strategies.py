"""Blind-search strategies compared on the same star lists: astrometry-engine alone, no hints.

The frames are ``solve_bench``'s (same ``_spec`` seeds, 1500×1000); each frame's star list is
found once (``LocalSolver``'s own star finding) and kept in a cache under the temporary folder,
so that every strategy sees the same stars and only the engine's search differs. Each strategy
gets 9.5 s of engine CPU (the 10 s budget less star finding). Printed per frame: solved
correctly (centre within 1′), false, or not; engine CPU seconds.

Strategies: ``whole`` (what the solver did before: every scale at once, code tolerance 0.01),
``scale20`` / ``scale2x`` (the true scale ±20 % / ×2: what a scale hint gives), ``stars100``,
``stars400``, ``depth50`` (the first 50 stars only), ``bands_nw`` / ``bands_wn`` (field-width
bands of ×2, narrowest / widest first, 10 stars at a time over every band), ``whole30_bands``
(whole with 30 % of the budget, then ``bands_nw``), ``ctol5`` (code tolerance 0.005), ``plan``
(the solver's blind passes, adapters/solvers/blind_plan.py).

    PYTHONPATH=$PWD .venv/bin/python -m bench.blind_strategies --strategy ctol5 \\
        [--widths 1,2] [--conditions ...] [--seeds 101,102,103]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from astrocat_pipeline.adapters.solvers.blind_plan import blind_passes
from astrocat_pipeline.adapters.solvers.local import (
    DEBIAN_INDEX_DIR,
    LocalSolver,
    _kill_group,
    _wait,
)
from astrocat_pipeline.core.star_detect import DetectedStars, uniformize
from astrocat_pipeline.demo.realistic import CatalogSky, FrameSpec, render_frame, write_fits
from bench.solve_bench import _separation_arcmin, _spec

SIZE = (1500, 1000)
ENGINE_CPU_S = 9.5
CACHE = Path(tempfile.gettempdir()) / "astrocat-blind-strategies"
Result = tuple[bool, float | None, float | None, float]  # solved, ra, dec, engine CPU s


def _engine(
    stars: DetectedStars,
    *,
    cpu_s: float,
    count: int = 200,
    bands: list[tuple[float, float]] | None = None,
    depths: list[tuple[int, int]] | None = None,
    extra: dict[str, float] | None = None,
) -> Result:
    """One astrometry-engine run on ``stars`` (uniformized, as the solver's blind runs)."""
    chosen = uniformize(stars.head(count))
    with tempfile.TemporaryDirectory(prefix="astrocat-blind-strategy-") as tmp:
        out = Path(tmp)
        indexes = sorted(DEBIAN_INDEX_DIR.glob("index-*.fits"))
        (out / "engine.cfg").write_text(
            f"cpulimit {math.ceil(cpu_s)}\ninparallel\n"
            + "".join(f"index {path}\n" for path in indexes),
            encoding="utf-8",
        )
        header = fits.Header()
        header["IMAGEW"], header["IMAGEH"] = SIZE
        header["ANRUN"], header["ANCLIM"] = True, math.ceil(cpu_s)
        header["ANVERUNI"], header["ANVERDUP"] = True, False
        header["ANCRPIXC"], header["ANTWEAK"] = True, False
        header["ANSOLVED"], header["ANWCS"] = "job.solved", "job.wcs"
        for number, (low, high) in enumerate(bands or [], start=1):
            header[f"ANAPPL{number}"], header[f"ANAPPU{number}"] = low, high
        for number, (first, last) in enumerate(depths or [], start=1):
            header[f"ANDPL{number}"], header[f"ANDPU{number}"] = first, last
        for key, value in (extra or {}).items():
            header[key] = value
        table = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="X", format="D", array=chosen.x_px + 1.0),
                fits.Column(name="Y", format="D", array=chosen.y_px + 1.0),
                fits.Column(name="FLUX", format="D", array=chosen.flux),
            ]
        )
        fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(out / "job.axy")
        process = subprocess.Popen(
            ["astrometry-engine", "--config", str(out / "engine.cfg"), str(out / "job.axy")],
            cwd=out,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _, used = _wait(process, cpu_s * 3 + 1, cpu_s)
        finally:
            if process.returncode is None:
                _kill_group(process)
        if not (out / "job.wcs").exists():
            return False, None, None, used
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            wcs = WCS(fits.getheader(out / "job.wcs"))
        ra, dec = wcs.all_pix2world([[(SIZE[0] + 1) / 2, (SIZE[1] + 1) / 2]], 1)[0]
        return True, float(ra), float(dec), used


def _bands(reverse: bool = False) -> list[tuple[float, float]]:
    """Field widths 0.25°-180° in bands of ×2, as pixel scales of a SIZE frame."""
    edges = [0.25]
    while edges[-1] < 180.0:
        edges.append(min(180.0, edges[-1] * 2))
    bands = [(a * 3600 / SIZE[0], b * 3600 / SIZE[0]) for a, b in itertools.pairwise(edges)]
    return bands[::-1] if reverse else bands


def _then(first: Result, second: Callable[[float], Result]) -> Result:
    if first[0]:
        return first
    result = second(ENGINE_CPU_S - first[3])
    return result[0], result[1], result[2], first[3] + result[3]


def _plan(stars: DetectedStars) -> Result:
    used, result = 0.0, (False, None, None, 0.0)
    for blind_pass in blind_passes():
        extra = {} if blind_pass.code_tolerance is None else {"ANCTOL": blind_pass.code_tolerance}
        result = _engine(stars, cpu_s=(ENGINE_CPU_S - used) * blind_pass.share, extra=extra)
        used += result[3]
        if result[0]:
            break
    return result[0], result[1], result[2], used


DEPTH_STEPS = [(first, first + 9) for first in range(1, 200, 10)]
STRATEGIES: dict[str, Callable[[DetectedStars, FrameSpec], Result]] = {
    "whole": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S),
    "scale20": lambda s, f: _engine(
        s, cpu_s=ENGINE_CPU_S, bands=[(f.pixel_scale_arcsec / 1.2, f.pixel_scale_arcsec * 1.2)]
    ),
    "scale2x": lambda s, f: _engine(
        s, cpu_s=ENGINE_CPU_S, bands=[(f.pixel_scale_arcsec / 2, f.pixel_scale_arcsec * 2)]
    ),
    "stars100": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S, count=100),
    "stars400": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S, count=400),
    "depth50": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S, depths=[(1, 50)]),
    "bands_nw": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S, bands=_bands(), depths=DEPTH_STEPS),
    "bands_wn": lambda s, f: _engine(
        s, cpu_s=ENGINE_CPU_S, bands=_bands(reverse=True), depths=DEPTH_STEPS
    ),
    "whole30_bands": lambda s, f: _then(
        _engine(s, cpu_s=ENGINE_CPU_S * 0.3),
        lambda cpu: _engine(s, cpu_s=cpu, bands=_bands(), depths=DEPTH_STEPS),
    ),
    "ctol5": lambda s, f: _engine(s, cpu_s=ENGINE_CPU_S, extra={"ANCTOL": 0.005}),
    "plan": lambda s, f: _plan(s),
}


def _frames(
    widths: list[float], conditions: list[str], seeds: list[int]
) -> list[tuple[str, float, int, FrameSpec, DetectedStars]]:
    CACHE.mkdir(exist_ok=True)
    solver = LocalSolver()
    sky: CatalogSky | None = None
    frames = []
    for width in widths:
        for condition in conditions:
            for seed in seeds:
                cached = CACHE / f"{condition}-{width:g}-{seed}-{SIZE[0]}.pkl"
                if not cached.exists():
                    sky = sky or CatalogSky(DEBIAN_INDEX_DIR)
                    spec = _spec(width, condition, seed, SIZE)
                    frame = render_frame(spec, sky)
                    with tempfile.TemporaryDirectory() as tmp:
                        path = write_fits(frame, Path(tmp) / "frame.fits")
                        stars = solver._stars(path, *SIZE)
                    cached.write_bytes(pickle.dumps((spec, stars)))
                spec, stars = pickle.loads(cached.read_bytes())
                frames.append((condition, width, seed, spec, stars))
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="plan")
    parser.add_argument("--widths", default="1,2")
    parser.add_argument(
        "--conditions", default="nebulosity,bayer_rggb,binned_2x2,partial_cloud,foreground,clear"
    )
    parser.add_argument("--seeds", default="101,102,103")
    args = parser.parse_args(argv)
    frames = _frames(
        [float(w) for w in args.widths.split(",")],
        args.conditions.split(","),
        [int(s) for s in args.seeds.split(",")],
    )
    strategy = STRATEGIES[args.strategy]
    print(f"strategy {args.strategy}; load {os.getloadavg()[0]:.2f}")
    correct, false, cpus = 0, 0, []
    for condition, width, seed, spec, stars in frames:
        started = time.monotonic()
        solved, ra, dec, cpu = strategy(stars, spec)
        ok = solved and _separation_arcmin(ra, dec, spec.ra_deg, spec.dec_deg) <= 1.0  # type: ignore[arg-type]
        correct += ok
        false += solved and not ok
        cpus.append(cpu)
        verdict = "ok" if ok else ("FALSE" if solved else "no")
        print(
            f"  {condition:>16} {width:>4g}° seed {seed:<4} {len(stars):>5} stars {verdict:<5} "
            f"engine CPU {cpu:5.2f} s (wall {time.monotonic() - started:5.2f} s)"
        )
    print(
        f"{args.strategy}: {correct}/{len(frames)} correct, {false} false, median engine CPU "
        f"{statistics.median(cpus):.2f} s; load {os.getloadavg()[0]:.2f}"
    )
    return 0 if false == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
