import logging
from datetime import UTC, datetime, timedelta

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.settings import Settings


def test_cleanup_fails_only_stuck_solves(astrocat_env, instance):
    store = open_catalog(Settings.from_env().database_url)
    six_minutes_ago = datetime.now(UTC) - timedelta(minutes=6)
    earlier = CatalogStore(store.engine, clock=lambda: six_minutes_ago)
    earlier.set_solution_status("sha256:stuck", "submitted", "nova")
    earlier.set_solution_status("sha256:stuck-processing", "processing", "local")
    earlier.set_solution_status("sha256:solved-long-ago", "solved", "local")
    store.set_solution_status("sha256:fresh", "submitted", "nova")

    result = defs.resolve_job_def("stale_plate_solves_job").execute_in_process(instance=instance)

    assert result.success
    assert result.output_for_node("fail_stale_plate_solves") == 2
    assert store.get_solution("sha256:stuck").status == "failed"
    assert "no progress" in store.get_solution("sha256:stuck").error
    assert store.get_solution_row("sha256:stuck").stale
    assert not store.get_solution_row("sha256:fresh").stale
    assert store.get_solution("sha256:stuck-processing").status == "failed"
    assert store.get_solution("sha256:fresh").status == "submitted"
    assert store.get_solution("sha256:solved-long-ago").status == "solved"
    warned = [
        record
        for record in instance.all_logs(result.run_id)
        if record.level == logging.WARNING and "was stuck" in record.user_message
    ]
    assert len(warned) == 2
    store.close()
