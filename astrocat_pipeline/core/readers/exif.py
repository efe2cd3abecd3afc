"""EXIF of camera raw, JPEG and PNG files through ExifRead, as a flat tag-name mapping.

ExifRead parses TIFF-based raws (CR2, NEF, ARW, DNG, RW2, ORF, PEF), JPEG and PNG itself.
Two containers it does not know carry ordinary TIFF/EXIF structures inside, and are opened
here: Canon CR3 (ISO base media file; the ``CMT1``/``CMT2`` boxes inside Canon's ``uuid`` box
are TIFF IFDs) and Fujifilm RAF (a header pointing at an embedded JPEG with the EXIF).
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import exifread

from astrocat_pipeline.core.readers.base import HeaderTextWarning, plain_value

# ExifRead prefixes each tag with its IFD ("Image Model", "EXIF ExposureTime"); the bare tag
# name is the EXIF standard name. Earlier groups win when a name repeats.
_GROUP_ORDER = ("EXIF", "Image", "GPS")
_SKIPPED_GROUPS = ("Thumbnail", "MakerNote", "Interoperability", "JPEGThumbnail")

_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_RAF_MAGIC = b"FUJIFILMCCD-RAW"


def _tag_value(tag: Any) -> Any:
    values = getattr(tag, "values", tag)
    if isinstance(values, str | bytes):
        return plain_value(values.strip() if isinstance(values, str) else values)
    if isinstance(values, list | tuple):
        # ExifRead gives each FLOAT/DOUBLE value as a 1-tuple ([(30.0,)] for a DOUBLE 30.0,
        # which Pillow and editing software write); the value is the number inside.
        values = [v[0] if isinstance(v, tuple) and len(v) == 1 else v for v in values]
        converted = [plain_value(float(v) if isinstance(v, Fraction) else v) for v in values]
        if len(converted) == 1:
            return converted[0]
        return converted if len(converted) <= 16 else None
    return plain_value(values)


def _flatten(tags: dict[str, Any], undecodable: list[str]) -> dict[str, Any]:
    """Tag values by bare name; names of text tags that are not UTF-8 go to ``undecodable``."""
    out: dict[str, Any] = {}
    for group in _GROUP_ORDER:
        for name, tag in tags.items():
            prefix, _, bare = name.partition(" ")
            if prefix != group or not bare:
                continue
            # Unknown tags come back as "Tag 0x1234"; they carry nothing a user can read.
            if bare.startswith("Tag 0x"):
                continue
            value = _tag_value(tag)
            if value is not None and value != "":
                if bare not in out and _is_undecodable(tag):
                    undecodable.append(bare)
                out.setdefault(bare, value)
    return out


def _is_undecodable(tag: Any) -> bool:
    """ExifRead keeps a text tag it cannot decode as UTF-8 as bytes (and logs, silenced here);
    plain_value then reads it with U+FFFD in place of the bad bytes."""
    values = getattr(tag, "values", None)
    if not isinstance(values, bytes):
        return False
    try:
        values.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _process(stream: BinaryIO, undecodable: list[str]) -> dict[str, Any]:
    # ExifRead logs "File format not recognized" at error level for files without EXIF; that
    # is an outcome here (an empty mapping), not an error worth a log line.
    logger = logging.getLogger("exifread")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        tags = exifread.process_file(stream, details=False)
    finally:
        logger.setLevel(previous)
    kept = {k: v for k, v in tags.items() if not k.startswith(_SKIPPED_GROUPS)}
    return _flatten(kept, undecodable)


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """ISO base media boxes between start and end: (type, body start, box end)."""
    found = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1 and offset + 16 <= end:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        found.append((kind, offset + header, offset + size))
        offset += size
    return found


def _cr3_exif(path: Path, undecodable: list[str]) -> dict[str, Any]:
    # The metadata boxes sit in the "moov" box near the start; 4 MB covers them generously.
    with path.open("rb") as handle:
        data = handle.read(4 * 1024 * 1024)
    out: dict[str, Any] = {}
    for kind, body, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for inner, inner_body, inner_end in _boxes(data, body, end):
            if inner != b"uuid" or data[inner_body : inner_body + 16] != _CANON_UUID:
                continue
            for cmt, cmt_body, cmt_end in _boxes(data, inner_body + 16, inner_end):
                if cmt in (b"CMT1", b"CMT2", b"CMT3"):
                    block = io.BytesIO(data[cmt_body:cmt_end])
                    for key, value in _process(block, undecodable).items():
                        out.setdefault(key, value)
    return out


def _raf_exif(path: Path, undecodable: list[str]) -> dict[str, Any]:
    with path.open("rb") as handle:
        head = handle.read(92)
        if len(head) < 92 or not head.startswith(_RAF_MAGIC):
            return {}
        offset, length = struct.unpack(">II", head[84:92])
        handle.seek(offset)
        jpeg = handle.read(length)
    return _process(io.BytesIO(jpeg), undecodable)


def read_exif(path: Path) -> dict[str, Any]:
    """EXIF tags of a file by their standard names (``Model``, ``ExposureTime`` in seconds,
    ``ISOSpeedRatings``, ``DateTimeOriginal``, ``FocalLength`` in mm, ``LensModel`` ...).

    Returns an empty mapping when the file has no EXIF ExifRead can find. Raises OSError only
    when the file cannot be read at all. A text tag that is not UTF-8 is read with U+FFFD in
    place of its bad bytes, with a :class:`HeaderTextWarning` naming the file and the tags.
    """
    undecodable: list[str] = []
    exif = _read(path, undecodable)
    if undecodable:
        warnings.warn(
            HeaderTextWarning(
                f"{path}: EXIF text tag(s) {', '.join(sorted(set(undecodable)))} are not UTF-8; "
                "the bytes that are not were read as U+FFFD"
            ),
            stacklevel=2,
        )
    return exif


def _read(path: Path, undecodable: list[str]) -> dict[str, Any]:
    suffix = path.name.lower().rsplit(".", 1)[-1]
    if suffix == "cr3":
        return _cr3_exif(path, undecodable)
    if suffix == "raf":
        return _raf_exif(path, undecodable)
    with path.open("rb") as handle:
        try:
            return _process(handle, undecodable)
        except (ValueError, KeyError, IndexError, TypeError, struct.error, ZeroDivisionError):
            # ExifRead gives up on corrupt IFDs with assorted errors; the file is then read as
            # having no EXIF, and its pixel decoder reports what is wrong with it.
            return {}
