"""XISF properties and keywords, and the EXIF values the catalog keeps, equal what a reference
reader gives: astropy for the FITS keywords an XISF file carries (their values are FITS value
text), the ``xisf`` package for XISF properties, and Pillow and tifffile (both independent of
ExifRead, which the pipeline uses) for EXIF. On seeded generated files and on the real samples.

No reference reader here opens Canon CR3 or Panasonic RW2, so those two samples are left to
test_readers' expected values.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import xisf
from astropy.io import fits
from astropy.io.fits.card import Undefined
from PIL import ExifTags, Image

from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.readers.base import HeaderTextWarning, plain_value
from astrocat_pipeline.core.readers.exif import read_exif
from astrocat_pipeline_tests.core.test_header_differential import number_text, string_value
from astrocat_pipeline_tests.image_files import camera_exif, write_pillow
from astrocat_pipeline_tests.samples import needs_samples, sample

# --- XISF -----------------------------------------------------------------------------------

XISF_FILES = 60
PROPERTY_TYPES = {
    "String": lambda rng: string_value(rng) or "M 31",
    "Float64": lambda rng: rng.uniform(-1e4, 1e4),
    "Float32": lambda rng: float(np.float32(rng.uniform(-100, 100))),
    "Int32": lambda rng: rng.randint(-(2**31), 2**31 - 1),
    "UInt16": lambda rng: rng.randint(0, 65535),
}
PROPERTY_IDS = [
    "Observation:Object:Name",
    "Instrument:ExposureTime",
    "Instrument:Camera:Name",
    "Instrument:Filter:Name",
    "Instrument:Sensor:Temperature",
    "Instrument:Camera:XBinning",
    "Observation:Center:RA",
]
XISF_KEYWORDS = ["OBJECT", "FILTER", "EXPTIME", "GAIN", "CCD-TEMP", "IMAGETYP", "INSTRUME", "RA"]


def _fits_value_text(rng: random.Random) -> str:
    """A keyword value as PixInsight writes it in a FITSKeyword: FITS value syntax."""
    kind = rng.randrange(5)
    if kind == 0:
        return "'" + string_value(rng).replace("'", "''") + "'"
    if kind == 1:
        return rng.choice(["T", "F", "'T'", "'123'"])  # quoted ones stay strings
    if kind == 2:
        return f"({number_text(rng).strip()}, {number_text(rng).strip()})"
    return number_text(rng).strip()


def astropy_value(name: str, text: str) -> Any:
    """What astropy reads from a header card holding this keyword value."""
    value = fits.Card.fromstring(f"{name:<8}= {text}").value
    return None if isinstance(value, Undefined) else plain_value(value)


def test_generated_xisf_keywords_and_properties_match_the_reference_readers(tmp_path):
    rng = random.Random(7)
    mismatches = []
    for number in range(XISF_FILES):
        keywords = {name: _fits_value_text(rng) for name in rng.sample(XISF_KEYWORDS, 4)}
        properties = {}
        for prop_id in rng.sample(PROPERTY_IDS, 3):
            kind = rng.choice(sorted(PROPERTY_TYPES))
            properties[prop_id] = (kind, PROPERTY_TYPES[kind](rng))
        path = _with_fits_keywords(tmp_path / f"k{number:03d}.xisf", keywords, properties)
        header = read_header(path)
        for name, text in keywords.items():
            expected = astropy_value(name, text)
            if header.keywords.get(name) != expected:
                read = header.keywords.get(name)
                mismatches.append(
                    f"{path.name} {name}={text!r}: read {read!r}, astropy {expected!r}"
                )
        reference = xisf.XISF(str(path)).get_images_metadata()[0]["XISFProperties"]
        for prop_id, (_kind, written) in properties.items():
            expected = plain_value(reference[prop_id]["value"])
            if header.keywords.get(prop_id) != expected or expected != written:
                mismatches.append(
                    f"{path.name} {prop_id}: read {header.keywords.get(prop_id)!r}, "
                    f"xisf {expected!r}, written {written!r}"
                )
        normalize_metadata(str(path), header)  # every value is one the metadata can take
    assert not mismatches, "\n".join(mismatches[:20])


def _with_fits_keywords(
    path: Path, keywords: dict[str, str], properties: dict[str, tuple[str, Any]]
) -> Path:
    """An XISF file whose FITSKeyword value attributes are exactly the given FITS text."""
    image_metadata = {
        "FITSKeywords": {k: [{"value": v, "comment": "c"}] for k, v in keywords.items()},
        "XISFProperties": {k: {"id": k, "type": t, "value": v} for k, (t, v) in properties.items()},
    }
    xisf.XISF.write(
        str(path), np.zeros((4, 4, 1), np.uint16), creator_app="t", image_metadata=image_metadata
    )
    return path


def test_xisf_keyword_text_keeps_its_fits_meaning(tmp_path):
    """The ``xisf`` package strips quotes from keyword values; a quoted 'T' is still a string,
    doubled quotes are one quote, a D exponent is a number, and '/' is no comment marker."""
    keywords = {"OBJECT": "'It''s M 31'", "FILTER": "'T'", "EGAIN": "7.8D-1", "EXPOSURE": "1/250"}
    path = _with_fits_keywords(tmp_path / "k.xisf", keywords, {})
    read = read_header(path).keywords
    assert read["OBJECT"] == "It's M 31"
    assert read["FILTER"] == "T"
    assert read["EGAIN"] == pytest.approx(0.78)
    assert read["EXPOSURE"] == "1/250"
    assert normalize_metadata(str(path), read_header(path)).filter == "T"


@needs_samples
@pytest.mark.parametrize("relative", ["xisf/M13_blue_0001_derived.xisf", "xisf/XISF.xisf"])
def test_real_xisf_matches_the_xisf_package(relative):
    path = sample(relative)
    reference = xisf.XISF(str(path))
    image = reference.get_images_metadata()[0]
    read = read_header(path).keywords
    for name, cards in image.get("FITSKeywords", {}).items():
        # The package's text (quotes stripped): numbers read as numbers, the rest as the text.
        text = cards[0]["value"]
        try:
            expected: Any = float(text)
        except ValueError:
            expected = text
        assert read[name] == expected, name
    properties = dict(image.get("XISFProperties", {}))
    properties.update(reference.get_file_metadata())
    for prop_id, prop in properties.items():
        assert read[prop_id] == plain_value(prop["value"]), prop_id


# --- EXIF -----------------------------------------------------------------------------------

# The EXIF tags normalize_metadata reads.
CATALOG_EXIF = [
    "Make",
    "Model",
    "ExposureTime",
    "ISOSpeedRatings",
    "FocalLength",
    "DateTimeOriginal",
    "DateTime",
    "LensModel",
    "OffsetTimeOriginal",
    "SubSecTimeOriginal",
    "FocalPlaneXResolution",
    "FocalPlaneResolutionUnit",
]


def _reference_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0] / value[1] if value[1] else None  # a TIFF rational
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if hasattr(value, "numerator") and not isinstance(value, int):
        return float(Fraction(value.numerator, value.denominator)) if value.denominator else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value.strip("\x00 ") or None
    return value


def pillow_exif(source: Path | bytes) -> dict[str, Any]:
    with (
        warnings.catch_warnings(),
        Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image,
    ):
        # Pillow warns about maker tags it does not expect in a raw's TIFF directory.
        warnings.simplefilter("ignore", UserWarning)
        exif = image.getexif()
        tags = list(exif.items()) + list(exif.get_ifd(0x8769).items())
    # Pillow spells the sub-second tag SubsecTimeOriginal.
    names = {**ExifTags.TAGS, 0x9291: "SubSecTimeOriginal"}
    out: dict[str, Any] = {}
    for tag, value in tags:
        out.setdefault(names.get(tag, str(tag)), _reference_value(value))
    return out


def tifffile_exif(path: Path) -> dict[str, Any]:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        tags = {tag.name: tag.value for tag in page.tags.values()}
    merged = dict(tags.pop("ExifTag", None) or {})
    for name, value in tags.items():
        merged.setdefault(name, value)
    merged.setdefault("SubSecTimeOriginal", merged.get("SubsecTimeOriginal"))
    return {name: _reference_value(value) for name, value in merged.items()}


def _compare_exif(ours: dict[str, Any], reference: dict[str, Any], label: str) -> list[str]:
    problems = []
    for name in CATALOG_EXIF:
        mine, theirs = ours.get(name), reference.get(name)
        if isinstance(mine, float) or isinstance(theirs, float):
            same = mine is not None and theirs is not None and mine == pytest.approx(theirs)
        else:
            same = mine == theirs
        if not same:
            problems.append(f"{label} {name}: read {mine!r}, reference {theirs!r}")
    return problems


def test_generated_jpeg_exif_matches_pillow(tmp_path):
    rng = random.Random(11)
    problems = []
    for number in range(40):
        exif = camera_exif(
            model=rng.choice(["EOS 6D", "EOS Ra", "Z 6II", "α7 III"]),
            make=rng.choice(["Canon", "NIKON CORPORATION", "SONY"]),
            exposure=rng.choice([1 / 4000, 1 / 15, 0.5, 30.0, 240.0]),
            iso=rng.choice([100, 400, 1600, 6400, 25600]),
            date=f"2024:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d} 21:14:03",
            focal_mm=rng.choice([14.0, 50.0, 135.0, 600.0]),
            lens=rng.choice(["EF135mm f/2L USM", "NIKKOR Z 50mm f/1.8 S", "Objectif 50 mm"]),
        )
        path = write_pillow(tmp_path / f"IMG_{number:04d}.jpg", np.zeros((8, 8, 3), np.uint8), exif)
        problems += _compare_exif(read_exif(path), pillow_exif(path), path.name)
    assert not problems, "\n".join(problems[:20])


TIFF_BASED_RAWS = [
    "raw/stubs/CanonRaw.cr2",
    "raw/stubs/Nikon.nef",
    "raw/stubs/DNG.dng",
    "raw/stubs/fixture-sony-zv-e10.arw",
]


@needs_samples
@pytest.mark.parametrize("relative", TIFF_BASED_RAWS)
def test_real_raw_exif_matches_tifffile(relative):
    path = sample(relative)
    assert not _compare_exif(read_exif(path), tifffile_exif(path), relative)


@needs_samples
@pytest.mark.parametrize("relative", TIFF_BASED_RAWS[:3])
def test_real_raw_exif_matches_pillow(relative):
    path = sample(relative)
    assert not _compare_exif(read_exif(path), pillow_exif(path), relative)


@needs_samples
def test_real_raf_exif_matches_pillow_on_its_embedded_jpeg():
    path = sample("raw/stubs/FujiFilm.raf")
    data = path.read_bytes()
    offset, length = struct.unpack(">II", data[84:92])  # the RAF header's JPEG pointer
    reference = pillow_exif(data[offset : offset + length])
    assert not _compare_exif(read_exif(path), reference, "FujiFilm.raf")


def test_exif_text_that_is_not_utf8_is_replaced_with_a_warning(tmp_path):
    """A latin-1 byte in an ASCII EXIF tag: read, with U+FFFD in its place, never a crash."""
    path = write_pillow(tmp_path / "IMG_0001.jpg", np.zeros((8, 8, 3), np.uint8), camera_exif())
    data = path.read_bytes()
    # Overwrite one byte of the Model text ("EOS 6D") in place, keeping every offset.
    at = data.index(b"EOS 6D")
    path.write_bytes(data[: at + 3] + b"\xe9" + data[at + 4 :])
    with pytest.warns(HeaderTextWarning, match=r"IMG_0001\.jpg: EXIF text tag\(s\) Model"):
        exif = read_exif(path)
    assert exif["Model"] == "EOS\ufffd6D"
    with pytest.warns(HeaderTextWarning):
        assert normalize_metadata(str(path), read_header(path)).camera == "Canon EOS\ufffd6D"
