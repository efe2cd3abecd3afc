import dagster as dg

from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.partitions import images_partitions


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()} == {
        "image_file",
        "image_metadata",
        "image_thumbnail",
        "plate_solution",
        "catalog_matches",
        "library_summary",
        "thumbnail_cache_stats",
        "library_health",
    }
    unpartitioned = ("library_summary", "thumbnail_cache_stats", "library_health")
    for key in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(key)
        if key.to_user_string() in unpartitioned:
            assert node.partitions_def is None
        else:
            assert node.partitions_def == images_partitions
            assert node.group_name == "images"
            assert node.backfill_policy == dg.BackfillPolicy.multi_run(100)
            assert node.description  # one line per asset, shown in the UI


def test_lineage_follows_the_design():
    graph = defs.get_repository_def().asset_graph
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "image_file": set(),
        "image_metadata": {"image_file"},
        "image_thumbnail": {"image_metadata"},
        "plate_solution": {"image_metadata"},
        "catalog_matches": {"plate_solution"},
        "library_summary": set(),
        "thumbnail_cache_stats": set(),
        "library_health": set(),
    }


def test_sensor_and_schedule_run_by_default():
    sensor = defs.resolve_sensor_def("new_image_files")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("stale_plate_solves_every_5_minutes")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for name in ("prune_old_runs_daily", "library_summaries_hourly"):
        assert defs.resolve_schedule_def(name).default_status == dg.DefaultScheduleStatus.RUNNING
