"""A night of full-size frames through `astrocat index`: frames/s, bytes read, peak memory, against
the same step functions in a plain loop, `sha256sum` and `cat`, all in one run (issue 17).

The frames: N light frames of 6248×4176 16-bit (an ASI2600-class sensor, 52 MB each) of one
target through a 400 mm refractor (1.94"/px, 3.4°×2.2°), dithered by a few pixels from frame
to frame, with the real stars of the installed Tycho-2 index files (the ones the solver
matches) and the headers N.I.N.A. writes. Every frame plate-solves.

Measured, in this order, each in a fresh process:

1. ``sha256sum`` over the files (one process), and ``cat`` of the files to /dev/null;
2. ``astrocat index ROOT`` (the real orchestration path: Dagster runs in a fresh home, the
   instance ``astrocat index`` creates beside the catalog with its own dagster.yaml, SQLite
   catalog, all five assets, the local solver), with its process's ``/proc/self/io`` read
   counts, CPU time and peak RSS;
3. the same frames through the step functions in a plain loop (the same one-pass reads, as
   many at once as the asset step reads), on a catalog of its own;
4. with ``--cold`` (needs root: ``/proc/sys/vm/drop_caches``), the page cache dropped before
   ``cat`` and again before ``astrocat index`` on a fresh home.

Goals: bytes read ≤ 1.1× the library; ≥ 3 frames/s warm; ≤ 3× the time of ``sha256sum``;
cold ≤ 1.2× ``cat``.

With ``--postgres``, steps 2-4 run on the production setup instead: the catalog and the
Dagster instance (deploy/dagster.postgres.yaml, deploy/production.env) on new databases of the
PostgreSQL server at ``$ASTROCAT_BENCH_POSTGRES_URL`` (default the local one), dropped after.

With ``--stages``, each frame's work split into its stages (read, fingerprint, header, pixels,
thumbnail, binning, detection, solve, catalog), one frame at a time in one thread, with wall
and CPU time (the solver's child processes included), and the memory of one file in flight
(peak RSS of one ``read_file_pass`` above the RSS before it, and tracemalloc's peak).

Run from the project root: ``.venv/bin/python -m bench.night_bench [N] [--cold] [--stages]
[--only-stages] [--postgres] [--keep DIR]`` (``--help``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

FRAMES = 24
WIDTH_PX, HEIGHT_PX = 6248, 4176
PIXEL_SIZE_UM = 3.76
FOCAL_LENGTH_MM = 400.0
TARGET = ("NGC 7000", 314.75, 44.33)  # North America Nebula: name, RA, Dec (deg)
BIAS_ADU = 500.0
SKY_ADU = 1200.0
READ_NOISE_ADU = 9.0
MAG_ZERO_POINT = 21.5  # magnitude giving 1 ADU summed over a star in the exposure
PSF_SIGMA_PX = 1.6
STAMP_HALF_PX = 7
DITHER_PX = 12

GOAL_BYTES_RATIO = 1.1
GOAL_FRAMES_PER_S = 3.0
GOAL_SHA256_RATIO = 3.0
GOAL_COLD_RATIO = 1.2


def _scale_arcsec() -> float:
    return 206.265 * PIXEL_SIZE_UM / FOCAL_LENGTH_MM


def _index_stars() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR
    from astrocat_pipeline.adapters.star_index import list_index_stars

    radius = np.hypot(WIDTH_PX, HEIGHT_PX) / 2 * _scale_arcsec() / 3600 + 0.2
    return list_index_stars(TARGET[1], TARGET[2], radius, DEBIAN_INDEX_DIR)


def _header(number: int, ra_deg: float, dec_deg: float) -> dict[str, object]:
    """The cards N.I.N.A. 3 writes for a mono light frame (in its order)."""
    from astrocat_pipeline.demo.library import format_dec_dms, format_ra_hms

    minute = 5 * number
    date_obs = f"2024-08-14T21:{minute // 60 % 60:02d}:{minute % 60:02d}.123"
    return {
        "EXTEND": True,
        "IMAGETYP": "LIGHT",
        "EXPOSURE": 300.0,
        "EXPTIME": 300.0,
        "DATE-LOC": date_obs.replace("T21", "T23"),
        "DATE-OBS": date_obs,
        "XBINNING": 1,
        "YBINNING": 1,
        "GAIN": 100,
        "OFFSET": 50,
        "EGAIN": 0.25,
        "XPIXSZ": PIXEL_SIZE_UM,
        "YPIXSZ": PIXEL_SIZE_UM,
        "INSTRUME": "ZWO ASI2600MM Pro",
        "SET-TEMP": -10.0,
        "CCD-TEMP": -10.0,
        "TELESCOP": "Askar FRA400",
        "FOCALLEN": FOCAL_LENGTH_MM,
        "FOCRATIO": 5.6,
        "RA": ra_deg,
        "DEC": dec_deg,
        "CENTALT": 61.2,
        "CENTAZ": 97.4,
        "AIRMASS": 1.14,
        "PIERSIDE": "WEST",
        "SITEELEV": 408.0,
        "SITELAT": 47.3769,
        "SITELONG": 8.5417,
        "FWHEEL": "ZWO EFW",
        "FILTER": "Ha",
        "OBJECT": TARGET[0],
        "OBJCTRA": format_ra_hms(ra_deg),
        "OBJCTDEC": format_dec_dms(dec_deg),
        "OBJCTROT": 0.0,
        "FOCNAME": "ZWO EAF",
        "FOCPOS": 10234,
        "FOCUSPOS": 10234,
        "FOCUSSZ": 1.0,
        "FOCTEMP": 14.2,
        "FOCUSTEM": 14.2,
        "ROWORDER": "TOP-DOWN",
        "EQUINOX": 2000.0,
        "SWCREATE": "N.I.N.A. 3.1.2.9001",
    }


def write_night(root: Path, count: int) -> list[Path]:
    """``count`` frames under ``root/NGC 7000/Ha``; returns their paths."""
    from astropy.io import fits
    from astropy.wcs import WCS

    ra_all, dec_all, mag_all = _index_stars()
    rng = np.random.default_rng(17)
    # One sensor noise pattern (bias, sky and read noise) for the night; each frame adds its
    # own shot noise on the stars and a different dither, so every file differs.
    base = rng.normal(
        BIAS_ADU + SKY_ADU, np.sqrt(SKY_ADU / 0.25 + READ_NOISE_ADU**2), (HEIGHT_PX, WIDTH_PX)
    )
    base = np.clip(base, 0, 65535).astype(np.uint16)
    yy, xx = np.mgrid[-STAMP_HALF_PX : STAMP_HALF_PX + 1, -STAMP_HALF_PX : STAMP_HALF_PX + 1]
    folder = root / TARGET[0] / "Ha"
    folder.mkdir(parents=True)
    paths = []
    for number in range(count):
        dx, dy = rng.uniform(-DITHER_PX, DITHER_PX, 2)
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [TARGET[1], TARGET[2]]
        wcs.wcs.crpix = [WIDTH_PX / 2 + 0.5 + dx, HEIGHT_PX / 2 + 0.5 + dy]
        scale_deg = _scale_arcsec() / 3600
        # Array row 0 is the top (ROWORDER = TOP-DOWN): north up, east left.
        wcs.wcs.cd = [[-scale_deg, 0.0], [0.0, -scale_deg]]
        x, y = wcs.all_world2pix(ra_all, dec_all, 0)
        inside = (
            (x > STAMP_HALF_PX)
            & (x < WIDTH_PX - STAMP_HALF_PX - 1)
            & (y > STAMP_HALF_PX)
            & (y < HEIGHT_PX - STAMP_HALF_PX - 1)
        )
        frame = base.astype(np.float32)
        for sx, sy, mag in zip(x[inside], y[inside], mag_all[inside], strict=True):
            ix, iy = round(sx), round(sy)
            flux = 10 ** (-0.4 * (mag - MAG_ZERO_POINT))
            stamp = np.exp(-((xx - (sx - ix)) ** 2 + (yy - (sy - iy)) ** 2) / (2 * PSF_SIGMA_PX**2))
            stamp *= flux / (2 * np.pi * PSF_SIGMA_PX**2)
            frame[
                iy - STAMP_HALF_PX : iy + STAMP_HALF_PX + 1,
                ix - STAMP_HALF_PX : ix + STAMP_HALF_PX + 1,
            ] += rng.poisson(np.maximum(stamp, 0)).astype(np.float32)
        hdu = fits.PrimaryHDU(np.clip(frame, 0, 65535).astype(np.uint16))
        ra_deg, dec_deg = wcs.all_pix2world([[WIDTH_PX / 2, HEIGHT_PX / 2]], 0)[0]
        for key, value in _header(number, float(ra_deg), float(dec_deg)).items():
            hdu.header[key] = value
        path = folder / f"{TARGET[0].replace(' ', '')}_Ha_300.00s_{number:04d}.fits"
        hdu.writeto(path)
        paths.append(path)
    return paths


# --- measured children ------------------------------------------------------------------------


def _io() -> dict[str, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {name: int(fields[name]) for name in ("rchar", "read_bytes")}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6  # kB in /proc: KiB
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def _cpu_s() -> float:
    """CPU time (user + system) of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child_index(root: str) -> dict[str, float]:
    """``astrocat index ROOT`` in this process (the environment says where), measured."""
    import re

    from astrocat_pipeline.cli import main

    before, began, cpu = _io(), time.perf_counter(), _cpu_s()
    code = main(["index", root, "--json"])  # its JSON summary goes to stdout
    elapsed = time.perf_counter() - began
    cpu = _cpu_s() - cpu
    after = _io()
    log = (Path(os.environ["ASTROCAT_HOME"]) / "index.log").read_text(errors="replace")
    # Dagster's durations: 533ms, 5.6s, 4m52s, 1h4m.
    steps = re.findall(
        r'Finished execution of step "image_assets" in (?:(\d+)h)?(?:(\d+)m(?!s))?'
        r"(?:([0-9.]+)(ms|s))?",
        log,
    )
    step_s = sum(
        3600 * float(h or 0)
        + 60 * float(m or 0)
        + (float(v) / (1000 if unit == "ms" else 1) if v else 0.0)
        for h, m, v, unit in steps
    )
    return {
        "code": code,
        "step_s": step_s,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "rchar": after["rchar"] - before["rchar"],
        "read_bytes": after["read_bytes"] - before["read_bytes"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_plain(root: str) -> dict[str, float]:
    """The same files through the same per-file work in a plain loop (cataloging/batch.py: the
    one-pass reads, the five steps, the check verdicts, as many files at once), without
    Dagster, on a catalog of its own."""
    from astrocat_pipeline.adapters.catalog import open_catalog
    from astrocat_pipeline.adapters.solvers import build_solver
    from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
    from astrocat_pipeline.cataloging import batch, checks, steps
    from astrocat_pipeline.cataloging.file_pass import default_workers
    from astrocat_pipeline.cataloging.objects import load_object_catalog
    from astrocat_pipeline.core.inventory import scan_root
    from astrocat_pipeline.settings import Settings

    settings = Settings.from_env()
    store = open_catalog(settings.database_url)
    thumbnails = ThumbnailStore(settings.thumbnail_cache_path)
    solver = build_solver(settings.solver, index_dir=settings.index_dir)
    objects = load_object_catalog()
    functions: dict[str, batch.StepFunction] = {
        "image_file": lambda key, read: steps.record_file(store, key, read),
        "image_metadata": lambda key, read: steps.extract_metadata(store, key, objects, read),
        "image_thumbnail": lambda key, read: steps.make_thumbnail(
            store, thumbnails, key, file_pass=read
        ),
        "plate_solution": lambda key, read: steps.solve_plate(
            store, solver, key, objects, file_pass=read
        ),
        "catalog_matches": lambda key, _read: steps.match_catalog(store, objects, key),
    }
    checks_on: dict[str, list[str]] = {}
    for name, stage in checks.CHECKED_ASSET.items():
        checks_on.setdefault(stage, []).append(name)
    base_rss = _rss_mb()
    before, began, cpu = _io(), time.perf_counter(), _cpu_s()
    entries = scan_root(root).entries
    store.upsert_inventory(entries)
    statuses: dict[str, int] = {}
    keys = [entry.partition_key for entry in entries]
    for work in batch.run_batch(store, objects, keys, functions, checks_on):
        for _, outcome in work.outcomes:
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    elapsed = time.perf_counter() - began
    cpu = _cpu_s() - cpu
    after = _io()
    store.close()
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "rchar": after["rchar"] - before["rchar"],
        "read_bytes": after["read_bytes"] - before["read_bytes"],
        "peak_rss_mb": _peak_rss_mb(),
        "base_rss_mb": base_rss,
        "workers": default_workers(),
        "statuses": statuses,  # type: ignore[dict-item]
    }


class _StageClock:
    """Wall and CPU time per named stage, summed over frames. CPU is this thread's
    (``time.thread_time``) plus what child processes used meanwhile (the solver's). While
    ``warming`` (the first frame: imports, caches, the solver's first start) nothing is
    counted."""

    def __init__(self) -> None:
        self.wall_s: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}
        self.warming = False

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = time.thread_time() - cpu
            spent += (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
            if not self.warming:
                self.wall_s[stage] = self.wall_s.get(stage, 0.0) + time.perf_counter() - wall
                self.cpu_s[stage] = self.cpu_s.get(stage, 0.0) + spent


STAGES = (
    "read",
    "fingerprint",
    "header",
    "pixels",
    "thumbnail",
    "binning",
    "detection",
    "solve",
    "catalog",
)


def child_stages(root: str) -> dict[str, object]:
    """Each frame's work, one frame at a time in one thread, split into its stages (what
    ``file_pass.read_file_pass`` and the five steps do, in their order): the read into memory,
    the content fingerprint, the header, the pixels (byte order), the thumbnail (rendered and
    encoded), the binning and the star detection, the plate solve (with its rows) and the
    other catalog writes (file, metadata, thumbnail, matches). The first frame warms up (the
    imports, the object catalog's and the solver's first use) and is not counted."""
    from astrocat_pipeline.adapters.catalog import open_catalog
    from astrocat_pipeline.adapters.solvers import build_solver
    from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
    from astrocat_pipeline.cataloging import steps
    from astrocat_pipeline.cataloging.file_pass import FilePass
    from astrocat_pipeline.cataloging.objects import load_object_catalog
    from astrocat_pipeline.cataloging.thumbnails import render_loaded_thumbnail
    from astrocat_pipeline.core.fingerprint import bytes_fingerprint
    from astrocat_pipeline.core.frame_stars import star_plane, stars_in_plane
    from astrocat_pipeline.core.inventory import scan_root
    from astrocat_pipeline.core.readers import fits_reader
    from astrocat_pipeline.core.thumbnail import encode_jpeg
    from astrocat_pipeline.core.tuning import STAR_LIST_MAX_STARS, THUMBNAIL_JPEG_QUALITY
    from astrocat_pipeline.settings import Settings

    settings = Settings.from_env()
    store = open_catalog(settings.database_url)
    thumbnails = ThumbnailStore(settings.thumbnail_cache_path)
    solver = build_solver(settings.solver, index_dir=settings.index_dir)
    objects = load_object_catalog()
    entries = scan_root(root).entries
    store.upsert_inventory(entries)
    clock = _StageClock()
    solved = 0
    for number, entry in enumerate(entries):
        clock.warming = number == 0 and len(entries) > 1
        key, path = entry.partition_key, Path(entry.path)
        with clock("read"):
            content = bytearray(path.stat().st_size)
            with path.open("rb") as handle:
                handle.readinto(content)
        with clock("fingerprint"):
            fingerprint = bytes_fingerprint(content)
        with clock("header"):
            header = fits_reader.header_from_bytes(path, "fits", content)
        assert header is not None, path
        with clock("pixels"):
            data = fits_reader.pixels_from_bytes(path, header, content)
        assert data is not None, path
        with clock("thumbnail"):
            image, stretch = render_loaded_thumbnail(path, data, header)
            jpeg = encode_jpeg(image, THUMBNAIL_JPEG_QUALITY)
        with clock("binning"):
            plane, factor = star_plane(data, cfa=header.bayer_pattern is not None)
        del data, content
        with clock("detection"):
            stars = stars_in_plane(plane, factor).head(STAR_LIST_MAX_STARS)
        del plane
        stat = path.stat()
        read = FilePass(
            path=str(path),
            fingerprint=fingerprint,
            size_bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            header=header,
            thumbnail=image,
            stretch=stretch,
            jpeg=jpeg,
            thumbnail_error=None,
            stars=stars,
            reads=1,
        )
        with clock("catalog"):
            steps.record_file(store, key, read)
            steps.extract_metadata(store, key, objects, read)
            steps.make_thumbnail(store, thumbnails, key, file_pass=read)
        with clock("solve"):
            outcome = steps.solve_plate(store, solver, key, objects, file_pass=read)
        solved += outcome.status == "ok"
        with clock("catalog"):
            steps.match_catalog(store, objects, key)
    store.close()
    counted = len(entries) - 1 if len(entries) > 1 else len(entries)
    return {
        "frames": counted,
        "solved": solved,
        "of": len(entries),
        "wall_s": clock.wall_s,
        "cpu_s": clock.cpu_s,
    }


def _clear_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5\n")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6  # kB in /proc: KiB
    return 0.0


def child_memory(root: str) -> dict[str, float]:
    """Memory of one file in flight: ``read_file_pass`` (the read, the thumbnail, the binning
    and the star detection) on one frame, after a small crop of it has loaded every module:
    the peak RSS above the RSS before (C allocations included: sep's, Pillow's), and the peak
    of what Python and numpy allocate (tracemalloc) on another frame."""
    import tracemalloc

    from astropy.io import fits

    from astrocat_pipeline.cataloging.file_pass import read_file_pass

    paths = sorted(Path(root).rglob("*.fits"))
    # The imports and the first allocations of every step, on a crop small enough not to
    # leave freed memory behind that the measured pass could reuse.
    with fits.open(paths[0]) as hdul:
        crop = fits.PrimaryHDU(hdul[0].data[:600, :900], hdul[0].header)
    warm = Path(os.environ["ASTROCAT_HOME"]) / "warm-up.fits"
    crop.writeto(warm)
    del crop
    read_file_pass(warm)
    if not _clear_peak_rss():
        return {}
    base = _status_mb("VmRSS")
    read_file_pass(paths[1 % len(paths)])
    rss_peak = _status_mb("VmHWM") - base
    tracemalloc.start()
    read_file_pass(paths[2 % len(paths)])
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rss_peak_mb": rss_peak, "traced_peak_mb": traced / 1e6}


def _run_child(kind: str, root: Path, home: Path, postgres: contextlib.ExitStack | None) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ASTROCAT_", "DAGSTER_", "THUMBNAIL_"))
    }
    # No DAGSTER_HOME: `astrocat index` makes its instance beside the catalog, with the
    # dagster.yaml it writes itself (what a user gets without scripts/run).
    env.update({"ASTROCAT_HOME": str(home)})
    home.mkdir(parents=True)
    if postgres is not None:
        env.update(_production_environment(home, postgres))
    out = home / "result.json"
    subprocess.run(
        [sys.executable, "-m", "bench.night_bench", f"--child-{kind}", str(root), str(out)],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(out.read_text())


def _production_environment(home: Path, postgres: contextlib.ExitStack) -> dict[str, str]:
    """What the production setup gives a process (README "Running in production"): the
    catalog on PostgreSQL, the Dagster instance of deploy/dagster.postgres.yaml on another
    database of the same server, deploy/production.env's variables. Both databases are new
    ones, dropped when ``postgres`` closes; the catalog's URL is kept in ``home``."""
    from bench.orchestration_bench import PRODUCTION_YAML, production_environment
    from bench.scratch_postgres import POSTGRES_URL_DEFAULT, POSTGRES_URL_ENV, scratch_database

    admin_url = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT)
    catalog_url = postgres.enter_context(scratch_database(admin_url, "night_bench_catalog"))
    dagster_url = postgres.enter_context(scratch_database(admin_url, "night_bench_dagster"))
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PRODUCTION_YAML, dagster_home / "dagster.yaml")
    (home / "catalog_url").write_text(catalog_url)
    return production_environment() | {
        "ASTROCAT_DATABASE_URL": catalog_url,
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_POSTGRES_URL": dagster_url,
    }


def _timed(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def _drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _solved(home: Path) -> int:
    from astrocat_pipeline.adapters.catalog import open_catalog

    url_file = home / "catalog_url"
    url = url_file.read_text() if url_file.exists() else f"sqlite:///{home / 'catalog.db'}"
    with open_catalog(url) as store:
        return sum(
            1
            for r in store.search(None)
            if r.plate_solution is not None and r.plate_solution.status == "solved"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.night_bench",
        description="A night of full-size frames through astrocat index, a plain loop, "
        "sha256sum and cat: frames/s, bytes read, memory (issue 17).",
    )
    parser.add_argument("frames", nargs="?", type=int, default=FRAMES, help="frames to write")
    parser.add_argument(
        "--cold", action="store_true", help="also from a cold page cache (needs root)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also each frame's work split into stages (one frame at a time, wall and CPU), "
        "and the memory of one file in flight",
    )
    parser.add_argument(
        "--only-stages",
        action="store_true",
        help="only the stages and the memory (no astrocat index, plain loop, sha256sum)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the production setup: catalog and Dagster instance on PostgreSQL "
        "(deploy/dagster.postgres.yaml, scratch databases on $ASTROCAT_BENCH_POSTGRES_URL's "
        "server) for astrocat index and the plain loop",
    )
    parser.add_argument("--keep", metavar="DIR", help="write under DIR and keep the files")
    return parser


def _print_table(rows: list[tuple[str, str, str]]) -> None:
    print()
    print(f"{'measure':<44} {'value':>22}  {'goal':<8}")
    print("-" * 78)
    for name, value, goal in rows:
        print(f"{name:<44} {value:>22}  {goal:<8}")


def _stage_rows(stages: dict, memory: dict, frame_mb: float) -> list[tuple[str, str, str]]:
    frames = stages["frames"]
    total_cpu = sum(stages["cpu_s"].values())
    rows = [(f"stages, per frame (mean of {frames})", "wall ms / CPU ms / CPU %", "")]
    for stage in STAGES:
        wall, cpu = stages["wall_s"].get(stage, 0.0), stages["cpu_s"].get(stage, 0.0)
        rows.append(
            (
                f"  {stage}",
                f"{wall / frames * 1e3:.0f} / {cpu / frames * 1e3:.0f} / "
                f"{100 * cpu / total_cpu:.0f} %",
                "",
            )
        )
    cores = len(os.sched_getaffinity(0))
    rows += [
        ("  all stages, CPU per frame", f"{total_cpu / frames * 1e3:.0f} ms", ""),
        (
            f"  CPU-projected frames/s ({cores} cores)",
            f"{frames * cores / total_cpu:.2f}",
            f">= {GOAL_FRAMES_PER_S}",
        ),
        ("  frames solved", f"{stages['solved']} of {stages['of']}", ""),
    ]
    if memory:
        rows += [
            ("one file in flight: peak RSS above start", f"{memory['rss_peak_mb']:.0f} MB", ""),
            ("  ... / frame size", f"{memory['rss_peak_mb'] / frame_mb:.2f}", "<= 3"),
            ("  tracemalloc peak (Python, numpy)", f"{memory['traced_peak_mb']:.0f} MB", ""),
            ("  ... / frame size", f"{memory['traced_peak_mb'] / frame_mb:.2f}", ""),
        ]
    return rows


def main(argv: list[str]) -> int:
    for kind, function in (
        ("index", child_index),
        ("plain", child_plain),
        ("stages", child_stages),
        ("memory", child_memory),
    ):
        if f"--child-{kind}" in argv:
            position = argv.index(f"--child-{kind}")
            result = function(argv[position + 1])
            Path(argv[position + 2]).write_text(json.dumps(result))
            return 0
    options = _parser().parse_args(argv[1:])
    from bench import machine

    print(machine.describe())
    count, cold = options.frames, options.cold
    stages_wanted = options.stages or options.only_stages
    frame_mb = WIDTH_PX * HEIGHT_PX * 2 / 1e6
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="night_bench_", dir=options.keep))
    stage_rows: list[tuple[str, str, str]] = []
    postgres = contextlib.ExitStack() if options.postgres else None
    try:
        root = tmp / "library"
        began = time.perf_counter()
        paths = write_night(root, count)
        library_bytes = sum(p.stat().st_size for p in paths)
        print(
            f"wrote {count} frames of {WIDTH_PX}x{HEIGHT_PX} 16-bit ({library_bytes / 1e9:.2f} GB) "
            f"in {time.perf_counter() - began:.0f} s; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        files = [str(p) for p in paths]
        _timed(["cat", *files])  # warm the page cache
        if stages_wanted:
            stages = _run_child("stages", root, tmp / "home_stages", None)
            memory = _run_child("memory", root, tmp / "home_memory", None)
            print(f"stages done; load {os.getloadavg()[0]:.2f}", flush=True)
            stage_rows = _stage_rows(stages, memory, frame_mb)
        if options.only_stages:
            _print_table(stage_rows)
            print()
            print(f"load average {Path('/proc/loadavg').read_text().strip()}")
            return 0
        sha_s = _timed(["sha256sum", *files])
        cat_s = _timed(["cat", *files])
        print(
            f"sha256sum {sha_s:.2f} s, cat {cat_s:.2f} s; load {os.getloadavg()[0]:.2f}", flush=True
        )
        (tmp / "empty").mkdir()
        empty = _run_child("index", tmp / "empty", tmp / "home_empty", postgres)
        index = _run_child("index", root, tmp / "home_index", postgres)
        solved_index = _solved(tmp / "home_index")
        print(
            f"astrocat index {index['elapsed_s']:.2f} s; load {os.getloadavg()[0]:.2f}", flush=True
        )
        plain = _run_child("plain", root, tmp / "home_plain", postgres)
        solved_plain = _solved(tmp / "home_plain")
        print(f"plain loop {plain['elapsed_s']:.2f} s; load {os.getloadavg()[0]:.2f}", flush=True)
        cold_rows = []
        if cold:
            _drop_caches()
            cat_cold_s = _timed(["cat", *files])
            _drop_caches()
            index_cold = _run_child("index", root, tmp / "home_cold", postgres)
            cold_ratio = index_cold["elapsed_s"] / cat_cold_s
            cold_rows = [
                ("cold: cat to /dev/null", f"{cat_cold_s:.2f} s", ""),
                ("cold: astrocat index", f"{index_cold['elapsed_s']:.2f} s", ""),
                ("cold: index / cat", f"{cold_ratio:.2f}", f"<= {GOAL_COLD_RATIO}"),
                (
                    "cold: bytes from disk / library",
                    f"{index_cold['read_bytes'] / library_bytes:.2f}",
                    "",
                ),
            ]
    finally:
        if postgres is not None:
            postgres.close()
        if options.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    frames_per_s = count / index["elapsed_s"]
    bytes_ratio = index["rchar"] / library_bytes
    sha_ratio = index["elapsed_s"] / sha_s
    per_file_mb = (plain["peak_rss_mb"] - plain["base_rss_mb"]) / plain["workers"]
    rows = [
        ("frames", f"{count} x {WIDTH_PX}x{HEIGHT_PX} u16", ""),
        (
            "catalog and Dagster instance",
            "PostgreSQL" if options.postgres else "SQLite",
            "",
        ),
        ("library", f"{library_bytes / 1e9:.2f} GB", ""),
        ("sha256sum (one process)", f"{sha_s:.2f} s", ""),
        ("cat to /dev/null (warm)", f"{cat_s:.2f} s", ""),
        ("astrocat index (warm)", f"{index['elapsed_s']:.2f} s", ""),
        ("  frames/s", f"{frames_per_s:.2f}", f">= {GOAL_FRAMES_PER_S}"),
        ("  CPU time (the process and its children)", f"{index['cpu_s']:.2f} s", ""),
        (
            f"  CPU-projected frames/s ({cores} cores)",
            f"{count * cores / index['cpu_s']:.2f}",
            "",
        ),
        ("  index / sha256sum", f"{sha_ratio:.2f}", f"<= {GOAL_SHA256_RATIO}"),
        ("  bytes read (rchar) / library", f"{bytes_ratio:.3f}", f"<= {GOAL_BYTES_RATIO}"),
        (
            "  ... less an empty library's reads",
            f"{(index['rchar'] - empty['rchar']) / library_bytes:.3f}",
            "",
        ),
        ("  the batch step's own time", f"{index['step_s']:.2f} s", ""),
        ("  an empty library's astrocat index", f"{empty['elapsed_s']:.2f} s", ""),
        ("  ... its CPU time", f"{empty['cpu_s']:.2f} s", ""),
        (
            f"  CPU-projected frames/s less start-up ({cores} cores)",
            f"{count * cores / (index['cpu_s'] - empty['cpu_s']):.2f}",
            "",
        ),
        (
            "  frames/s less the empty library's time",
            f"{count / (index['elapsed_s'] - empty['elapsed_s']):.2f}",
            "",
        ),
        ("  peak RSS of the process", f"{index['peak_rss_mb']:.0f} MB", ""),
        ("  frames solved", f"{solved_index} of {count}", ""),
        ("plain loop of the steps", f"{plain['elapsed_s']:.2f} s", ""),
        ("  frames/s", f"{count / plain['elapsed_s']:.2f}", ""),
        ("  CPU time", f"{plain['cpu_s']:.2f} s", ""),
        (
            f"  CPU-projected frames/s ({cores} cores)",
            f"{count * cores / plain['cpu_s']:.2f}",
            "",
        ),
        ("  bytes read (rchar) / library", f"{plain['rchar'] / library_bytes:.3f}", ""),
        ("  peak RSS above start / files in flight", f"{per_file_mb:.0f} MB", ""),
        ("  ... / frame size", f"{per_file_mb / frame_mb:.2f}", "<= 3"),
        ("  files read at once", f"{plain['workers']}", ""),
        ("  frames solved", f"{solved_plain} of {count}", ""),
        ("orchestrated / plain", f"{index['elapsed_s'] / plain['elapsed_s']:.2f}", ""),
        ("  ... in CPU time", f"{index['cpu_s'] / plain['cpu_s']:.2f}", ""),
        *cold_rows,
        *stage_rows,
    ]
    _print_table(rows)
    print()
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")
    met = (
        frames_per_s >= GOAL_FRAMES_PER_S
        and bytes_ratio <= GOAL_BYTES_RATIO
        and sha_ratio <= GOAL_SHA256_RATIO
        and (not cold or cold_ratio <= GOAL_COLD_RATIO)
    )
    print("goals met" if met else "GOALS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
