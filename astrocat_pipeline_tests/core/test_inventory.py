from pathlib import Path

import pytest

from astrocat_pipeline.core.formats import image_format, strip_image_suffix
from astrocat_pipeline.core.inventory import (
    contiguous_batches,
    partition_key,
    root_label,
    scan_root,
)

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
