from pathlib import Path

import dagster as dg

from astrocat_pipeline.defs.partitions import (
    IMAGES_PARTITIONS_NAME,
    PARTITIONS_PER_RUN,
)
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.defs.sensors import RANGE_END_TAG, RANGE_START_TAG, new_image_files
from astrocat_pipeline_tests.defs.conftest import write_tiny_fits


def evaluate(instance, resource):
    with dg.build_sensor_context(instance=instance, resources={"astrocat": resource}) as context:
        return new_image_files(context)


def apply(instance, result):
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def test_sensor_adds_new_files_in_batches_then_skips(tmp_path: Path, astrocat_env, instance):
    root = tmp_path / "library"
    count = PARTITIONS_PER_RUN + 3
    for i in range(count):
        write_tiny_fits(root / "M31" / "LIGHT" / f"frame, {i:03d}.fits", seed=i)
    (root / "notes.txt").write_text("not an image")
    resource = AstrocatResource(library_roots=str(root))

    result = evaluate(instance, resource)
    assert isinstance(result, dg.SensorResult)
    (added,) = result.dynamic_partitions_requests
    assert len(added.partition_keys) == count
    assert all("," not in key for key in added.partition_keys)
    # Batches, not one run per file.
    assert len(result.run_requests) == 2
    first, second = result.run_requests
    assert first.tags[RANGE_START_TAG] == added.partition_keys[0]
    assert first.tags[RANGE_END_TAG] == added.partition_keys[PARTITIONS_PER_RUN - 1]
    assert second.tags[RANGE_END_TAG] == added.partition_keys[-1]
    apply(instance, result)

    again = evaluate(instance, resource)
    assert isinstance(again, dg.SkipReason)
    assert "nothing new" in again.skip_message

    write_tiny_fits(root / "M31" / "LIGHT" / "late arrival.fits", seed=99)
    third = evaluate(instance, resource)
    (added_late,) = third.dynamic_partitions_requests
    assert len(added_late.partition_keys) == 1
    (request,) = third.run_requests
    assert (
        request.tags[RANGE_START_TAG] == request.tags[RANGE_END_TAG] == added_late.partition_keys[0]
    )
    assert instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME) == list(added.partition_keys)


def test_sensor_requests_the_same_work_with_the_same_run_key(tmp_path, astrocat_env, instance):
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits")
    resource = AstrocatResource(library_roots=str(root))
    first = evaluate(instance, resource)
    second = evaluate(instance, resource)  # partitions not applied: same new work again
    assert first.run_requests[0].run_key == second.run_requests[0].run_key


def test_offline_root_is_reported_and_nothing_is_removed(tmp_path, astrocat_env, instance):
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits")
    resource = AstrocatResource(library_roots=str(root))
    apply(instance, evaluate(instance, resource))
    offline = AstrocatResource(library_roots=str(tmp_path / "unplugged"))
    result = evaluate(instance, offline)
    assert isinstance(result, dg.SkipReason)
    assert "0/1 online roots" in result.skip_message
    assert len(instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)) == 1
