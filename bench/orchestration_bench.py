"""What Dagster costs per file: 1,000 small FITS frames through inventory, metadata and
thumbnail by the real orchestration path, against the same step functions in a plain loop.

Orchestrated: the ``index_images`` job executed in-process, one run per batch of
``PARTITIONS_PER_RUN`` consecutive partitions with the range tags the new-file sensor puts on its
runs, selecting ``image_file``, ``image_metadata`` and ``image_thumbnail``, on two Dagster
instances in turn:

- the embedded one: SQLite under a temporary ``DAGSTER_HOME`` with the project's storage
  (dagster.yaml: Dagster's SQLite storages with their connections kept open,
  astrocat_pipeline/defs/sqlite_storage.py); ``--compare-dagster-sqlite`` also runs Dagster's
  default SQLite storage (a connection per operation);
- the production one, deploy/dagster.postgres.yaml's storage in deploy/production.env's
  environment (event batching): dagster-postgres on a fresh database of the server at
  ``$ASTROCAT_BENCH_POSTGRES_URL`` (default the local one). ``--no-postgres`` skips it;
  ``--compare-unpooled`` also runs dagster-postgres's plain ``storage: postgres`` (a connection
  per query) in the same invocation, after the production one.

Plain: ``steps.record_file``, ``steps.extract_metadata`` and ``steps.make_thumbnail`` for every
file in one loop, on a catalog of its own. All start from the same inventory rows (what the
sensor writes; its cost is in bench/partitions_bench.py). A daemon-launched run also pays a
process start (seconds, see docs/orchestration.md), which in-process execution leaves out.

Plain: the same per-file work without Dagster (``cataloging.batch.run_batch`` with the same
three steps and the checks on them: the one-pass reads, files two at a time).

Goals: small frames (issue 7) orchestrated / plain at most 1.3; full-size frames (``--full``,
6248x4176 16-bit, issue 17) at most 1.10 on the PostgreSQL instance and 1.20 on SQLite.
``--emit-subset`` also runs the PostgreSQL instance with
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1`` (one planned event per asset and run).

Run from the project root: ``.venv/bin/python -m bench.orchestration_bench [FRAMES]
[--full] [--no-postgres] [--compare-unpooled] [--emit-subset] [--compare-dagster-sqlite]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import yaml
from astropy.io import fits

from astrocat_pipeline.defs.sqlite_storage import storage_yaml
from bench import machine
from bench.scratch_postgres import POSTGRES_URL_DEFAULT, POSTGRES_URL_ENV, scratch_database

FRAMES = 1000
FULL_FRAMES = 40
SHAPE = (512, 512)  # a small frame; a camera frame is 10-60 Mpx
FULL_SHAPE = (4176, 6248)  # an ASI2600-class sensor, 26 Mpx
GOAL_RATIO = 1.3
# Issue 17's goals for full-size frames, by instance.
FULL_GOALS = {"SQLite": 1.20, "PostgreSQL": 1.10}
ASSETS = ("image_file", "image_metadata", "image_thumbnail")
# Dagster's console logger prints every event of every run; the event log gets them anyway.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def write_frames(root: Path, count: int, shape: tuple[int, int] = SHAPE) -> None:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[-5:6, -5:6]
    # One noise pattern for every frame (a full-size one takes a second to draw); the stars
    # differ, so every file does.
    noise = rng.normal(1000.0, 12.0, shape).astype(np.float32)
    for i in range(count):
        frame = noise.copy()
        for _ in range(15 if shape == SHAPE else 400):  # Gaussian stars in 11x11 stamps
            x, y = rng.integers(5, shape[1] - 6), rng.integers(5, shape[0] - 6)
            dx, dy = rng.uniform(-0.5, 0.5, 2)
            star = rng.uniform(2000, 20000) * np.exp(-((xx - dx) ** 2 + (yy - dy) ** 2) / 4.0)
            frame[y - 5 : y + 6, x - 5 : x + 6] += star
        hdu = fits.PrimaryHDU(np.clip(frame, 0, 65535).astype(np.uint16))
        header = hdu.header
        header["IMAGETYP"] = "LIGHT"
        header["OBJECT"] = "M 31"
        header["EXPTIME"] = 300.0
        header["FILTER"] = "Ha" if i % 2 else "OIII"
        header["INSTRUME"] = "ZWO ASI2600MM Pro"
        header["DATE-OBS"] = f"2024-10-05T21:{i // 60 % 60:02d}:{i % 60:02d}"
        folder = root / "M31" / header["FILTER"]
        folder.mkdir(parents=True, exist_ok=True)
        hdu.writeto(folder / f"M31_{header['FILTER']}_300s_{i:04d}.fits")


PRODUCTION_ENV = Path(__file__).resolve().parent.parent / "deploy" / "production.env"
PRODUCTION_YAML = Path(__file__).resolve().parent.parent / "deploy" / "dagster.postgres.yaml"
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def production_storage() -> dict:
    """The storage entries of deploy/dagster.postgres.yaml (their URL is read from
    ``DAGSTER_POSTGRES_URL``)."""
    import yaml

    config = yaml.safe_load(PRODUCTION_YAML.read_text(encoding="utf-8"))
    return {key: config[key] for key in STORAGE_KEYS if key in config}


def production_environment() -> dict[str, str]:
    """The variables deploy/production.env sets."""
    lines = PRODUCTION_ENV.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def run_orchestrated(
    instance: dg.DagsterInstance, keys: list[str]
) -> tuple[float, int, int, float]:
    """Every batch through ``index_images``; (seconds, runs, events written, CPU seconds of
    this process: the SQLite instance's writes included, a PostgreSQL server's not)."""
    from astrocat_pipeline.core.inventory import contiguous_batches
    from astrocat_pipeline.definitions import defs
    from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME, PARTITIONS_PER_RUN
    from astrocat_pipeline.defs.sensors import (
        RANGE_END_TAG,
        RANGE_START_TAG,
        SENSOR_NAME,
        SENSOR_NAME_TAG,
    )

    instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, keys)
    job = defs.resolve_job_def("index_images")
    selection = [dg.AssetKey(name) for name in ASSETS]
    batches = contiguous_batches(keys, set(keys), PARTITIONS_PER_RUN)
    run_ids = []
    begin, cpu = time.perf_counter(), time.process_time()
    for number, batch in enumerate(batches, start=1):
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET,
            asset_selection=selection,
            tags={
                RANGE_START_TAG: batch[0],
                RANGE_END_TAG: batch[-1],
                SENSOR_NAME_TAG: SENSOR_NAME,
            },
        )
        if not result.success:
            raise RuntimeError(f"run {result.run_id} failed")
        run_ids.append(result.run_id)
        if number % 10 == 0:
            print(
                f"  {number}/{len(batches)} runs, {time.perf_counter() - begin:.0f} s", flush=True
            )
    seconds, cpu = time.perf_counter() - begin, time.process_time() - cpu
    for name in ASSETS:
        done = instance.get_materialized_partitions(dg.AssetKey(name))
        assert done == set(keys), f"{name}: {len(done)} of {len(keys)} materialized"
    events = sum(len(instance.all_logs(run_id)) for run_id in run_ids)
    return seconds, len(batches), events, cpu


def main(argv: list[str]) -> int:
    args = [arg for arg in argv[1:] if not arg.startswith("--")]
    full = "--full" in argv
    shape = FULL_SHAPE if full else SHAPE
    frames = int(args[0]) if args else FULL_FRAMES if full else FRAMES
    with_postgres = "--no-postgres" not in argv
    print(machine.describe())
    os.environ["ASTROCAT_SOLVER"] = "none"
    for name in (
        "ASTROCAT_DATABASE_URL",
        "THUMBNAIL_CACHE_PATH",
        "ASTROCAT_LIBRARY_ROOTS",
    ):
        os.environ.pop(name, None)
    from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
    from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
    from astrocat_pipeline.cataloging import batch, checks, steps
    from astrocat_pipeline.cataloging.objects import load_object_catalog
    from astrocat_pipeline.core.inventory import scan_root
    from astrocat_pipeline.defs.partitions import PARTITIONS_PER_RUN
    from astrocat_pipeline.settings import Settings

    with tempfile.TemporaryDirectory(prefix="orchestration_bench_") as tmp_text:
        tmp = Path(tmp_text)
        root = tmp / "library"
        begin = time.perf_counter()
        write_frames(root, frames, shape)
        print(
            f"wrote {frames} frames of {shape[1]}x{shape[0]} px in "
            f"{time.perf_counter() - begin:.1f} s",
            flush=True,
        )
        entries = scan_root(str(root)).entries
        keys = [entry.partition_key for entry in entries]

        def catalog(home: Path) -> tuple[CatalogStore, Settings]:
            os.environ["ASTROCAT_HOME"] = str(home)
            settings = Settings.from_env()
            store = open_catalog(settings.database_url)
            store.upsert_inventory(entries)
            return store, settings

        def thumbnails_made(store: CatalogStore) -> int:
            return sum(1 for result in store.search(None) if result.image.thumbnail_path)

        # --- plain loop: the same per-file work, without Dagster ---
        store, settings = catalog(tmp / "plain")
        thumbnails = ThumbnailStore(settings.thumbnail_cache_path)
        begin, plain_cpu = time.perf_counter(), time.process_time()
        objects = load_object_catalog()
        statuses: dict[str, int] = {}
        functions: dict[str, batch.StepFunction] = {
            "image_file": lambda key, read: steps.record_file(store, key, read),
            "image_metadata": lambda key, read: steps.extract_metadata(store, key, objects, read),
            "image_thumbnail": lambda key, read: steps.make_thumbnail(
                store, thumbnails, key, file_pass=read
            ),
        }
        checks_on = {
            stage: [name for name, on in checks.CHECKED_ASSET.items() if on == stage]
            for stage in functions
        }
        for number in range(0, len(keys), PARTITIONS_PER_RUN):
            run_keys = keys[number : number + PARTITIONS_PER_RUN]
            for work in batch.run_batch(store, objects, run_keys, functions, checks_on):
                for _, outcome in work.outcomes:
                    statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        plain_s, plain_cpu = time.perf_counter() - begin, time.process_time() - plain_cpu
        print(f"plain loop: {plain_s:.1f} s {statuses}", flush=True)

        results: list[tuple[str, float, int, int, float]] = []
        # --- orchestrated, embedded SQLite instance: the project's storage (dagster.yaml,
        # connections kept); with --compare-dagster-sqlite also Dagster's default storage ---
        sqlite_variants = [("SQLite instance (dagster.yaml, kept connections)", True)]
        if "--compare-dagster-sqlite" in argv:
            sqlite_variants.append(("SQLite instance (Dagster's default storage)", False))
        for number, (label, kept) in enumerate(sqlite_variants):
            store, _ = catalog(tmp / f"sqlite{number}")
            home = tmp / f"dagster_sqlite{number}"
            home.mkdir()
            overrides: dict = {"telemetry": {"enabled": False}}
            if kept:
                overrides["storage"] = yaml.safe_load(storage_yaml(str(home)))["storage"]
            instance = dg.DagsterInstance.local_temp(tempdir=str(home), overrides=overrides)
            seconds, runs, events, cpu = run_orchestrated(instance, keys)
            instance.dispose()
            assert thumbnails_made(store) == frames
            print(f"orchestrated, {label}: {seconds:.1f} s in {runs} runs", flush=True)
            results.append((label, seconds, runs, events, cpu))

        # --- orchestrated, PostgreSQL instance with event batching ---
        variants = []
        if with_postgres:
            variants.append(("PostgreSQL instance (production)", production_storage()))
        if with_postgres and "--compare-unpooled" in argv:
            unpooled = {"storage": {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}}
            variants.append(("PostgreSQL instance (plain storage: postgres)", unpooled))
        emit_subset = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}
        if with_postgres and "--emit-subset" in argv:
            variants.append(
                ("PostgreSQL instance, partition subsets planned", production_storage())
            )
        admin_url = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT)
        for number, (label, storage) in enumerate(variants):
            with scratch_database(admin_url, "astrocat_orchestration_bench") as url:
                store, _ = catalog(tmp / f"postgres{number}")
                (tmp / f"dagster_postgres{number}").mkdir()
                production = {**production_environment(), "DAGSTER_POSTGRES_URL": url}
                if "subsets planned" in label:
                    production.update(emit_subset)
                os.environ.update(production)
                try:
                    instance = dg.DagsterInstance.local_temp(
                        tempdir=str(tmp / f"dagster_postgres{number}"),
                        overrides={"telemetry": {"enabled": False}, **storage},
                    )
                    seconds, runs, events, cpu = run_orchestrated(instance, keys)
                    instance.dispose()
                finally:
                    for name in production:
                        os.environ.pop(name, None)
                assert thumbnails_made(store) == frames
                print(f"orchestrated, {label}: {seconds:.1f} s in {runs} runs", flush=True)
                results.append((label, seconds, runs, events, cpu))

    rows = [
        ("frames (FITS, uint16)", f"{frames} x {shape[1]}x{shape[0]}", ""),
        (
            "runs (batches of consecutive partitions)",
            f"{-(-frames // PARTITIONS_PER_RUN)} of up to {PARTITIONS_PER_RUN}",
            "",
        ),
        ("plain loop", f"{plain_s:.1f} s", ""),
        ("  per frame", f"{1000 * plain_s / frames:.0f} ms", ""),
        ("  CPU per frame", f"{1000 * plain_cpu / frames:.0f} ms", ""),
    ]
    ok = True
    for name, seconds, _runs, events, cpu in results:
        ratio = seconds / plain_s
        overhead_s = (seconds - plain_s) / frames
        goal = GOAL_RATIO
        if full:
            goal = next(limit for kind, limit in FULL_GOALS.items() if name.startswith(kind))
        ok = ok and ratio <= goal
        rows += [
            (f"orchestrated: {name}", f"{seconds:.1f} s", ""),
            ("  per frame", f"{1000 * seconds / frames:.0f} ms", ""),
            ("  ratio orchestrated / plain", f"{ratio:.2f}", f"<= {goal}"),
            ("  CPU per frame (this process)", f"{1000 * cpu / frames:.0f} ms", ""),
            ("  ratio in CPU time", f"{cpu / plain_cpu:.2f}", ""),
            ("  Dagster overhead per frame", f"{1000 * overhead_s:.0f} ms", ""),
            ("  Dagster events written per frame", f"{events / frames:.1f}", ""),
            ("  overhead per event", f"{1000 * overhead_s * frames / events:.1f} ms", ""),
            (
                "  work per frame for a ratio of 1.3",
                f"{1000 * overhead_s / (GOAL_RATIO - 1):.0f} ms",
                "",
            ),
        ]
    print()
    print(f"{'measure':<50} {'value':>16}  {'goal':<8}")
    print("-" * 78)
    for name, value, goal_text in rows:
        print(f"{name:<50} {value:>16}  {goal_text:<8}")
    print()
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")
    print("goal met" if ok else "GOAL NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
