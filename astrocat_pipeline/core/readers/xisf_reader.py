"""XISF (PixInsight): mono and RGB, 8/16/32-bit integer and 32/64-bit float samples, with
FITS keywords and XISF properties (``Instrument:*``, ``Observation:*``).

The ``xisf`` package parses the header and reads attached data blocks with every codec it
supports (zlib, lz4, lz4hc, zstd, with or without byte shuffling). It cannot read data blocks
kept inside the XML header (``location="embedded"`` or ``"inline"``, which PixInsight uses for
small images); those are decoded here from the header XML.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import xisf

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.readers.base import (
    ImageHeader,
    check_declared_size,
    check_file,
    kind_of,
    plain_value,
    text_to_value,
)
from astrocat_pipeline.core.readers.fits_cards import field_value
from astrocat_pipeline.core.readers.fits_reader import quiet_astropy

_SIGNATURE = b"XISF0100"
_NS = {"xisf": "http://www.pixinsight.com/xisf"}
_READ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    ET.ParseError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    binascii.Error,
)


def _open(path: Path) -> xisf.XISF:
    with path.open("rb") as handle:
        signature = handle.read(8)
    if signature != _SIGNATURE:
        raise ImageReadError(
            f"{path}: not an XISF file (starts with {signature[:8]!r}, expected {_SIGNATURE!r})"
        )
    return xisf.XISF(str(path))


def _keyword_value(text: str) -> Any:
    """A FITSKeyword's value attribute as a FITS header would hold it: PixInsight writes FITS
    value syntax (``'M 31'`` with quotes doubled inside, ``300.``, ``T``), read here by the
    rules astropy reads a header card by. Writers that leave strings unquoted (``Light Frame``)
    or write non-ASCII text get the text itself, with any quotes around it removed."""
    try:
        return field_value(text)
    except ValueError:
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == "'":
            return stripped[1:-1].replace("''", "'").rstrip()
        return text_to_value(text)


def _keywords(element: ET.Element, image: dict[str, Any], file_meta: dict[str, Any]) -> dict:
    """FITS keywords (the first of a repeated one, as in a FITS header), then the image's and
    the file's XISF properties. The keywords come from the XML itself: the ``xisf`` package
    strips the quotes from their values, which would make the string ``'T'`` a boolean."""
    out: dict[str, Any] = {}
    for card in element.findall("xisf:FITSKeyword", _NS):
        name = card.get("name", "")
        if name and name not in ("COMMENT", "HISTORY") and name not in out:
            out[name] = _keyword_value(card.get("value", ""))
    for source in (image.get("XISFProperties", {}), file_meta):
        for prop_id, prop in source.items():
            if isinstance(prop, dict) and "value" in prop:
                value = plain_value(prop["value"])
                if value is not None:
                    out.setdefault(prop_id, value)
    return out


def _fits_header(keywords: dict[str, Any]) -> Any:
    """The FITS keywords as an astropy header, when they may describe a WCS."""
    if not any(key.startswith("CTYPE") for key in keywords):
        return None
    from astropy.io import fits

    header = fits.Header()
    with quiet_astropy():
        for key, value in keywords.items():
            if len(key) <= 8 and key.upper() == key and ":" not in key:
                try:
                    header[key] = value
                except (ValueError, KeyError, TypeError):
                    continue  # a card astropy cannot represent says nothing about the WCS
    return header


def _image_element(x: xisf.XISF) -> ET.Element:
    root = x.get_metadata_xml()
    element = root.find("xisf:Image", _NS)
    if element is None:
        raise ValueError("no Image element in the XISF header")
    return element


def _cfa_pattern(element: ET.Element, keywords: dict[str, Any]) -> str | None:
    cfa = element.find("xisf:ColorFilterArray", _NS)
    pattern = cfa.get("pattern") if cfa is not None else None
    pattern = pattern or keywords.get("BAYERPAT") or keywords.get("PCL:CFASourcePattern")
    return str(pattern).strip().upper() if pattern else None


def read_header(path: Path, fmt: str) -> ImageHeader:
    file_size = check_file(path)
    try:
        x = _open(path)
        images = x.get_images_metadata()
        if not images:
            raise ImageReadError(f"{path}: XISF file holds no image")
        image = images[0]
        width, height, channels = (int(n) for n in image["geometry"])
        check_declared_size(path, width, height, channels)
        dtype = np.dtype(image["dtype"])
        element = _image_element(x)
        keywords = _keywords(element, image, x.get_file_metadata() or {})
        location = image["location"]
        if location[0] == "attachment" and int(location[1]) + int(location[2]) > file_size:
            raise ImageReadError(
                f"{path}: truncated XISF file: the image data block ends at byte "
                f"{int(location[1]) + int(location[2])}, the file has {file_size} bytes"
            )
        bayer = _cfa_pattern(element, keywords) if channels == 1 else None
    except ImageReadError:
        raise
    except _READ_ERRORS as exc:
        raise ImageReadError(f"{path}: not a readable XISF file ({exc})") from exc
    if dtype.kind == "c":
        raise ImageReadError(f"{path}: complex-valued XISF images are not pictures")
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=3 if channels >= 3 else 1,
        bit_depth=dtype.itemsize * 8,
        sample_kind=kind_of(dtype),
        keywords=keywords,
        fits_header=_fits_header(keywords),
        bottom_up=False,  # XISF stores rows top-down
        bayer_pattern=bayer,
    )


def _unshuffle(data: bytes, item_size: int) -> bytes:
    """Undo XISF byte shuffling: the k-th bytes of all items were stored together."""
    count = len(data) // item_size
    body = np.frombuffer(data[: count * item_size], dtype=np.uint8)
    return body.reshape(item_size, count).T.tobytes() + data[count * item_size :]


def _decompress(data: bytes, compression: str) -> bytes:
    parts = compression.split(":")
    codec = parts[0]
    size = int(parts[1])
    shuffled = codec.endswith("+sh")
    codec = codec.removesuffix("+sh")
    if codec == "zlib":
        raw = zlib.decompress(data)
    elif codec in ("lz4", "lz4hc"):
        import lz4.block

        raw = lz4.block.decompress(data, uncompressed_size=size)
    elif codec == "zstd":
        import zstandard

        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    else:
        raise ValueError(f"unknown XISF compression codec {codec!r}")
    if shuffled and len(parts) > 2:
        raw = _unshuffle(raw, int(parts[2]))
    return raw


def _header_block(element: ET.Element) -> bytes:
    """A data block kept in the header XML (embedded in a Data child, or inline)."""
    location = element.get("location", "")
    if location.startswith("inline"):
        encoding = location.split(":", 1)[1] if ":" in location else "base64"
        text, compression = element.text or "", element.get("compression")
    else:
        data = element.find("xisf:Data", _NS)
        if data is None:
            raise ValueError("embedded data block without a Data element")
        encoding, text, compression = (
            data.get("encoding", "base64"),
            data.text or "",
            (data.get("compression") or element.get("compression")),
        )
    compact = "".join(text.split())
    if encoding == "base64":
        raw = base64.b64decode(compact)
    elif encoding == "hex":
        raw = base64.b16decode(compact.upper())
    else:
        raise ValueError(f"unknown XISF data encoding {encoding!r}")
    return _decompress(raw, compression) if compression else raw


def load(path: Path, header: ImageHeader) -> np.ndarray:
    try:
        x = _open(path)
        image = x.get_images_metadata()[0]
        if image["location"][0] == "attachment":
            array = x.read_image(0, data_format="channels_last")
        else:
            width, height, channels = (int(n) for n in image["geometry"])
            block = _header_block(_image_element(x))
            planes = np.frombuffer(block, dtype=image["dtype"]).reshape(channels, height, width)
            array = np.moveaxis(planes, 0, -1)
    except ImageReadError:
        raise
    except _READ_ERRORS as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, :, 0] if array.shape[2] < 3 else array[:, :, :3]
    return array
