import os
from pathlib import Path

import pytest

from astrocat_pipeline.core.formats import image_format, strip_image_suffix
from astrocat_pipeline.core.inventory import (
    ScanCursor,
    compare_looks,
    contiguous_batches,
    folder_offline,
    in_walked_range,
    partition_key,
    root_label,
    scan_root,
    vanished_files,
    walk_position,
    walk_root,
)
from astrocat_pipeline.core.records import InventoryEntry

NASTY_NAMES = [
    "M31, panel 2.fits",
    "a...b.fits",
    "[bracketed] frame.fits",
    "quote\"s and 'apostrophes'.fits",
    "ünïcødé_Ω.fits",
    "$(rm -rf ~); `ls` | & ; > x.fits",
]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.fits", "fits"),
        ("a.FIT", "fits"),
        ("a.fts", "fits"),
        ("a.fits.gz", "fits"),
        ("a.fits.fz", "fits"),
        ("a.xisf", "xisf"),
        ("a.CR2", "raw"),
        ("a.tif", "tiff"),
        ("a.jpeg", "jpeg"),
        ("a.png", "png"),
        ("notes.txt", None),
        (".fits", None),
        ("._M31.fits", None),
    ],
)
def test_image_format_from_name(name, fmt):
    assert image_format(name) == fmt


def test_strip_image_suffix():
    assert strip_image_suffix("M31_0001.fits.gz") == "M31_0001"
    assert strip_image_suffix("M31.CR2") == "M31"


def test_partition_key_is_readable_stable_and_unique():
    key = partition_key("/data/astro", "M31/LIGHT/M31_0001.fits")
    assert key.endswith("/M31/LIGHT/M31_0001.fits")
    assert key.startswith("astro-")
    assert key == partition_key("/data/astro", "M31/LIGHT/M31_0001.fits")
    # Same relative path under two roots with the same folder name: different keys.
    assert key != partition_key("/mnt/other/astro", "M31/LIGHT/M31_0001.fits")


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_partition_key_is_safe_in_the_ui_selectors(name):
    key = partition_key("/data/my library", f"night 1/{name}")
    assert "," not in key
    assert "..." not in key
    assert not any(ch in key for ch in "[] \"'$`|&;><")
    assert key.isascii()
    assert len(key) <= 160


def test_sanitized_names_that_collide_get_distinct_keys():
    a = partition_key("/r", "M31 panel.fits")
    b = partition_key("/r", "M31,panel.fits")
    assert a != b


def test_long_paths_are_shortened_but_unique():
    deep = "/".join(["very_long_folder_name"] * 20)
    a = partition_key("/r", f"{deep}/a.fits")
    b = partition_key("/r", f"{deep}/b.fits")
    assert len(a) <= 160
    assert a != b


def test_root_label_is_safe():
    assert "," not in root_label("/mnt/a,b")
    assert root_label("/").startswith("root-")


def test_scan_root_finds_images_and_skips_others(tmp_path: Path):
    (tmp_path / "M31" / "LIGHT").mkdir(parents=True)
    (tmp_path / "M31" / "LIGHT" / "a.fits").write_bytes(b"x" * 10)
    (tmp_path / "M31" / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.fits").write_bytes(b"x")
    for name in NASTY_NAMES:
        (tmp_path / name).write_bytes(b"y")
    scan = scan_root(str(tmp_path))
    assert scan.online
    rel = sorted(e.rel_path for e in scan.entries)
    assert "M31/LIGHT/a.fits" in rel
    assert len(rel) == 1 + len(NASTY_NAMES)
    entry = next(e for e in scan.entries if e.rel_path == "M31/LIGHT/a.fits")
    assert entry.size_bytes == 10
    assert entry.format == "fits"
    assert len({e.partition_key for e in scan.entries}) == len(scan.entries)


def test_missing_root_is_offline_not_empty(tmp_path: Path):
    scan = scan_root(str(tmp_path / "unplugged-disk"))
    assert not scan.online
    assert "unplugged-disk" in (scan.problem or "")


def test_contiguous_batches_follow_partition_order():
    ordered = ["a", "b", "c", "d", "e", "f", "g"]
    assert contiguous_batches(ordered, {"a", "b", "c", "e", "f"}, 2) == [
        ["a", "b"],
        ["c"],
        ["e", "f"],
    ]
    assert contiguous_batches(ordered, set(), 5) == []


# --- resumable walks ------------------------------------------------------------------------


def make_tree(root: Path, rel_paths: list[str]) -> None:
    for rel in rel_paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (len(rel) + 1))


TREE = [
    "a/b.fits",
    "a/c/d.fits",
    "a-c.fits",
    "a.fits",
    "b/notes.txt",
    "b/x.fits",
    "z.fits",
]


def test_walk_order_is_the_order_of_path_components():
    # "a/b" before "a-c": the folder "a" sorts before "a-c" ('-' < '/' does not matter).
    assert walk_position("a/b.fits") < walk_position("a-c.fits")
    assert in_walked_range("a/c/d.fits", "a/b.fits", "a-c.fits")
    assert not in_walked_range("a/b.fits", "a/b.fits", None)
    assert in_walked_range("z.fits", None, None)


def test_a_walk_in_small_steps_sees_every_file_once_in_order(tmp_path: Path):
    make_tree(tmp_path, TREE)
    full = walk_root(str(tmp_path))
    assert full.finished
    images = [e.rel_path for e in full.entries]
    assert images == ["a/b.fits", "a/c/d.fits", "a-c.fits", "a.fits", "b/x.fits", "z.fits"]

    seen: list[str] = []
    after = None
    steps = 0
    while True:
        part = walk_root(str(tmp_path), after, max_entries=2)
        seen += [e.rel_path for e in part.entries]
        # Everything seen in a step lies in the range the step says it covered.
        assert all(part.covers(e.rel_path) for e in part.entries)
        steps += 1
        if part.finished:
            break
        after = part.stopped_after
    assert seen == images
    assert steps == 3  # 2 + 2 + 2: the third step ends at the last file and is finished


def test_a_walk_stops_at_its_deadline_and_resumes(tmp_path: Path):
    make_tree(tmp_path, TREE)
    ticks = iter(range(100))
    part = walk_root(str(tmp_path), deadline=2.5, clock=lambda: next(ticks))
    assert not part.finished
    rest = walk_root(str(tmp_path), part.stopped_after)
    assert [e.rel_path for e in part.entries + rest.entries] == [
        e.rel_path for e in walk_root(str(tmp_path)).entries
    ]


def test_a_walk_resumes_when_the_last_file_is_gone_or_became_a_folder(tmp_path: Path):
    make_tree(tmp_path, TREE)
    first = walk_root(str(tmp_path), max_entries=2)  # stopped after a/c/d.fits
    assert first.stopped_after == "a/c/d.fits"
    (tmp_path / "a" / "c" / "d.fits").unlink()
    (tmp_path / "a" / "c").rmdir()
    rest = walk_root(str(tmp_path), first.stopped_after)
    assert [e.rel_path for e in rest.entries] == ["a-c.fits", "a.fits", "b/x.fits", "z.fits"]


def test_unreadable_folders_are_listed_and_their_files_never_vanish(tmp_path, monkeypatch):
    make_tree(tmp_path, TREE)
    real_scandir = os.scandir
    blocked = str(tmp_path / "a")

    def scandir(path):
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("astrocat_pipeline.core.inventory.os.scandir", scandir)
    walk = walk_root(str(tmp_path))
    assert walk.online
    assert walk.unreadable == ("a",)
    assert "Permission denied" in (walk.problem or "")
    recorded = {"k1": "a/b.fits", "k2": "a/c/d.fits", "k3": "gone.fits", "k4": "z.fits"}
    assert vanished_files(recorded, walk) == ["k3"]


def test_vanished_files_only_in_the_walked_range(tmp_path: Path):
    make_tree(tmp_path, TREE)
    part = walk_root(str(tmp_path), max_entries=2)  # covers up to a/c/d.fits
    recorded = {"k1": "a/b.fits", "k2": "a/a_gone.fits", "k3": "y_gone.fits"}
    assert vanished_files(recorded, part) == ["k2"]
    rest = walk_root(str(tmp_path), part.stopped_after)
    assert vanished_files(recorded, rest) == ["k3"]


def test_offline_root_has_no_vanished_files(tmp_path: Path):
    walk = walk_root(str(tmp_path / "unplugged"))
    assert not walk.online
    assert vanished_files({"k": "a.fits"}, walk) == []


def test_empty_root_is_flagged(tmp_path: Path):
    (tmp_path / ".DS_Store").write_bytes(b"")
    walk = walk_root(str(tmp_path))
    assert walk.online
    assert walk.root_is_empty


# --- two looks ------------------------------------------------------------------------------


def entry(key: str, size: int, mtime: int = 1) -> InventoryEntry:
    return InventoryEntry("/r", key, size, mtime, "fits", key)


def test_a_new_file_is_ready_only_when_two_looks_agree():
    first = compare_looks([entry("a", 10)], {}, set(), {}, 10)
    assert [e.partition_key for e in first.record] == ["a"]
    assert not first.ready
    growing = compare_looks([entry("a", 20)], {"a": (10, 1)}, set(), {}, 10)
    assert [e.partition_key for e in growing.record] == ["a"]
    assert not growing.ready
    stable = compare_looks([entry("a", 20)], {"a": (20, 1)}, set(), {}, 10)
    assert [e.partition_key for e in stable.ready] == ["a"]
    assert not stable.record


def test_a_changed_file_waits_in_pending_then_is_changed():
    recorded = {"a": (10, 1)}
    first = compare_looks([entry("a", 12, 2)], recorded, {"a"}, {}, 10)
    assert not first.changed
    assert not first.record  # the catalog keeps the processed state meanwhile
    assert first.pending == {"a": (12, 2)}
    still = compare_looks([entry("a", 14, 3)], recorded, {"a"}, first.pending, 10)
    assert still.pending == {"a": (14, 3)}
    done = compare_looks([entry("a", 14, 3)], recorded, {"a"}, still.pending, 10)
    assert [e.partition_key for e in done.changed] == ["a"]
    assert done.pending == {}
    undone = compare_looks([entry("a", 10, 1)], recorded, {"a"}, first.pending, 10)
    assert not undone.changed
    assert undone.pending == {}


def test_pending_changes_are_bounded():
    recorded = dict.fromkeys("abc", (1, 1))
    looks = compare_looks([entry(k, 2) for k in "abc"], recorded, set("abc"), {}, 2)
    assert len(looks.pending) == 2


def test_a_partition_without_catalog_row_is_recorded_and_then_changed():
    first = compare_looks([entry("a", 5)], {}, {"a"}, {}, 10)
    assert [e.partition_key for e in first.record] == ["a"]
    second = compare_looks([entry("a", 5)], {"a": (5, 1)}, {"a"}, first.pending, 10)
    assert [e.partition_key for e in second.changed] == ["a"]


def test_scan_cursor_round_trips_and_survives_garbage():
    cursor = ScanCursor("/r", "a/b.fits", 3, {"k": (1, 2)}, ("/offline",), 12)
    assert ScanCursor.from_json(cursor.to_json()) == cursor
    assert ScanCursor.from_json("not json") == ScanCursor()
    assert ScanCursor.from_json('{"pending": 5}') == ScanCursor()
    assert ScanCursor.from_json(None) == ScanCursor()


def test_a_budget_spent_on_the_last_file_finishes_the_walk(tmp_path: Path):
    make_tree(tmp_path, TREE)
    walk = walk_root(str(tmp_path), max_entries=6)
    assert len(walk.entries) == 6
    assert walk.finished


# --- the proof a removal needs ----------------------------------------------------------------


def test_the_walk_records_each_folder_and_file_device(tmp_path):
    root = tmp_path / "lib"
    (root / "empty").mkdir(parents=True)
    (root / "full").mkdir()
    (root / "full" / "a.fits").write_bytes(b"x")
    walk = walk_root(str(root))
    device = root.stat().st_dev
    assert walk.folders.keys() == {"", "empty", "full"}
    assert walk.folders["empty"].empty
    assert not walk.folders["full"].empty
    assert walk.folders["full"].device == device
    (entry,) = walk.entries
    assert entry.device == device

    assert folder_offline("full/gone.fits", walk, device) is None
    assert folder_offline("full/gone.fits", walk, None) is None  # device not known: not checked
    assert folder_offline("empty/gone.fits", walk, device) == ("empty", "the folder is empty")
    assert folder_offline("x/y/gone.fits", walk, device) == ("x", "the folder is missing")
    folder, why = folder_offline("full/gone.fits", walk, device + 1)
    assert folder == "full"
    assert "another device" in why
