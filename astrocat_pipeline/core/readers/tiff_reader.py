"""TIFF through tifffile: 8/16-bit integer and 32-bit float, mono and RGB, with its tags and
EXIF. The first page (the full-resolution image) is the picture."""

from __future__ import annotations

import lzma
import math
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import tifffile

from astrocat_pipeline.core.errors import ImageReadError, ImageTooLargeError
from astrocat_pipeline.core.readers.base import (
    ImageHeader,
    check_declared_size,
    check_file,
    kind_of,
    plain_value,
)
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

# Baseline TIFF tags worth keeping (the rest describe the byte layout).
_TAGS = ("ImageDescription", "Make", "Model", "Software", "DateTime", "Artist", "Copyright")


# Strip and tile compressions read here. tifffile's decoders return whatever the data decode
# to, so each strip is checked against the size it may hold before tifffile decodes any. The
# rest (JPEG, zstd, JPEG 2000 ...) are refused before any decoder runs: an allowlist, so that a
# decoder imagecodecs brings in is never used unbounded.
_ZLIB = (8, 32946, 50013)  # Adobe deflate, old-style deflate, Pixtiff deflate
_LZW = 5  # what Photoshop, PixInsight and GIMP write when asked for compression
_LZMA = 34925
_PACKBITS = 32773
_CHECKED_COMPRESSIONS = (1, *_ZLIB, _LZW, _LZMA, _PACKBITS)
# Output of one decompress call while a strip is checked: memory stays at this much.
_CHUNK = 1 << 20


class _CutShortError(Exception):
    """A compressed strip ends before its end-of-stream marker."""


def _inflated_size_within(
    decompressor: Callable[[], Any], data: bytes, allowed: int, *, several: bool = False
) -> bool:
    """Whether ``data`` decompress to at most ``allowed`` bytes, streamed through a new
    ``decompressor()`` so that at most one chunk is held at a time. ``several``: streams back
    to back are all read, as ``lzma.decompress`` reads them (``zlib.decompress`` reads one and
    ignores what follows)."""
    total = 0
    streams = 0
    while data:
        stream = decompressor()
        streams += 1
        pending = data
        while not stream.eof:
            try:
                out = stream.decompress(pending, min(_CHUNK, allowed - total + 1))
            except lzma.LZMAError:
                if streams == 1:
                    raise
                return True  # lzma.decompress ignores what follows its first streams
            total += len(out)
            if total > allowed:
                return False
            # zlib keeps the input it has not used in unconsumed_tail; lzma keeps it inside.
            pending = getattr(stream, "unconsumed_tail", b"")
            if not out and not pending and getattr(stream, "needs_input", True):
                # zlib.decompress and lzma.decompress refuse it too
                raise _CutShortError("the data end before the end of the stream")
        data = stream.unused_data if several else b""
    return True


def _packbits_within(data: bytes, allowed: int) -> bool:
    """Whether PackBits data decode to at most ``allowed`` bytes, counted without decoding (a
    header byte n < 128 copies the n + 1 bytes that follow, n > 128 repeats the next byte
    257 - n times, 128 does nothing). Two bytes can become 128, so a strip may hold 64 times
    its size; the count stops as soon as it passes ``allowed``."""
    size = 0
    i = 0
    end = len(data)
    while i < end:
        n = data[i]
        if n < 128:
            size += min(n + 1, end - i - 1)
            i += n + 2
        elif n > 128:
            size += 257 - n if i + 1 < end else 0
            i += 2
        else:
            i += 1
        if size > allowed:
            return False
    return True


def _lzw_within(data: bytes, allowed: int) -> bool:
    """Whether TIFF LZW data decode to at most ``allowed`` bytes. imagecodecs decodes into the
    buffer it is given and stops when it is full, so memory and time stay bounded by
    ``allowed``, though a 12-bit code may stand for 4,000 bytes (a strip can hold a thousand
    times its size)."""
    return len(imagecodecs.lzw_decode(data, out=bytearray(allowed + 1))) <= allowed


def _check_strips(path: Path, tif: tifffile.TiffFile, page: Any) -> None:
    """Every strip or tile of ``page`` decodes to no more than a strip or tile holds, checked
    before tifffile decodes any (its decoders have no output bound)."""
    compression = int(page.compression)
    if compression not in _CHECKED_COMPRESSIONS:
        try:
            name = tifffile.COMPRESSION(compression).name
        except ValueError:
            name = str(compression)
        raise ImageReadError(
            f"{path}: TIFF compression {name} is not read "
            "(uncompressed, deflate, LZW, LZMA and PackBits are)"
        )
    if compression == 1:
        return
    # A strip holds RowsPerStrip rows (a tile, TileLength x TileWidth pixels) of every sample
    # of a chunky image, or of one sample of a planar one; the last strip may hold fewer.
    allowed = math.prod(int(n) for n in page.chunks) * np.dtype(page.dtype).itemsize
    handle = tif.filehandle
    for number, (offset, count) in enumerate(
        zip(page.dataoffsets, page.databytecounts, strict=True), start=1
    ):
        if not count:
            continue
        handle.seek(int(offset))
        data = handle.read(int(count))
        try:
            if compression == _PACKBITS:
                within = _packbits_within(data, allowed)
            elif compression == _LZW:
                within = _lzw_within(data, allowed)
            elif compression == _LZMA:
                within = _inflated_size_within(lzma.LZMADecompressor, data, allowed, several=True)
            else:
                within = _inflated_size_within(zlib.decompressobj, data, allowed)
        except (zlib.error, lzma.LZMAError, imagecodecs.LzwError, _CutShortError) as exc:
            raise ImageReadError(
                f"{path}: TIFF {'tile' if page.is_tiled else 'strip'} {number} cannot be "
                f"decompressed ({exc})"
            ) from exc
        if not within:
            raise ImageTooLargeError(
                f"{path}: TIFF {'tile' if page.is_tiled else 'strip'} {number} decompresses "
                f"beyond the {allowed} bytes it may hold"
            )


def _is_rational(value: Any) -> bool:
    """tifffile gives EXIF RATIONAL values as (numerator, denominator) pairs."""
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)


def _keywords(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TAGS:
        tag = page.tags.get(name)
        if tag is not None and (value := plain_value(tag.value)) not in (None, ""):
            out[name] = value
    exif = page.tags.get("ExifTag")
    if exif is not None and isinstance(exif.value, dict):
        for name, value in exif.value.items():
            if _is_rational(value):
                value = value[0] / value[1] if value[1] else None
            value = plain_value(value)
            if value not in (None, "") and not name.startswith("MakerNote"):
                out.setdefault(name, value)
    return out


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    check_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            samples = int(page.samplesperpixel)
            dtype = np.dtype(page.dtype) if page.dtype is not None else None
            # tifffile allocates every sample of the page (alpha too) before decoding into it.
            item = dtype.itemsize if dtype is not None else 1
            check_declared_size(path, width, height, samples, item, max_bytes)
            photometric = int(page.photometric)
            keywords = _keywords(page)
    except ImageReadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, tifffile.TiffFileError) as exc:
        raise ImageReadError(f"{path}: not a readable TIFF file ({exc})") from exc
    if dtype is None:
        raise ImageReadError(f"{path}: TIFF sample format is not one numpy can hold")
    if photometric == tifffile.PHOTOMETRIC.PALETTE:
        raise ImageReadError(f"{path}: palette-colour TIFF is not an astronomical image")
    colour = photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=3 if colour and samples >= 3 else 1,
        bit_depth=dtype.itemsize * 8,
        sample_kind=kind_of(dtype),
        keywords=keywords,
        bottom_up=False,
    )


def load(path: Path, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The first page's pixels; read_header has checked its declared size against
    ``max_bytes``, and tifffile decodes into an array of that size."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            _check_strips(path, tif, page)
            array = np.asarray(page.asarray())
            separate = int(page.planarconfig) == tifffile.PLANARCONFIG.SEPARATE
    except ImageReadError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        tifffile.TiffFileError,
        zlib.error,
        lzma.LZMAError,
        imagecodecs.LzwError,
    ) as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    if array.ndim == 3 and separate:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3:
        # Extra samples (alpha) are dropped; grey + alpha keeps the grey.
        array = array[:, :, :3] if header.channels == 3 else array[:, :, 0]
    if array.ndim != 2 + (header.channels == 3):
        raise ImageReadError(f"{path}: TIFF pixel data has shape {array.shape}, not an image")
    return array
