"""The library health view's decisions: states, latest failures and tables (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from astrocat_pipeline.adapters.catalog import ImageFailure, LibraryPass, RecordedPass, StateCount
from astrocat_pipeline.adapters.thumbnail_store import CacheStats
from astrocat_pipeline.cataloging.health import (
    LibraryHealth,
    StateCounts,
    code_span,
    count_states,
    escape_markdown,
    latest_failures,
    shorten,
)
from astrocat_pipeline.core.records import ImageStatus, SolveStatus

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def failure(
    path: str, minutes: int, stage: str = "image_metadata", reason: str = "bad"
) -> ImageFailure:
    return ImageFailure(path, path, stage, reason, T0 + timedelta(minutes=minutes))


def test_every_image_is_in_one_state_and_every_indexed_one_in_one_solve_state() -> None:
    groups = [
        StateCount(ImageStatus.DISCOVERED, None, 4),
        StateCount(ImageStatus.ERROR, None, 2),
        StateCount(ImageStatus.ERROR, SolveStatus.SOLVED, 1),  # an error wins over its solve
        StateCount(ImageStatus.INDEXED, None, 3),
        StateCount(ImageStatus.INDEXED, SolveStatus.SOLVED, 10),
        StateCount(ImageStatus.INDEXED, SolveStatus.FAILED, 5),
        StateCount(ImageStatus.INDEXED, SolveStatus.SKIPPED, 6),
        StateCount(ImageStatus.INDEXED, SolveStatus.PENDING, 1),
        StateCount(ImageStatus.INDEXED, SolveStatus.SUBMITTED, 2),
        StateCount(ImageStatus.INDEXED, SolveStatus.PROCESSING, 4),
    ]

    states = count_states(groups)

    assert states == StateCounts(
        not_read_yet=4,
        error=3,
        indexed=31,
        solved=10,
        unsolved=5,
        waiting_for_solve=7,
        skipped=6,
        not_solved_yet=3,
    )
    assert states.images == sum(g.images for g in groups)
    ints = states.as_ints()
    solve_states = ("solved", "unsolved", "waiting_for_solve", "skipped", "not_solved_yet")
    assert sum(ints[name] for name in solve_states) == ints["indexed"]


def test_every_solve_status_has_a_state() -> None:
    for status in SolveStatus:
        assert count_states([StateCount(ImageStatus.INDEXED, status, 1)]).indexed == 1


def test_latest_failures_are_the_newest_of_both_kinds() -> None:
    errors = [failure(f"/e{i}", minutes=i) for i in range(5)]
    solves = [failure(f"/s{i}", minutes=2 * i + 1, stage="plate_solution") for i in range(5)]

    latest = latest_failures([*errors, *solves], limit=4)

    assert [f.path for f in latest] == ["/s4", "/s3", "/s2", "/e4"]  # minutes 9, 7, 5, 4


def test_failures_at_the_same_moment_come_in_path_order() -> None:
    same = [failure("/b", 1), failure("/c", 1), failure("/a", 1)]
    assert [f.path for f in latest_failures(same)] == ["/a", "/b", "/c"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a | b", "a \\| b"),
        ("line one\nline two", "line one line two"),
        ("*not bold* _nor italic_ <b>", "\\*not bold\\* \\_nor italic\\_ \\<b\\>"),
    ],
)
def test_catalog_text_cannot_break_the_table(text: str, shown: str) -> None:
    assert escape_markdown(text) == shown


def test_paths_are_code_spans_whose_pipes_and_backticks_are_defused() -> None:
    assert code_span("/lib/a|b`c.fits") == "`/lib/a\\|b'c.fits`"


def test_long_reasons_are_cut() -> None:
    assert shorten("x" * 500, 300) == "x" * 299 + "…"
    assert shorten("short", 300) == "short"


def health(**kwargs: object) -> LibraryHealth:
    values: dict[str, object] = {
        "states": StateCounts(indexed=2, solved=1, unsolved=1, error=1),
        "failures": (
            failure("/lib/bad|name.fits", 3, reason="not a readable FITS file\n(truncated)"),
        ),
        "last_pass": None,
        "thumbnails": CacheStats(count=2, size_bytes=3_000_000),
        "checked_at": T0 + timedelta(hours=1),
    }
    values.update(kwargs)
    return LibraryHealth(**values)  # type: ignore[arg-type]


def test_the_tables_show_states_failures_and_the_last_pass() -> None:
    recorded = RecordedPass(
        LibraryPass(
            source="sensor",
            elapsed_s=2.5,
            pass_number=7,
            roots=2,
            offline_roots=("/mnt/nas",),
            files_looked_at=1234,
            recorded=3,
            new=2,
            changed=1,
            removed=4,
            removals_left=0,
            runs_launched=1,
        ),
        recorded_at=T0 + timedelta(minutes=50),
    )
    report = health(last_pass=recorded, held_removals=5)

    states = report.states_table().splitlines()
    assert any(line.startswith("| held removals | 5 |") for line in states)
    assert "| indexed | 2 |" in states[2]
    assert any(line.startswith("| - unsolved | 1 |") for line in states)
    assert any(line.startswith("| total | 3 |") for line in states)

    failures = report.failures_table().splitlines()
    assert failures[0] == "| failed at | file | stage | reason |"
    assert failures[2] == (
        "| 2024-03-01 12:03:00 UTC | `/lib/bad\\|name.fits` | `image_metadata` "
        "| not a readable FITS file (truncated) |"
    )

    last_pass = report.last_pass_table()
    assert "2024-03-01 12:50:00 UTC (10 min before this check)" in last_pass
    assert "| online roots | 1 of 2 |" in last_pass
    assert "| offline roots | `/mnt/nas` |" in last_pass
    assert "| files looked at | 1234 |" in last_pass
    assert report.last_pass_ints()["removed"] == 4
    assert report.last_pass_ints()["offline_roots"] == 1


def test_without_failures_or_a_pass_the_tables_say_so() -> None:
    report = health(failures=())
    assert report.failures_table() == "_none_"
    assert "has not recorded a pass" in report.last_pass_table()
    assert report.last_pass_ints() == {}
