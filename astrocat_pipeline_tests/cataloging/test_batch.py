"""A batch of files through the per-file steps (cataloging/batch.py): each file's bytes read once,
its star list stored and handed to the solver, files two at a time, results in order."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import batch, checks, steps
from astrocat_pipeline.core.inventory import scan_root
from astrocat_pipeline.core.records import ImageStatus
from astrocat_pipeline.core.tuning import INFRA_RETRY_ATTEMPTS
from astrocat_pipeline_tests.cataloging.test_file_boundary import locked
from astrocat_pipeline_tests.fakes import FakeSolver

FRAMES = 4
SHAPE = (1200, 2200)  # wider than SOLVER_DOWNSAMPLE_ABOVE_PX: stars found on 2x2 blocks


def _proc_read_chars() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _night(root: Path) -> list[Path]:
    rng = np.random.default_rng(17)
    yy, xx = np.mgrid[-6:7, -6:7]
    paths = []
    for number in range(FRAMES):
        frame = rng.normal(1500.0, 12.0, SHAPE)
        for _ in range(120):
            x, y = rng.uniform(10, SHAPE[1] - 11), rng.uniform(10, SHAPE[0] - 11)
            ix, iy = round(x), round(y)
            frame[iy - 6 : iy + 7, ix - 6 : ix + 7] += rng.uniform(2e3, 3e4) * np.exp(
                -((xx - (x - ix)) ** 2 + (yy - (y - iy)) ** 2) / (2 * 1.7**2)
            )
        hdu = fits.PrimaryHDU(np.clip(frame, 0, 65535).astype(np.uint16))
        hdu.header["IMAGETYP"] = "LIGHT"
        hdu.header["EXPTIME"] = 300.0
        hdu.header["DATE-OBS"] = f"2024-08-14T21:{number:02d}:00"
        hdu.header["OBJECT"] = "NGC 7000"
        path = root / f"light_{number}.fits"
        root.mkdir(exist_ok=True)
        hdu.writeto(path)
        paths.append(path)
    return paths


def _functions(
    store: CatalogStore, thumbnails: ThumbnailStore, solver: FakeSolver
) -> dict[str, batch.StepFunction]:
    return {
        "image_file": lambda key, read: steps.record_file(store, key, read),
        "image_metadata": lambda key, read: steps.extract_metadata(store, key, None, read),
        "image_thumbnail": lambda key, read: steps.make_thumbnail(
            store, thumbnails, key, file_pass=read
        ),
        "plate_solution": lambda key, read: steps.solve_plate(
            store, solver, key, None, file_pass=read
        ),
        "catalog_matches": lambda key, _read: steps.match_catalog(store, None, key),  # type: ignore[arg-type]
    }


@pytest.fixture
def library(tmp_path: Path, catalog_store: CatalogStore) -> tuple[list[str], int]:
    """The night's frames in the catalog's inventory: their keys and their bytes in all."""
    root = tmp_path / "library"
    paths = _night(root)
    entries = scan_root(str(root)).entries
    catalog_store.upsert_inventory(entries)
    return [entry.partition_key for entry in entries], sum(p.stat().st_size for p in paths)


def test_each_file_is_read_once_and_solved_from_its_stored_stars(library, catalog_store, tmp_path):
    keys, library_bytes = library
    solver = FakeSolver()  # answers "no match": the steps after it are still taken
    thumbnails = ThumbnailStore(tmp_path / "thumbnails")
    functions = _functions(catalog_store, thumbnails, solver)
    checks_on = {"image_thumbnail": [checks.THUMBNAIL_NOT_BLANK]}

    before = _proc_read_chars()
    works = list(batch.run_batch(catalog_store, None, keys, functions, checks_on, workers=2))
    read = _proc_read_chars() - before

    # One read of each file's bytes (plus the catalog's pages and the thumbnails checked).
    assert library_bytes <= read <= 1.1 * library_bytes
    assert [work.key for work in works] == keys  # in order
    assert [work.file_reads for work in works] == [1] * FRAMES
    for work in works:
        assert [stage for stage, _ in work.outcomes] == list(batch.STAGES)
        assert [outcome.status for _, outcome in work.outcomes] == [
            "ok",
            "ok",
            "ok",
            "unsolved",
            "skipped",
        ]
        assert work.verdicts[checks.THUMBNAIL_NOT_BLANK].passed
    # The solver got each frame's stars, found in the one read and stored with the catalog.
    assert len(solver.calls) == FRAMES
    for call, stars in zip(solver.calls, solver.star_lists, strict=True):
        assert stars is not None
        assert len(stars) > 50
        assert (call.width_px, call.height_px) == (SHAPE[1], SHAPE[0])
    for key in keys:
        row = catalog_store.get_image(key)
        assert row is not None
        assert row.status == ImageStatus.INDEXED
        assert row.thumbnail_path
        assert row.fingerprint is not None
        stored = catalog_store.get_star_list(row.fingerprint)
        assert stored is not None
        assert (stored.width_px, stored.height_px) == (SHAPE[1], SHAPE[0])
        assert len(stored.stars) > 50

    # A solve run again alone reads the header, not the pixels, and uses the stored stars.
    solver.calls.clear()
    solver.star_lists.clear()
    before = _proc_read_chars()
    outcome = steps.solve_plate(catalog_store, solver, keys[0], None, force=True)
    read_again = _proc_read_chars() - before
    assert outcome.status == "unsolved"
    assert read_again < 0.02 * library_bytes / FRAMES
    (stars,) = solver.star_lists
    row = catalog_store.get_image(keys[0])
    assert row is not None
    assert row.fingerprint is not None
    stored = catalog_store.get_star_list(row.fingerprint)
    assert stored is not None
    assert stars is not None
    np.testing.assert_array_equal(stars.x_px, stored.stars.x_px)


def test_files_are_worked_on_two_at_a_time(library, catalog_store, tmp_path, monkeypatch):
    keys, _ = library
    running: set[str] = set()
    most = [0]
    lock = threading.Lock()
    release = threading.Barrier(2, timeout=30)
    real = batch.read_file_pass

    def read_pass(path: Path, *args, **kwargs):
        with lock:
            running.add(path.name)
            most[0] = max(most[0], len(running))
        if path.name in ("light_0.fits", "light_1.fits"):
            release.wait()  # both first files must be read at the same time
        try:
            return real(path, *args, **kwargs)
        finally:
            with lock:
                running.discard(path.name)

    monkeypatch.setattr(batch, "read_file_pass", read_pass)
    functions = _functions(catalog_store, ThumbnailStore(tmp_path / "thumbs"), FakeSolver())
    works = list(batch.run_batch(catalog_store, None, keys, functions, workers=2))
    assert most[0] == 2
    assert [work.key for work in works] == keys


def test_a_step_run_alone_reads_its_file_itself(library, catalog_store, tmp_path):
    keys, _ = library
    thumbnails = ThumbnailStore(tmp_path / "thumbnails")
    for key in keys:
        steps.record_file(catalog_store, key)
        steps.extract_metadata(catalog_store, key, None)
    functions = {
        "image_thumbnail": lambda key, read: steps.make_thumbnail(
            catalog_store, thumbnails, key, file_pass=read
        )
    }
    works = list(batch.run_batch(catalog_store, None, keys, functions))
    assert [work.file_reads for work in works] == [None] * FRAMES  # no one-pass read
    assert [outcome.status for work in works for _, outcome in work.outcomes] == ["ok"] * FRAMES


def test_a_catalog_unavailable_during_the_checks_is_retried_like_a_step(
    library, catalog_store, tmp_path, monkeypatch
):
    keys, _ = library
    monkeypatch.setattr(steps, "INFRA_RETRY_FIRST_DELAY_S", 0.0)
    real = checks.check_file
    failures = {keys[1]: 2}  # the second file's checks meet the outage twice, then it is back

    def check_file(store, catalog, key, names):
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            raise locked()
        return real(store, catalog, key, names)

    monkeypatch.setattr(checks, "check_file", check_file)
    functions = _functions(catalog_store, ThumbnailStore(tmp_path / "thumbs"), FakeSolver())
    checks_on = {"image_thumbnail": [checks.THUMBNAIL_NOT_BLANK]}
    works = list(batch.run_batch(catalog_store, None, keys, functions, checks_on, workers=2))

    assert [work.verdicts[checks.THUMBNAIL_NOT_BLANK].passed for work in works] == [True] * FRAMES
    retries = [line.message for line in works[1].log if "shared infrastructure" in line.message]
    assert len(retries) == 2
    assert all(f"{keys[1]}: asset checks: " in message for message in retries)


def test_a_catalog_that_stays_down_during_the_checks_stops_the_batch_blaming_no_file(
    library, catalog_store, tmp_path, monkeypatch
):
    keys, _ = library
    monkeypatch.setattr(steps, "INFRA_RETRY_FIRST_DELAY_S", 0.0)

    def check_file(store, catalog, key, names):
        raise locked()

    monkeypatch.setattr(checks, "check_file", check_file)
    functions = _functions(catalog_store, ThumbnailStore(tmp_path / "thumbs"), FakeSolver())
    checks_on = {"image_thumbnail": [checks.THUMBNAIL_NOT_BLANK]}
    works: list[batch.FileWork] = []
    run = batch.run_batch(catalog_store, None, keys, functions, checks_on, workers=2)
    with pytest.raises(batch.BatchStoppedError, match="no file blamed") as raised:
        works.extend(run)

    assert f"after {INFRA_RETRY_ATTEMPTS} tries over 0 s, at asset checks of {keys[0]}" in str(
        raised.value
    )
    # What the steps finished stands; nothing is recorded as any file's error.
    assert works
    assert works[0].key == keys[0]
    assert [outcome.status for _, outcome in works[0].outcomes][:3] == ["ok", "ok", "ok"]
    for key in keys:
        row = catalog_store.get_image(key)
        assert row is not None
        assert row.error is None
