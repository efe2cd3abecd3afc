"""The crash campaign (issue 15): ``dagster dev`` over a library of 1,000 frames, its whole
process group (webserver, daemon, code server, run workers) killed with SIGKILL at random
moments while the new-file sensor's backfill is running, started again each time, then left to
finish. Run on the embedded instance (SQLite instance and catalog, the project's dagster.yaml)
and on the production one (deploy/dagster.postgres.yaml and a PostgreSQL catalog, each on a
scratch database of the server at ``$ASTROCAT_BENCH_POSTGRES_URL``, default the local one).

The library is small frames of several kinds, so that every table is written: light frames with
a WCS in their header at random places in the sky (a plate solution, catalog matches and a sky
footprint each, without a solver's time), copies of some of them in another folder (one
solution for two files), calibration frames (nothing to solve) and a few files that are not
images (an error each, recorded on the file). The plate solver is off (``ASTROCAT_SOLVER=none``):
a frame without a header WCS is left unsolved.

Printed per instance: files indexed exactly once out of the total (one catalog row, every asset
of the file materialized, or failed with the file's own error in the catalog), duplicate rows
(catalog rows per file, solutions per content, matches per image and object, sky footprints per
image), runs left unfinished, runs failed by run monitoring and retried, and the minutes from
the last restart to the end. Goal: every file once, no duplicates, nothing stuck, on both.

Run from the project root:
``.venv/bin/python -m bench.crash_campaign [--frames 1000] [--kills 10] [--seed 1]
[--only sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from astropy.io import fits

from bench.scratch_postgres import POSTGRES_URL_DEFAULT, POSTGRES_URL_ENV, scratch_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS = ("image_file", "image_metadata", "image_thumbnail", "plate_solution", "catalog_matches")
# The wait between a restart's webserver answering and the next kill, seconds.
KILL_AFTER_S = (4.0, 30.0)
FINISH_TIMEOUT_S = 45 * 60
UNFINISHED = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
STATUSES_QUERY = """
query {
  assetNodes(assetKeys: [ASSET_KEYS]) {
    assetKey { path }
    assetPartitionStatuses {
      ... on DefaultPartitionStatuses {
        materializedPartitions failedPartitions materializingPartitions
      }
    }
  }
}
""".replace("ASSET_KEYS", ", ".join(f'{{path: ["{asset}"]}}' for asset in ASSETS))
RUNS_QUERY = """
query { runsOrError { ... on Runs { results { runId status tags { key value } } } } }
"""


# -- the library -------------------------------------------------------------------------------


def write_library(root: Path, frames: int, seed: int) -> int:
    """``frames`` files under ``root``: 80 % lights with a header WCS, 8 % copies of some of
    them, 10 % calibration frames, 2 % files that are not images. Returns the file count."""
    rng = np.random.default_rng(seed)
    lights: list[Path] = []
    for i in range(frames):
        kind = rng.random()
        night = root / f"2024-10-{1 + i % 28:02d}"
        if kind < 0.02:
            path = night / "broken" / f"broken_{i:04d}.fits"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"SIMPLE  =                    T" + bytes(rng.integers(0, 255, 500)))
            continue
        if kind < 0.10 and lights:
            source = lights[int(rng.integers(len(lights)))]
            path = night / "copies" / f"copy_{i:04d}_{source.name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
            continue
        data = rng.normal(1000.0, 12.0, (96, 128))
        for _ in range(8):
            y, x = rng.integers(3, 93), rng.integers(3, 125)
            data[y - 1 : y + 2, x - 1 : x + 2] += rng.uniform(2000, 20000)
        hdu = fits.PrimaryHDU(np.clip(data, 0, 65535).astype(np.uint16))
        header = hdu.header
        header["EXPTIME"] = 120.0
        header["DATE-OBS"] = f"2024-10-{1 + i % 28:02d}T22:{i // 60 % 60:02d}:{i % 60:02d}"
        if kind < 0.20:
            frame_type = ("BIAS", "DARK", "FLAT")[i % 3]
            header["IMAGETYP"] = frame_type
            path = night / "calibration" / f"{frame_type.lower()}_{i:04d}.fits"
        else:
            header["IMAGETYP"] = "LIGHT"
            ra, dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
            header.update(
                {
                    "CTYPE1": "RA---TAN",
                    "CTYPE2": "DEC--TAN",
                    "CRVAL1": ra,
                    "CRVAL2": dec,
                    "CRPIX1": 64.5,
                    "CRPIX2": 48.5,
                    "CDELT1": -0.02,
                    "CDELT2": 0.02,
                    "RA": ra,
                    "DEC": dec,
                }
            )
            path = night / "lights" / f"light_{i:04d}.fits"
            lights.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        hdu.writeto(path)
    return sum(1 for p in root.rglob("*") if p.is_file())


# -- dagster dev -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]
    except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
        return None


@dataclass
class Setup:
    name: str
    environment: dict[str, str]
    dagster_home: Path
    catalog_url: str


def start(setup: Setup, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    dagster = Path(sys.executable).with_name("dagster")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=setup.environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 120
    while graphql(port, "query { version }") is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dagster dev did not start: see {log}")
        time.sleep(0.5)
    return process, port


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # Orphans of the group (a code server's run worker) go with it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.2)
            continue
        return


def stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        kill(process)


@dataclass(frozen=True)
class Progress:
    materialized: dict[str, set[str]]
    failed: dict[str, set[str]]
    materializing: int
    unfinished_runs: int
    runs: list[dict]


def progress(port: int) -> Progress | None:
    data = graphql(port, STATUSES_QUERY)
    runs = graphql(port, RUNS_QUERY)
    if not data or not runs:
        return None
    materialized, failed, materializing = {}, {}, 0
    for node in data["assetNodes"]:
        asset = node["assetKey"]["path"][0]
        statuses = node["assetPartitionStatuses"] or {}
        materialized[asset] = set(statuses.get("materializedPartitions") or ())
        failed[asset] = set(statuses.get("failedPartitions") or ())
        materializing += len(statuses.get("materializingPartitions") or ())
    results = runs["runsOrError"]["results"]
    unfinished = sum(run["status"] in UNFINISHED for run in results)
    return Progress(materialized, failed, materializing, unfinished, results)


# -- what the catalog holds ---------------------------------------------------------------------


def catalog_counts(catalog_url: str, files: list[str]) -> dict[str, int]:
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:

            def one(sql: str) -> int:
                return int(conn.exec_driver_sql(sql).scalar() or 0)

            rows_by_path = dict(
                conn.exec_driver_sql(
                    "SELECT path, count(*) FROM images WHERE removed_at IS NULL GROUP BY path"
                ).all()
            )
            errors = dict(
                conn.exec_driver_sql(
                    "SELECT partition_key, error_stage FROM images WHERE error IS NOT NULL"
                ).all()
            )
            keys = dict(conn.exec_driver_sql("SELECT path, partition_key FROM images").all())
            return {
                "files with one row": sum(rows_by_path.get(path) == 1 for path in files),
                "duplicate image rows": sum(max(0, n - 1) for n in rows_by_path.values()),
                "duplicate solutions": one(
                    "SELECT count(*) - count(DISTINCT fingerprint) FROM plate_solutions"
                ),
                "duplicate matches": one(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n "
                    "FROM catalog_matches GROUP BY image_id, catalog, designation) AS m"
                ),
                "duplicate sky footprints": one(
                    "SELECT count(*) - count(DISTINCT image_id) FROM sky_footprints"
                ),
                "solutions": one("SELECT count(*) FROM plate_solutions"),
                "matches": one("SELECT count(*) FROM catalog_matches"),
                "sky footprints": one("SELECT count(*) FROM sky_footprints"),
                "_errors": errors,  # type: ignore[dict-item]
                "_keys": keys,  # type: ignore[dict-item]
                "_rows": rows_by_path,  # type: ignore[dict-item]
            }
    finally:
        engine.dispose()


def files_done(state: Progress, counts: dict, files: list[str]) -> int:
    """Files with one catalog row and a visible end: every asset materialized, or the file's
    own error recorded in the catalog and the file shown failed in Dagster.

    A failed file shows failed on the assets its failed run planned. A run created by a sensor
    tick that was killed halfway lacks some of its planned-materialization events, so such a
    file may show failed on a downstream asset only, and missing (not failed) on the one it
    failed at; the UI's "failed and missing" backfill covers both."""
    keys, errors = counts["_keys"], counts["_errors"]
    done = 0
    for path in files:
        key = keys.get(path)
        if key is None or counts["_rows"].get(path) != 1:
            continue
        complete = all(key in state.materialized.get(asset, ()) for asset in ASSETS)
        own_failure = key in errors and any(key in state.failed.get(a, ()) for a in ASSETS)
        done += complete or own_failure
    return done


def failed_at_their_stage(state: Progress, counts: dict) -> int:
    """Failed files shown failed on the very asset they failed at."""
    return sum(key in state.failed.get(stage, ()) for key, stage in counts["_errors"].items())


# -- one campaign ---------------------------------------------------------------------------------


def campaign(setup: Setup, library: Path, kills: int, rng: random.Random, work: Path) -> dict:
    files = sorted(str(p) for p in library.rglob("*") if p.is_file())
    log = work / f"{setup.name}.log"
    killed = 0
    started = time.monotonic()
    process, port = start(setup, log)
    last_restart = time.monotonic()
    while killed < kills:
        wait_s = rng.uniform(*KILL_AFTER_S)
        deadline = time.monotonic() + wait_s
        finished = False
        while time.monotonic() < deadline:
            time.sleep(1.0)
            state = progress(port)
            if (
                state
                and state.unfinished_runs == 0
                and all(
                    len(state.materialized.get(a, ())) + len(state.failed.get(a, ())) >= len(files)
                    for a in ASSETS
                )
            ):
                finished = True
                break
        if finished:
            break  # the backfill ended before every planned kill
        kill(process)
        killed += 1
        print(f"  {setup.name}: kill {killed} after {wait_s:.0f} s", flush=True)
        process, port = start(setup, log)
        last_restart = time.monotonic()
    try:
        deadline = time.monotonic() + FINISH_TIMEOUT_S
        state = None
        while time.monotonic() < deadline:
            state = progress(port)
            if state and state.unfinished_runs == 0 and state.materializing == 0:
                counts = catalog_counts(setup.catalog_url, files)
                if files_done(state, counts, files) == len(files):
                    break
            time.sleep(5)
        finish_min = (time.monotonic() - last_restart) / 60
        state = progress(port)
    finally:
        stop(process)
    counts = catalog_counts(setup.catalog_url, files)
    runs = state.runs if state else []
    failed_by_monitoring = sum(
        1
        for run in runs
        if run["status"] == "FAILURE"
        and any(t["key"] == "dagster/will_retry" and t["value"] == "true" for t in run["tags"])
    )
    retries = sum(any(t["key"] == "dagster/retry_number" for t in run["tags"]) for run in runs)
    return {
        "files": len(files),
        "kills": killed,
        "indexed once": files_done(state, counts, files) if state else 0,
        "files with one row": counts["files with one row"],
        "files with their own error": len(counts["_errors"]),
        "of which failed on the asset they failed at": (
            failed_at_their_stage(state, counts) if state else 0
        ),
        "duplicate rows": {k: v for k, v in counts.items() if k.startswith("duplicate")},
        "rows": {k: counts[k] for k in ("solutions", "matches", "sky footprints")},
        "runs unfinished": state.unfinished_runs if state else None,
        "runs": len(runs),
        "runs failed by crashes (retried)": failed_by_monitoring,
        "retry runs": retries,
        "minutes after last restart": round(finish_min, 1),
        "minutes in all": round((time.monotonic() - started) / 60, 1),
    }


def base_environment(home: Path, library: Path) -> dict[str, str]:
    environment = {
        **os.environ,
        "ASTROCAT_HOME": str(home),
        "ASTROCAT_LIBRARY_ROOTS": str(library),
        "ASTROCAT_SOLVER": "none",
    }
    environment.pop("ASTROCAT_DATABASE_URL", None)
    return environment


def sqlite_setup(work: Path, library: Path) -> Iterator[Setup]:
    home = work / "sqlite_home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    environment = base_environment(home, library) | {"DAGSTER_HOME": str(dagster_home)}
    yield Setup("sqlite", environment, dagster_home, f"sqlite:///{home / 'catalog.db'}")


def postgres_setup(work: Path, library: Path) -> Iterator[Setup]:
    admin = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT)
    with (
        scratch_database(admin, "crash_dagster") as dagster_url,
        scratch_database(admin, "crash_catalog") as catalog_url,
    ):
        home = work / "postgres_home"
        dagster_home = home / "dagster_home"
        dagster_home.mkdir(parents=True)
        production_yaml = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"
        shutil.copy(production_yaml, dagster_home / "dagster.yaml")
        environment = base_environment(home, library) | {
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_POSTGRES_URL": dagster_url.replace("postgresql://", "postgresql+psycopg2://"),
            "ASTROCAT_DATABASE_URL": catalog_url,
        }
        lines = (PROJECT_ROOT / "deploy" / "production.env").read_text().splitlines()
        for line in lines:
            if line.strip() and not line.startswith("#"):
                name, value = line.split("=", 1)
                environment[name.strip()] = value.strip()
        yield Setup(
            "postgres",
            environment,
            dagster_home,
            catalog_url.replace("postgresql://", "postgresql+psycopg://"),
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print(f"load average at start: {os.getloadavg()}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="crash_campaign_") as scratch:
        work = Path(scratch)
        for name, setup_of in (("sqlite", sqlite_setup), ("postgres", postgres_setup)):
            if args.only and args.only != name:
                continue
            library = work / f"library_{name}"
            files = write_library(library, args.frames, args.seed)
            print(f"{name}: {files} files, {args.kills} kills planned", flush=True)
            for setup in setup_of(work, library):
                try:
                    results[name] = campaign(setup, library, args.kills, rng, work)
                except Exception:
                    print((work / f"{name}.log").read_text()[-5000:])
                    raise
            print(json.dumps({name: results[name]}, indent=2), flush=True)
    print(f"load average at end: {os.getloadavg()}")
    ok = all(
        r["indexed once"] == r["files"]
        and not any(r["duplicate rows"].values())
        and r["runs unfinished"] == 0
        for r in results.values()
    )
    print("goal (every file once, no duplicates, nothing stuck):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
