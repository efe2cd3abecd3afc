"""The per-file asset checks, evaluated by the image step in a batched run and read back per
partition from the instance as the UI reads them (an execution per file, current when it
targets the file's latest materialization)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.cataloging import checks
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import M42_HEADER_WCS, index_library, write_tiny_fits

# A header WCS of 36"/px (CDELT 0.01°) centred on M42, and the optics that give that scale
# (206.265 * 3.76 um / 21.54 mm = 36.0"/px).
M42_WCS = {
    **{key: value for key, value in M42_HEADER_WCS.items() if key != "OBJECT"},
    "FOCALLEN": 21.54,
    "XPIXSZ": 3.76,
    "EXPTIME": 30.0,
    "DATE-OBS": "2026-12-01T22:00:00",
}
CHECKS = {
    checks.THUMBNAIL_NOT_BLANK: "image_thumbnail",
    checks.METADATA_COMPLETE: "image_metadata",
    checks.SOLUTION_MATCHES_HINTS: "plate_solution",
    checks.MATCHES_INSIDE_FIELD: "catalog_matches",
}


@pytest.fixture
def library(tmp_path: Path, astrocat_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "library"
    # Pointing where its WCS says: every check passes.
    write_tiny_fits(root / "good.fits", seed=1, OBJCTRA="05 35 17", OBJCTDEC="-05 23 24", **M42_WCS)
    # Constant pixels: a blank thumbnail; no exposure either.
    blank = root / "blank.fits"
    blank.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(np.full((48, 64), 1000, np.uint16))
    hdu.header["IMAGETYP"] = "LIGHT"
    hdu.header["OBJECT"] = "M 42"
    hdu.header["DATE-OBS"] = "2026-12-01T22:00:00"
    hdu.writeto(blank)
    # Pointing where its WCS says, but its optics give 20 times the WCS's resolution: kept
    # (a missing focal reducer, a resampled image), and flagged by the check.
    write_tiny_fits(
        root / "false.fits",
        seed=2,
        OBJCTRA="05 35 17",
        OBJCTDEC="-05 23 24",
        **{**M42_WCS, "FOCALLEN": 430.8},
    )
    # A calibration frame: no solution, so neither solution nor matches are checked.
    write_tiny_fits(
        root / "dark.fits", seed=3, IMAGETYP="DARK", EXPTIME=30.0, DATE_OBS="2026-12-01"
    )
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    return root


def check_states(instance: dg.DagsterInstance, name: str) -> dict[str, str]:
    """The current result of check ``name`` per file: SUCCEEDED, FAILED, WARNED (failed with
    severity WARN) or SKIPPED (planned by the run but not evaluated: the check does not apply)."""
    asset = dg.AssetKey(CHECKS[name])
    key = dg.AssetCheckKey(asset, name)
    files = {
        k: k.rsplit("/", 1)[-1] for k in instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    }
    states = {}
    for info in instance.event_log_storage.get_asset_check_partition_info([key]):
        assert info.partition_key in files, info
        status = info.latest_execution_status.value
        if status == "PLANNED":  # planned by the run, not evaluated: the UI shows it skipped
            states[files[info.partition_key]] = "SKIPPED"
            continue
        assert info.is_current, f"{name} of {info.partition_key} does not target its latest"
        states[files[info.partition_key]] = status
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    for record in history:
        evaluation = record.evaluation
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue  # a planned execution
        assert evaluation.partition in files
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
            states[files[evaluation.partition]] = "WARNED"
    return states


def latest_evaluation(
    instance: dg.DagsterInstance, name: str, file: str
) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(CHECKS[name]), name)
    for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=100):
        evaluation = record.evaluation
        if isinstance(evaluation, dg.AssetCheckEvaluation) and str(evaluation.partition).endswith(
            "/" + file
        ):
            return evaluation
    raise AssertionError(f"no evaluation of {name} for {file}")


def test_each_file_gets_the_checks_that_apply_to_it(library, instance):
    summary = index_library(Settings.from_env(), instance, batch_size=10)
    assert (summary.runs, summary.failed_runs) == (1, 0)

    assert check_states(instance, checks.THUMBNAIL_NOT_BLANK) == {
        "blank.fits": "FAILED",
        "dark.fits": "SUCCEEDED",
        "false.fits": "SUCCEEDED",
        "good.fits": "SUCCEEDED",
    }
    assert check_states(instance, checks.METADATA_COMPLETE) == {
        "blank.fits": "WARNED",  # a light without its exposure
        "dark.fits": "SUCCEEDED",
        "false.fits": "SUCCEEDED",
        "good.fits": "SUCCEEDED",
    }
    # Frames solved by their header WCS are checked; the dark is not solved, the blank frame
    # not either (no WCS, no solver): nothing to check, so not evaluated.
    assert check_states(instance, checks.SOLUTION_MATCHES_HINTS) == {
        "blank.fits": "SKIPPED",
        "dark.fits": "SKIPPED",
        "false.fits": "FAILED",
        "good.fits": "SUCCEEDED",
    }
    assert check_states(instance, checks.MATCHES_INSIDE_FIELD) == {
        "blank.fits": "SKIPPED",
        "dark.fits": "SKIPPED",
        "false.fits": "SUCCEEDED",
        "good.fits": "SUCCEEDED",
    }

    false = latest_evaluation(instance, checks.SOLUTION_MATCHES_HINTS, "false.fits")
    assert false.severity == dg.AssetCheckSeverity.ERROR
    assert false.description is not None
    assert false.description.startswith("possible false solution: scale ")
    blank = latest_evaluation(instance, checks.THUMBNAIL_NOT_BLANK, "blank.fits")
    assert "blank thumbnail" in (blank.description or "")
    missing = latest_evaluation(instance, checks.METADATA_COMPLETE, "blank.fits")
    assert missing.metadata["missing"].value == ["exposure_s"]
    good = latest_evaluation(instance, checks.MATCHES_INSIDE_FIELD, "good.fits")
    assert good.metadata["match_count"].value > 0


def test_a_check_is_evaluated_only_for_the_assets_the_run_materialized(library, instance):
    index_library(Settings.from_env(), instance, batch_size=10)
    from astrocat_pipeline_tests.defs.test_failed_files import run_batch

    keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    before = {
        name: len(
            instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(asset), name), limit=100
            )
        )
        for name, asset in CHECKS.items()
    }
    assert run_batch(instance, keys, ["image_thumbnail"]).success

    after = {
        name: len(
            instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(asset), name), limit=100
            )
        )
        for name, asset in CHECKS.items()
    }
    assert after == {**before, checks.THUMBNAIL_NOT_BLANK: before[checks.THUMBNAIL_NOT_BLANK] + 4}
    assert check_states(instance, checks.THUMBNAIL_NOT_BLANK)["blank.fits"] == "FAILED"


def test_a_check_that_raises_fails_that_files_checks_and_the_batch_goes_on(
    library, instance, monkeypatch
):
    thumbnail_verdict = checks.thumbnail_verdict

    def raises_on_one_file(path):
        if path and "good" in str(path):
            raise KeyError("an odd thumbnail")
        return thumbnail_verdict(path)

    monkeypatch.setattr(checks, "thumbnail_verdict", raises_on_one_file)
    summary = index_library(Settings.from_env(), instance, batch_size=10)
    assert (summary.runs, summary.failed_runs) == (1, 0)  # the files themselves are fine
    states = check_states(instance, checks.THUMBNAIL_NOT_BLANK)
    assert states["good.fits"] == "FAILED"
    assert states["dark.fits"] == "SUCCEEDED"
    evaluation = latest_evaluation(instance, checks.THUMBNAIL_NOT_BLANK, "good.fits")
    assert evaluation.description == (
        "the check could not be evaluated: KeyError: 'an odd thumbnail'"
    )
    # The same file's other checks are evaluated as usual.
    assert check_states(instance, checks.METADATA_COMPLETE)["good.fits"] == "SUCCEEDED"


def test_a_header_wcs_elsewhere_than_the_mount_pointed_is_never_stored(
    tmp_path, astrocat_env, monkeypatch, instance
):
    # Its mount said M31, its WCS says M42: not stored as a solution (invariant 9); with no
    # solver configured the frame is left unsolved, saying why.
    root = tmp_path / "library"
    write_tiny_fits(
        root / "wrong.fits", seed=2, OBJCTRA="00 42 44", OBJCTDEC="+41 16 09", **M42_WCS
    )
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    settings = Settings.from_env()
    index_library(settings, instance, batch_size=10)
    from astrocat_pipeline.adapters.catalog import open_catalog

    with open_catalog(settings.database_url) as store:
        (row,) = store.images_under(None)
        solution = store.get_solution_row(row.fingerprint)
    assert solution is not None
    assert solution.status != "solved"
    assert "header WCS disagrees with its hints" in (solution.error or "")
    assert check_states(instance, checks.SOLUTION_MATCHES_HINTS) == {"wrong.fits": "SKIPPED"}
