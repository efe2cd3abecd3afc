import pytest

from astrocat_pipeline.core.summary import library_summary, target_of

M31 = {"catalog": "NGC", "designation": "NGC 224", "name": "Andromeda Galaxy", "messier": 31}
M32 = {"catalog": "NGC", "designation": "NGC 221", "name": None, "messier": 32}


def image(**fields):
    base = {
        "frame_type": "light",
        "object": None,
        "filter": "L",
        "camera": "ASI2600MM",
        "format": "fits",
        "date_obs": "2024-10-05T21:14:03+00:00",
        "exposure_s": 300.0,
        "matches": [],
        "plate_solution": None,
    }
    return {**base, **fields}


def test_target_from_header_when_the_field_shows_it():
    assert target_of(image(object="Andromeda Galaxy", matches=[M32, M31])) == "M 31"
    assert target_of(image(object="ngc0224", matches=[M32, M31])) == "M 31"
    assert target_of(image(object="M32", matches=[M31, M32])) == "M 32"


def test_target_from_the_field_when_the_header_misnames_or_lacks_it():
    assert target_of(image(object="flat wizard", matches=[M31, M32])) == "M 31"
    assert target_of(image(object=None, matches=[M31])) == "M 31"
    assert target_of(image(object="ngc 7000")) == "NGC 7000"
    assert target_of(image()) == "unknown"


def test_integration_per_target_and_filter_and_counts():
    images = [
        image(object="M31", matches=[M31], filter="L"),
        image(object="M31", matches=[M31], filter="L", date_obs="2024-10-06T01:00:00+00:00"),
        image(object="M31", matches=[M31], filter="Ha", exposure_s=600.0),
        image(object="M31", frame_type="flat", exposure_s=2.0),
        image(
            object=None,
            frame_type="unknown",
            format="raw",
            camera="Canon EOS Ra",
            filter=None,
            matches=[M31],
            plate_solution={"status": "solved"},
            exposure_s=120.0,
        ),
        image(frame_type="master_light", exposure_s=9000.0, matches=[M31]),
    ]
    tables = library_summary(images)
    integration = tables["integration"].set_index(["target", "filter"])
    assert integration.loc[("M 31", "L"), "frames"] == 2
    assert integration.loc[("M 31", "L"), "exposure_s"] == 600.0
    assert integration.loc[("M 31", "Ha"), "exposure_h"] == pytest.approx(600 / 3600, abs=1e-3)
    assert integration.loc[("M 31", "none"), "exposure_s"] == 120.0  # solved DSLR frame
    assert integration["exposure_s"].sum() == 1320.0  # no flats, no master
    frame_types = dict(zip(*tables["frame_types"].to_dict("list").values(), strict=True))
    assert frame_types == {"light": 3, "flat": 1, "unknown": 1, "master_light": 1}
    nights = tables["nights"].set_index("night")
    # 01:00 UTC on the 6th belongs to the night of the 5th.
    assert nights.loc["2024-10-05", "frames"] == 6


def test_empty_library():
    tables = library_summary([])
    assert all(table.empty for table in tables.values())
