from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.core.errors import ImageReadError, UnsupportedFormatError
from astrocat_pipeline.core.loading import load_image, read_header
from astrocat_pipeline.core.metadata import (
    frame_type_from_path,
    frame_type_from_text,
    normalize_metadata,
    parse_date_obs,
    parse_dec_deg,
    parse_ra_deg,
)
from astrocat_pipeline_tests.samples import needs_samples, sample

NINA_HEADER = {
    "IMAGETYP": "LIGHT",
    "EXPOSURE": 300.0,
    "EXPTIME": 300.0,
    "OBJECT": "M31",
    "FILTER": "Ha",
    "INSTRUME": "ZWO ASI2600MM Pro",
    "TELESCOP": "Samyang 135mm",
    "FOCALLEN": 135.0,
    "XPIXSZ": 7.52,
    "XBINNING": 2,
    "GAIN": 100,
    "OFFSET": 50,
    "CCD-TEMP": -10.1,
    "DATE-OBS": "2024-10-05T21:14:03.512",
    "OBJCTRA": "00 42 44.3",
    "OBJCTDEC": "+41 16 09",
}


def write_fits(path: Path, data: np.ndarray, header: dict | None = None) -> Path:
    hdu = fits.PrimaryHDU(data)
    for key, value in (header or {}).items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def test_nina_light_frame(tmp_path):
    path = write_fits(tmp_path / "m31.fits", np.zeros((40, 60), np.uint16), NINA_HEADER)
    md = normalize_metadata(str(path), read_header(path))
    assert (md.width, md.height, md.channels, md.bit_depth) == (60, 40, 1, 16)
    assert md.frame_type == "light"
    assert md.object == "M31"
    assert md.exposure_s == 300.0
    assert md.filter == "Ha"
    assert md.camera == "ZWO ASI2600MM Pro"
    assert md.telescope == "Samyang 135mm"
    assert md.focal_length_mm == 135.0
    assert md.pixel_size_um == 7.52
    assert md.binning == 2
    assert md.gain == 100
    assert md.offset == 50
    assert md.ccd_temp_c == pytest.approx(-10.1)
    assert md.date_obs == datetime(2024, 10, 5, 21, 14, 3, 512000, tzinfo=UTC)
    assert md.ra_deg == pytest.approx(10.6846, abs=1e-3)
    assert md.dec_deg == pytest.approx(41.2692, abs=1e-3)
    assert md.has_wcs is False  # pointing keywords are not a WCS


def test_celestial_wcs_sets_has_wcs(tmp_path):
    header = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 10.68,
        "CRVAL2": 41.27,
        "CRPIX1": 30.5,
        "CRPIX2": 20.5,
        "CD1_1": -0.002,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": 0.002,
    }
    path = write_fits(tmp_path / "wcs.fits", np.zeros((40, 60), np.float32), header)
    md = normalize_metadata(str(path), read_header(path))
    assert md.has_wcs
    assert md.bit_depth == 32
    assert md.ra_deg == pytest.approx(10.68)


def test_colour_cube_is_channel_last(tmp_path):
    path = write_fits(tmp_path / "rgb.fits", np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5))
    data, header = load_image(path)
    assert data.shape == (4, 5, 3)
    assert header.channels == 3
    assert data[0, 0, 1] == 20  # plane 1, first pixel


def test_unsigned_16_bit_keeps_its_values(tmp_path):
    values = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    path = write_fits(tmp_path / "u16.fits", values)
    data, header = load_image(path)
    assert header.sample_kind == "uint"
    np.testing.assert_array_equal(data, values)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Light Frame", "light"),
        ("LIGHT", "light"),
        ("Flat Field", "flat"),
        ("Bias Frame", "bias"),
        ("Master Dark", "master_dark"),
        ("DARKFLAT", "dark_flat"),
        ("Dark Flat", "dark_flat"),
        ("something else", None),
    ],
)
def test_frame_type_words(value, expected):
    assert frame_type_from_text(value) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/lib/M31/LIGHT/a.fits", "light"),
        ("/lib/calibration/DARKS/a.fits", "dark"),
        ("/lib/Flats/2024-01-01/a.fits", "flat"),
        ("/lib/masters/master_flat_Ha.fits", "master_flat"),
        ("/lib/DarkFlats/a.fits", "dark_flat"),
        ("/lib/M31/a.fits", None),
    ],
)
def test_frame_type_from_path(path, expected):
    assert frame_type_from_path(path) == expected


def test_frame_type_falls_back_to_folder(tmp_path):
    folder = tmp_path / "BIAS"
    folder.mkdir()
    path = write_fits(folder / "b.fits", np.zeros((4, 4), np.uint16))
    assert normalize_metadata(str(path), read_header(path)).frame_type == "bias"


def test_coordinate_and_date_parsing():
    assert parse_ra_deg("13:29:24.00") == pytest.approx(202.35)
    assert parse_ra_deg(202.35) == pytest.approx(202.35)
    assert parse_dec_deg("-05 23 28") == pytest.approx(-5.3911, abs=1e-4)
    assert parse_dec_deg("47:15:34.00") == pytest.approx(47.2594, abs=1e-4)
    assert parse_dec_deg(95.0) is None
    assert parse_date_obs("05/04/87") == datetime(1987, 4, 5, tzinfo=UTC)
    assert parse_date_obs("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_date_obs("2024-01-02", "03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_date_obs("not a date") is None


def test_reading_metadata_does_not_read_pixels(tmp_path):
    big = write_fits(tmp_path / "big.fits", np.zeros((3000, 4000), np.uint16), NINA_HEADER)
    header = read_header(big)
    assert (header.width, header.height) == (4000, 3000)
    assert header.keywords["OBJECT"] == "M31"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"\x00\x01garbage" * 100, "not a readable FITS file"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, content, reason):
    path = tmp_path / "bad frame, 1.fits"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_header(path)
    assert str(path) in str(info.value)
    assert reason in str(info.value)


def test_truncated_fits_is_an_error_naming_the_file(tmp_path):
    path = write_fits(tmp_path / "t.fits", np.ones((200, 200), np.uint16), NINA_HEADER)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ImageReadError, match=r"t\.fits"):
        load_image(path)


def test_fits_without_image_data(tmp_path):
    path = tmp_path / "table.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column("A", "E", array=np.ones(3))]),
        ]
    ).writeto(path)
    with pytest.raises(ImageReadError, match="no image data"):
        read_header(path)


def test_absurd_declared_size(tmp_path):
    path = write_fits(tmp_path / "absurd.fits", np.zeros((4, 4), np.uint8))
    content = bytearray(path.read_bytes())
    card = b"NAXIS1  =                    4"
    at = content.index(card)
    content[at : at + len(card)] = b"NAXIS1  =           4000000000"
    path.write_bytes(bytes(content))
    with pytest.raises(ImageReadError, match=r"4000000000x4x1 samples .* over the limit of 2\.1"):
        read_header(path)


def test_unsupported_and_unknown_types(tmp_path):
    raw = tmp_path / "a.cr2"
    raw.write_bytes(b"II*\x00")
    with pytest.raises(ImageReadError, match=r"a\.cr2: not a readable camera raw file"):
        read_header(raw)
    with pytest.raises(UnsupportedFormatError):
        read_header(tmp_path / "notes.txt")


@needs_samples
def test_real_simple_fits_with_sexagesimal_pointing_and_old_date():
    path = sample("fits/simple.fits")
    md = normalize_metadata(str(path), read_header(path))
    assert (md.width, md.height) == (256, 256)
    assert md.object.startswith("m51")
    assert md.date_obs == datetime(1987, 4, 5, tzinfo=UTC)
    assert md.ra_deg == pytest.approx(202.35, abs=1e-3)
    assert md.dec_deg == pytest.approx(47.2594, abs=1e-3)
    assert not md.has_wcs


@needs_samples
def test_real_ccd_light_frame():
    path = sample("fits/M13_blue_0001.fits")
    md = normalize_metadata(str(path), read_header(path))
    assert (md.width, md.height, md.bit_depth) == (1392, 1040, 16)
    assert md.camera == "Orion SSDSI"
    assert md.exposure_s == 5
    assert md.pixel_size_um == pytest.approx(6.45)
    assert md.date_obs.year == 2013


@needs_samples
def test_real_dss_plate_has_wcs():
    path = sample("fits/HorseHead.fits")
    md = normalize_metadata(str(path), read_header(path))
    assert md.has_wcs
    assert (md.width, md.height) == (891, 893)


@needs_samples
def test_real_multi_extension_fits_reads_the_first_image_extension():
    path = sample("fits/multi.fits")
    header = read_header(path)
    md = normalize_metadata(str(path), header)
    assert header.hdu_index == 1
    assert (md.width, md.height) == (132, 288)  # NAXIS1 x NAXIS2
    assert md.object == "NGC1068"  # inherited from the primary header
    assert md.has_wcs


# Headers as capture and processing software write them (keyword names, value spellings).
WRITERS = {
    "N.I.N.A.": (
        {
            "IMAGETYP": "LIGHT",
            "EXPOSURE": 120.0,
            "DATE-OBS": "2024-10-05T21:14:03.512",
            "DATE-LOC": "2024-10-05T23:14:03.512",
            "CCD-TEMP": -9.8,
            "SET-TEMP": -10.0,
            "OBJCTRA": "00 42 44",
            "OBJCTDEC": "+41 16 09",
            "RA": 10.6833,
            "DEC": 41.2692,
        },
        {"frame_type": "light", "exposure_s": 120.0, "ccd_temp_c": -9.8, "ra_deg": 10.6833},
    ),
    "SGP": (
        {
            "IMAGETYP": "Light Frame",
            "EXPTIME": 300.0,
            "DATE-OBS": "2023-01-01T01:02:03",
            "OBJCTRA": "05 35 17",
            "OBJCTDEC": "-05 23 28",
            "SET-TEMP": -15.0,
        },
        {
            "frame_type": "light",
            "exposure_s": 300.0,
            "ccd_temp_c": -15.0,
            "ra_deg": 83.8208,
            "dec_deg": -5.3911,
        },
    ),
    "APT": (
        {"IMAGETYP": "Flat", "EXPOSURE": 1.5, "DATE-OBS": "2023-03-04T05:06:07.89"},
        {"frame_type": "flat", "exposure_s": 1.5},
    ),
    "MaxIm DL": (
        {
            "IMAGETYP": "Bias Frame",
            "EXPTIME": 0.0,
            "DATE-OBS": "2013-05-05T04:09:39",
            "XBINNING": 2,
            "YBINNING": 2,
            "XPIXSZ": 12.9,
        },
        {"frame_type": "bias", "exposure_s": 0.0, "binning": 2, "pixel_size_um": 12.9},
    ),
    "SharpCap": (
        {
            "FRAMETYP": "Dark",
            "EXPTIME": 10.0,
            "DATE-OBS": "2021-02-13T21:19:57.2345678Z",
            "GAIN": 300,
            "OFFSET": 20,
            "BAYERPAT": "RGGB",
        },
        {
            "frame_type": "dark",
            "gain": 300.0,
            "offset": 20.0,
            "bayer_pattern": "RGGB",
            "date_obs": "2021-02-13T21:19:57.234567+00:00",
        },
    ),
    "ASIAIR": (
        {
            "IMAGETYP": "Light",
            "EXPOSURE": 60.0,
            "DATE-OBS": "2022-09-01T22:00:00.000000",
            "FILTER": "Ha",
            "FOCALLEN": 360.0,
        },
        {"frame_type": "light", "filter": "Ha", "focal_length_mm": 360.0},
    ),
    "KStars/Ekos": (
        {"FRAME": "Flat", "EXPTIME": 2.0, "DATE-OBS": "2022-09-01T22:00:00.000"},
        {"frame_type": "flat", "exposure_s": 2.0},
    ),
    "PixInsight master": (
        {"IMAGETYP": "Master Dark", "EXPTIME": 300.0, "NCOMBINE": 30},
        {"frame_type": "master_dark"},
    ),
    "Siril stack": (
        {"IMAGETYP": "LIGHT", "STACKCNT": 42, "EXPTIME": 120.0},
        {"frame_type": "master_light"},
    ),
    "darkflat": (
        {"IMAGETYP": "DARKFLAT", "EXPTIME": 1.5},
        {"frame_type": "dark_flat"},
    ),
    "zone in DATE-OBS": (
        {"DATE-OBS": "2024-10-05T23:14:03+02:00"},
        {"date_obs": "2024-10-05T21:14:03+00:00"},
    ),
    "DATE-LOC only": (
        {"DATE-LOC": "2024-10-05T23:14:03-04:00"},
        {"date_obs": "2024-10-06T03:14:03+00:00"},
    ),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_writer_keyword_variants(tmp_path, writer):
    header, expected = WRITERS[writer]
    path = write_fits(tmp_path / "frame.fits", np.zeros((8, 8), np.uint16), header)
    md = normalize_metadata(str(path), read_header(path)).to_dict()
    for field_name, value in expected.items():
        if isinstance(value, float):
            assert md[field_name] == pytest.approx(value, abs=1e-3), field_name
        else:
            assert md[field_name] == value, field_name


def test_pointing_keywords_are_not_a_wcs(tmp_path):
    header = {"RA": 10.68, "DEC": 41.27, "OBJCTRA": "00 42 44", "OBJCTDEC": "+41 16 09"}
    path = write_fits(tmp_path / "p.fits", np.zeros((8, 8), np.uint16), header)
    md = normalize_metadata(str(path), read_header(path))
    assert not md.has_wcs
    assert md.ra_deg == pytest.approx(10.68)


def test_master_in_the_file_name_upgrades_the_header_type(tmp_path):
    path = write_fits(
        tmp_path / "master_flat_Ha.fits", np.zeros((8, 8), np.uint16), {"IMAGETYP": "FLAT"}
    )
    assert normalize_metadata(str(path), read_header(path)).frame_type == "master_flat"
