"""A night solves like one field: what a neighbour's solution as the hint gains on frames whose
header gives no pointing, and what a wrong neighbour costs (issue 19, item 5).

A night of dithered realistic frames (``demo/realistic.py``'s ``night_sequence``: one target,
dithers of 2′, a meridian flip halfway) written as N.I.N.A.-style FITS files **without** RA/DEC
and OBJCTRA/OBJCTDEC (the scale is in the header: FOCALLEN, XPIXSZ), indexed into a fresh SQLite
catalog (inventory, metadata, the stored star list) and solved through the pipeline's own step
(``cataloging.steps.solve_plate`` with the local solver and the Hipparcos check), in time
order, twice: with neighbours off (each frame: scale-only hint, then blind) and on (a frame
solved earlier in the night hints the next). Then a wrong neighbour: the night's first frame
with only a frame of another target of the same night (same camera and optics, no OBJECT)
solved before it.

Times per frame: wall and CPU (this process and the engine runs), with the load average.

Run from the project root: ``.venv/bin/python -m bench.neighbour_bench [--frames N]
[--width-deg W] [--no-scale]`` (``--no-scale``: no FOCALLEN/XPIXSZ either, so the frames'
own path is a blind search).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR, LocalSolver
from astrocat_pipeline.cataloging.solution_check import SolutionChecker
from astrocat_pipeline.cataloging.steps import extract_metadata, solve_plate
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.inventory import partition_key
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline.demo.realistic import (
    CatalogSky,
    FrameSpec,
    RealisticFrame,
    night_sequence,
    render_frame,
    write_fits,
)

POINTING_CARDS = ("RA", "DEC", "OBJCTRA", "OBJCTDEC")
SCALE_CARDS = ("FOCALLEN", "XPIXSZ", "YPIXSZ")


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _without_pointing(frame: RealisticFrame, *, scale: bool) -> RealisticFrame:
    header = frame.header.copy()
    for card in POINTING_CARDS + (() if scale else SCALE_CARDS):
        header.remove(card, ignore_missing=True)
    header["OBJECT"] = ""  # no target to resolve a position from either
    return dataclasses.replace(frame, header=header)


def _index(store: CatalogStore, path: Path, frame: RealisticFrame) -> str:
    """Inventory, metadata and the star list, as the pipeline's one pass records them."""
    root = str(path.parent)
    key = partition_key(root, path.name)
    stat = path.stat()
    store.upsert_inventory(
        [InventoryEntry(root, path.name, stat.st_size, stat.st_mtime_ns, "fits", key)]
    )
    fingerprint = content_fingerprint(path)
    store.record_file(
        key, fingerprint=fingerprint, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns
    )
    extract_metadata(store, key, None)
    stars = frame_stars(frame.data, cfa=frame.spec.bayer_pattern is not None).head(1000)
    store.save_star_list(fingerprint, frame.spec.width_px, frame.spec.height_px, stars)
    return key


def _off_arcmin(store: CatalogStore, path: Path, spec: FrameSpec) -> float | None:
    solution = store.get_solution(content_fingerprint(path))
    if solution is None or solution.status != "solved" or solution.geometry is None:
        return None
    g = solution.geometry
    p1, p2 = math.radians(g.dec_deg), math.radians(spec.dec_deg)
    dl = math.radians(g.ra_deg - spec.ra_deg)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.acos(min(1.0, cos))) * 60.0


def _solve_night(
    frames: list[tuple[Path, RealisticFrame]],
    solver: LocalSolver,
    checker: SolutionChecker,
    folder: Path,
    use_neighbours: bool,
    before: tuple[Path, RealisticFrame] | None = None,
) -> list[tuple[float, float, float | None, str]]:
    """(wall s, CPU s, centre error ′ or None, first attempt's hints) per frame."""
    store = open_catalog(f"sqlite:///{folder / 'catalog.db'}")
    try:
        if before is not None:  # a frame solved earlier in the night (the wrong neighbour)
            key = _index(store, *before)
            solve_plate(store, solver, key, checker=checker, use_neighbours=False)
        results = []
        for path, frame in frames:
            key = _index(store, path, frame)
            started, cpu = time.monotonic(), _cpu_s()
            solve_plate(store, solver, key, checker=checker, use_neighbours=use_neighbours)
            wall, spent = time.monotonic() - started, _cpu_s() - cpu
            solution = store.get_solution(content_fingerprint(path))
            assert solution is not None
            first = solution.attempts[0].hints if solution.attempts else None
            kind = (
                "blind"
                if first is None
                else "position+scale"
                if first.has_position
                else "scale only"
            )
            results.append((wall, spent, _off_arcmin(store, path, frame.spec), kind))
        return results
    finally:
        store.close()


def _report(label: str, results: list[tuple[float, float, float | None, str]]) -> None:
    solved = [r for r in results if r[2] is not None and r[2] <= 1.0]
    walls, cpus = [r[0] for r in results], [r[1] for r in results]
    kinds = {kind: sum(r[3] == kind for r in results) for kind in {r[3] for r in results}}
    print(
        f"  {label:<34} {len(solved)}/{len(results)} within 1′; median "
        f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU; "
        f"total {sum(cpus):.1f} s CPU; "
        f"first search: {kinds}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width-deg", type=float, default=2.0)
    parser.add_argument("--index-dir", type=Path, default=DEBIAN_INDEX_DIR)
    parser.add_argument(
        "--no-scale", action="store_true", help="no FOCALLEN/XPIXSZ either (a blind solve)"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    print(_load())
    sky = CatalogSky(args.index_dir)
    solver = LocalSolver(index_dir=args.index_dir)
    checker = SolutionChecker()
    base = FrameSpec(
        ra_deg=83.82, dec_deg=-5.39, width_deg=args.width_deg, width_px=1500, height_px=1000,
        seed=77, rotation_deg=12.0, gradient=0.3, date_obs=datetime(2026, 3, 14, 21, 0),
    )  # fmt: skip
    specs = night_sequence(base, args.frames, dither_arcmin=2.0, flip_after=args.frames // 2)
    # Another target of the same night, same camera and optics, shot just before.
    other_spec = dataclasses.replace(
        base, ra_deg=base.ra_deg + 30.0, dec_deg=base.dec_deg + 20.0, seed=99,
        date_obs=datetime(2026, 3, 14, 20, 50),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="astrocat-neighbour-bench-") as tmp:
        folder = Path(tmp)
        frames = []
        for number, spec in enumerate(specs):
            frame = _without_pointing(render_frame(spec, sky), scale=not args.no_scale)
            frames.append((write_fits(frame, folder / "night" / f"f{number:02d}.fits"), frame))
        other = _without_pointing(render_frame(other_spec, sky), scale=not args.no_scale)
        other_path = write_fits(other, folder / "night" / "other-target.fits")
        scale = "no scale either" if args.no_scale else "scale from FOCALLEN/XPIXSZ"
        print(
            f"{len(frames)} frames of {args.width_deg:g}° (1500x1000, no pointing in the header, "
            f"{scale}), solved in time order; {_load()}"
        )
        runs = {}
        for label, use, sub in (
            ("without neighbours", False, "off"),
            ("with neighbours", True, "on"),
        ):
            (folder / sub).mkdir()
            runs[label] = _solve_night(frames, solver, checker, folder / sub, use)
            _report(label, runs[label])
            print(f"    ({_load()})")
        (folder / "wrong").mkdir()
        wrong = _solve_night(
            frames[:1], solver, checker, folder / "wrong", True, before=(other_path, other)
        )
        (folder / "alone").mkdir()
        alone = _solve_night(frames[:1], solver, checker, folder / "alone", False)
        _report("first frame, a wrong neighbour first", wrong)
        _report("first frame, no neighbour", alone)
        print(
            f"  a wrong neighbour costs {wrong[0][1] - alone[0][1]:+.2f} s of CPU "
            f"({wrong[0][0] - alone[0][0]:+.2f} s wall); {_load()}"
        )
        with_n = runs["with neighbours"][1:]
        without_n = runs["without neighbours"][1:]
        gain = sum(r[1] for r in without_n) / max(1e-9, sum(r[1] for r in with_n))
        print(
            f"  frames 2-{len(frames)}: CPU {sum(r[1] for r in without_n):.1f} s without, "
            f"{sum(r[1] for r in with_n):.1f} s with neighbours: {gain:.1f}× less"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
