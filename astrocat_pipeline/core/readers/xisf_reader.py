"""XISF (PixInsight): mono and RGB, 8/16/32-bit integer and 32/64-bit float samples, with
FITS keywords and XISF properties (``Instrument:*``, ``Observation:*``).

The ``xisf`` package parses the header (keywords, properties, geometry). The image's data
block is read here, attached or kept inside the XML header (``location="embedded"`` or
``"inline"``, which PixInsight uses for small images), with every codec (zlib, lz4, lz4hc,
zstd, with or without byte shuffling), each decompressor told the size the block declares and
stopping there: the package would inflate a zlib block without a limit. Property blocks the
package decompresses when it opens a file are checked the same way first.
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
    byte_size,
    check_declared_size,
    check_file,
    kind_of,
    plain_value,
    text_to_value,
    too_large,
)
from astrocat_pipeline.core.readers.fits_cards import field_value
from astrocat_pipeline.core.readers.fits_reader import quiet_astropy
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

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


class _BlockTooLargeError(ValueError):
    """A data block declares, or inflates to, more than it may; :func:`_too_large` names it."""


def _open(path: Path, max_bytes: int) -> xisf.XISF:
    with path.open("rb") as handle:
        signature = handle.read(8)
        if signature != _SIGNATURE:
            raise ImageReadError(
                f"{path}: not an XISF file (starts with {signature[:8]!r}, expected {_SIGNATURE!r})"
            )
        length = int.from_bytes(handle.read(4), "little")
        handle.read(4)
        text = handle.read(length).rstrip(b"\0")
    _check_property_blocks(path, ET.fromstring(text), max_bytes)
    return xisf.XISF(str(path))


def _check_property_blocks(path: Path, root: ET.Element, max_bytes: int) -> None:
    """The ``xisf`` package decompresses the data blocks of properties (vectors, matrices,
    long strings) as it opens a file, zlib without any limit: each compressed one is inflated
    here first, bounded by its declared size and the limit per file. They are small (a few kB
    at most), so the second decompression costs nothing worth measuring."""
    for element in root.iter():
        compression = _image_compression(element) if element.get("location") else None
        if element.tag.endswith("}Image") or not compression:
            continue
        declared = _declared_size(compression)
        if declared > max_bytes:
            raise too_large(
                path, f"a property's data block declares {byte_size(declared)}", max_bytes
            )
        try:
            _decompress(_block_bytes(path, element), compression, declared)
        except _BlockTooLargeError as exc:
            raise ImageReadError(f"{path}: a property's data block {exc}") from None


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


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    file_size = check_file(path)
    try:
        x = _open(path, max_bytes)
        images = x.get_images_metadata()
        if not images:
            raise ImageReadError(f"{path}: XISF file holds no image")
        image = images[0]
        width, height, channels = (int(n) for n in image["geometry"])
        dtype = np.dtype(image["dtype"])
        # Every channel is decoded (a fourth, alpha, is dropped afterwards).
        expected = check_declared_size(path, width, height, channels, dtype.itemsize, max_bytes)
        element = _image_element(x)
        _check_image_block(path, element, expected)
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


def _declared_size(compression: str) -> int:
    """The uncompressed size a block's ``compression`` attribute declares
    (``codec:size[:item-size]``)."""
    parts = compression.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"compression attribute {compression!r} declares no size")
    return int(parts[1])


def _image_compression(element: ET.Element) -> str | None:
    """A block's compression attribute: on its embedded Data child, or on the element."""
    data = element.find("xisf:Data", _NS)
    found = data.get("compression") if data is not None else None
    return found or element.get("compression")


def _check_image_block(path: Path, element: ET.Element, expected: int) -> None:
    """A compressed image block must declare the size of the image's geometry: each
    decompressor is given that size and stops there."""
    compression = _image_compression(element)
    if compression and _declared_size(compression) != expected:
        raise ImageReadError(
            f"{path}: the image data block declares {_declared_size(compression)} bytes "
            f"uncompressed, the image's geometry {expected}"
        )


def _decompress(data: bytes, compression: str, size: int) -> bytes:
    """A compressed block inflated to at most ``size`` bytes (what it declares): each codec is
    given the size and a block that inflates further is refused, not decoded on."""
    parts = compression.split(":")
    codec = parts[0]
    shuffled = codec.endswith("+sh")
    codec = codec.removesuffix("+sh")
    if codec == "zlib":
        inflate = zlib.decompressobj()
        raw = inflate.decompress(data, size)
        if inflate.unconsumed_tail and inflate.decompress(inflate.unconsumed_tail, 1):
            raise _BlockTooLargeError(f"inflates beyond the {size} bytes it declares")
    elif codec in ("lz4", "lz4hc"):
        import lz4.block

        # LZ4 writes into a buffer of the declared size and fails rather than write past it.
        try:
            raw = lz4.block.decompress(data, uncompressed_size=size)
        except lz4.block.LZ4BlockError as exc:
            raise _BlockTooLargeError(
                f"does not inflate to the {size} bytes it declares ({exc})"
            ) from None
    elif codec == "zstd":
        import zstandard

        # A zstd frame may carry its own content size, which decompress() would allocate.
        content = zstandard.frame_content_size(data)
        if content > size:
            raise _BlockTooLargeError(
                f"holds a frame of {content} bytes, beyond the {size} it declares"
            )
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    else:
        raise ValueError(f"unknown XISF compression codec {codec!r}")
    if shuffled and len(parts) > 2:
        raw = _unshuffle(raw, int(parts[2]))
    return raw


def _block_bytes(path: Path, element: ET.Element) -> bytes:
    """A data block as stored: attached (read from the file at its position) or in the XML."""
    location = element.get("location", "")
    if location.startswith("attachment"):
        _, position, length = location.split(":")
        with path.open("rb") as handle:
            handle.seek(int(position))
            return handle.read(int(length))
    return _stored_header_block(element)


def _stored_header_block(element: ET.Element) -> bytes:
    """A data block kept in the header XML (embedded in a Data child, or inline), decoded from
    its text but not decompressed: at most three quarters of the text's size."""
    location = element.get("location", "")
    if location.startswith("attachment"):
        raise ValueError("the data block is attached, not in the header")
    if location.startswith("inline"):
        encoding = location.split(":", 1)[1] if ":" in location else "base64"
        text = element.text or ""
    else:
        data = element.find("xisf:Data", _NS)
        if data is None:
            raise ValueError("embedded data block without a Data element")
        encoding, text = data.get("encoding", "base64"), data.text or ""
    compact = "".join(text.split())
    if encoding == "base64":
        return base64.b64decode(compact)
    if encoding == "hex":
        return base64.b16decode(compact.upper())
    raise ValueError(f"unknown XISF data encoding {encoding!r}")


def load(path: Path, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The image's pixels. The block, attached or in the header, is inflated to the size of
    the image's geometry at most (read_header checked that against ``max_bytes`` and the
    block's declared size): one that inflates further is refused."""
    try:
        x = _open(path, max_bytes)
        image = x.get_images_metadata()[0]
        width, height, channels = (int(n) for n in image["geometry"])
        dtype = np.dtype(image["dtype"])
        expected = check_declared_size(path, width, height, channels, dtype.itemsize, max_bytes)
        element = _image_element(x)
        _check_image_block(path, element, expected)
        block = _block_bytes(path, element)
        compression = _image_compression(element)
        if compression:
            block = _decompress(block, compression, expected)
        if len(block) != expected:
            raise ImageReadError(
                f"{path}: the image data block holds {len(block)} bytes, the image's geometry "
                f"{width}x{height}x{channels} of {dtype.itemsize} byte(s) needs {expected}"
            )
        planes = np.frombuffer(block, dtype=dtype).reshape(channels, height, width)
        array = np.moveaxis(planes, 0, -1)
    except _BlockTooLargeError as exc:
        raise ImageReadError(f"{path}: the image data block {exc}") from None
    except ImageReadError:
        raise
    except _READ_ERRORS as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    if array.shape[2] < 3:
        return array[:, :, 0]
    return array[:, :, :3]
