"""One bad file never stops the rest: it gets a recorded status and a message naming it."""

from pathlib import Path

import dagster as dg

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.core.inventory import partition_key
from astrocat_pipeline.defs.partitions import images_partitions
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits


def test_bad_files_are_recorded_and_the_batch_goes_on(tmp_path: Path, astrocat_env, monkeypatch):
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    root = tmp_path / "library"
    good = write_tiny_fits(root / "good, frame.fits", OBJECT="M31")
    (root / "empty.fits").write_bytes(b"")
    (root / "random.fits").write_bytes(bytes(range(256)) * 20)
    truncated = write_tiny_fits(root / "truncated.fits", seed=3)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    (root / "camera.cr2").write_bytes(b"II*\x00" + b"\x00" * 100)
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    settings = Settings.from_env()
    sources_before = {p: p.read_bytes() for p in root.iterdir()}

    with dg.instance_for_test() as instance:
        summary = index_library(settings, instance)
        assert summary.failed_runs == 1  # the run shows that some of its files failed
        assert summary.runs == 1
        matches = instance.get_materialized_partitions(dg.AssetKey("catalog_matches"))
        assert len(matches) == 1  # the good file went through; the bad ones show failed
        keys = instance.get_dynamic_partitions("images")
        statuses = instance.get_status_by_partition(
            dg.AssetKey("catalog_matches"), keys, images_partitions
        )
        failed = {k for k, status in statuses.items() if status == dg.AssetPartitionStatus.FAILED}
        assert len(failed) == 4

    with open_catalog(settings.database_url) as store:
        rows = {Path(r.image.path).name: r.to_dict() for r in store.search(None)}
    assert rows["good, frame.fits"]["status"] == "indexed"
    assert rows["good, frame.fits"]["object"] == "M31"
    assert rows["good, frame.fits"]["thumbnail_path"]
    assert rows["good, frame.fits"]["plate_solution"]["status"] == "skipped"
    expected = {
        "empty.fits": "empty file",
        "random.fits": "not a readable FITS file",
        "truncated.fits": "truncated.fits",
        "camera.cr2": "not a readable camera raw file",
    }
    for name, reason in expected.items():
        row = rows[name]
        assert row["status"] == "error", name
        assert str(root / name) in row["error"], row["error"]
        assert reason in row["error"], row["error"]
        assert row["thumbnail_path"] is None
    assert {p: p.read_bytes() for p in root.iterdir()} == sources_before
    assert partition_key(str(root), "good, frame.fits") == rows["good, frame.fits"]["partition_key"]
    assert str(good) == rows["good, frame.fits"]["path"]
