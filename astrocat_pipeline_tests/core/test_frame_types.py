"""The frame-type vocabulary: the contract's words, and what each type implies."""

from __future__ import annotations

import json

import pytest

from astrocat_pipeline.core.frame_types import IMAGETYP_SPELLINGS, FrameType
from astrocat_pipeline.core.records import ImageMetadata
from astrocat_pipeline.core.summary import INTEGRATION_FRAME_TYPES

# Each member's properties, stated one by one:
# (member, is_linear, shows_sky, is_calibration, is_master, master)
PROPERTIES = [
    (FrameType.LIGHT, True, True, False, False, FrameType.MASTER_LIGHT),
    (FrameType.DARK, True, False, True, False, FrameType.MASTER_DARK),
    (FrameType.FLAT, True, False, True, False, FrameType.MASTER_FLAT),
    (FrameType.BIAS, True, False, True, False, FrameType.MASTER_BIAS),
    (FrameType.DARK_FLAT, True, False, True, False, None),
    (FrameType.MASTER_LIGHT, True, True, False, True, None),
    (FrameType.MASTER_DARK, True, False, True, True, None),
    (FrameType.MASTER_FLAT, True, False, True, True, None),
    (FrameType.MASTER_BIAS, True, False, True, True, None),
    (FrameType.PROCESSED, False, True, False, False, None),
    (FrameType.UNKNOWN, False, True, False, False, None),
]


def test_the_vocabulary_is_the_contracts():
    assert [t.value for t in FrameType] == [
        "light",
        "dark",
        "flat",
        "bias",
        "dark_flat",
        "master_light",
        "master_dark",
        "master_flat",
        "master_bias",
        "processed",
        "unknown",
    ]
    assert [row[0] for row in PROPERTIES] == list(FrameType)


@pytest.mark.parametrize(
    ("member", "linear", "sky", "calibration", "master_frame", "master"), PROPERTIES
)
def test_each_member_knows_what_it_is(member, linear, sky, calibration, master_frame, master):
    assert (member.is_linear, member.shows_sky, member.is_calibration, member.is_master) == (
        linear,
        sky,
        calibration,
        master_frame,
    )
    assert member.master is master


def test_the_properties_give_the_sets_they_replace():
    """The sets each module kept before the vocabulary existed, word for word."""
    linear_before = {
        "light",
        "dark",
        "flat",
        "bias",
        "dark_flat",
        "master_light",
        "master_dark",
        "master_flat",
        "master_bias",
    }
    sky_before = {"light", "master_light", "processed", "unknown"}  # cataloging.steps
    integration_before = {"light"}  # core.summary
    assert {t for t in FrameType if t.is_linear} == linear_before  # core.stretch
    assert {t for t in FrameType if t.shows_sky} == sky_before
    assert set(INTEGRATION_FRAME_TYPES) == integration_before


def test_members_are_their_words_in_json_and_records():
    assert json.dumps({"frame_type": FrameType.DARK_FLAT}) == '{"frame_type": "dark_flat"}'
    assert f"{FrameType.MASTER_BIAS} frame" == "master_bias frame"
    record = ImageMetadata(path="/lib/a.fits", format="fits", frame_type="flat")  # type: ignore[arg-type]
    assert record.frame_type is FrameType.FLAT
    assert type(record.to_dict()["frame_type"]) is str
    assert record.to_dict()["frame_type"] == "flat"
    assert ImageMetadata(path="/lib/b.fits", format="fits").frame_type is FrameType.UNKNOWN
    with pytest.raises(ValueError, match="Flat"):
        ImageMetadata(path="/lib/c.fits", format="fits", frame_type="Flat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("light", FrameType.LIGHT),
        ("MASTER_FLAT", FrameType.MASTER_FLAT),
        (FrameType.PROCESSED, FrameType.PROCESSED),
        (None, FrameType.UNKNOWN),
        ("", FrameType.UNKNOWN),
        ("flatwizard", FrameType.UNKNOWN),
    ],
)
def test_of_reads_a_stored_or_typed_word(value, expected):
    assert FrameType.of(value) is expected


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("Light Frame", FrameType.LIGHT),
        ("  light_frame ", FrameType.LIGHT),
        ("Flat-Field", FrameType.FLAT),
        ("MasterDark", FrameType.MASTER_DARK),
        ("Master Offset", FrameType.MASTER_BIAS),
        ("Zero", FrameType.BIAS),
        ("flat dark", FrameType.DARK_FLAT),
        ("processed", None),  # no capture program writes it
        ("Tricolour", None),
    ],
)
def test_imagetyp_spellings(spelling, expected):
    assert FrameType.from_imagetyp(spelling) is expected


def test_every_imagetyp_spelling_is_normalized():
    """Keys are as from_imagetyp looks them up: upper case, single spaces, letters only."""
    for spelling, member in IMAGETYP_SPELLINGS.items():
        assert FrameType.from_imagetyp(spelling.lower()) is member, spelling
