"""FITS: plain, gzip-compressed and tile-compressed; the image in the primary HDU or an
extension; 2-D mono, 3-D colour cubes (3xHxW) and other cubes."""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import sys
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from astrocat_pipeline.core.errors import ImageReadError, ImageTooLargeError
from astrocat_pipeline.core.readers.base import (
    HeaderTextWarning,
    ImageHeader,
    byte_size,
    check_declared_size,
    check_file,
    plain_value,
    too_large,
)
from astrocat_pipeline.core.readers.fits_cards import parse_cards, split_header
from astrocat_pipeline.core.tuning import MAX_HEADER_BYTES, MAX_IMAGE_BYTES

if TYPE_CHECKING:
    from astropy.io import fits

# astropy is imported by the functions that use it: the fast path reads a plain header without
# it, which keeps `astrocat inspect` on a FITS file well under a second.

# Errors astropy raises for files that are not (complete) FITS.
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, AttributeError)


_GZIP_MAGIC = b"\x1f\x8b"
# Whole-file compressions astropy would also open, but without a bound (a zip file is even
# extracted to a temporary file); no capture or processing program writes them.
_UNREAD_COMPRESSIONS = {b"BZh": "bzip2", b"PK\x03\x04": "zip", b"\xfd7zXZ": "xz"}


class _StreamLimitError(Exception):
    """Raised from inside astropy's reads (deliberately not an OSError, which astropy takes
    for the end of a file); :func:`_open_fits` turns it into an ImageTooLargeError."""


class _BoundedGzipFile(gzip.GzipFile):
    """A gzip FITS whose decompressed stream stops at ``limit`` bytes, and whose headers stop
    at MAX_HEADER_BYTES. astropy reads a header block by block (2880 bytes at a time) into
    memory until its END card and seeks over data by decompressing it, so without a bound a
    few kB (a header that never ends, gigabytes of padding) inflate until memory or time runs
    out. Pixel data are read in one call of the size the header declares, which
    :func:`_layout` has checked."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(filename=str(path), mode="rb")
        self.limit = limit
        self.header_run = 0  # bytes read block by block since the last move: a header

    def _bounded(self, size: int | None) -> int:
        allowed = self.limit - super().seek(0, 1)
        return allowed + 1 if size is None or size < 0 else min(size, allowed + 1)

    def _checked(self, data: bytes) -> bytes:
        if super().seek(0, 1) > self.limit:
            raise _StreamLimitError(f"its gzip data inflate past {byte_size(self.limit)}")
        self.header_run = self.header_run + len(data) if len(data) <= _BLOCK else 0
        if self.header_run > MAX_HEADER_BYTES:
            raise _StreamLimitError(
                f"a header runs past {byte_size(MAX_HEADER_BYTES)} without its END card"
            )
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._checked(super().read(self._bounded(size)))

    def read1(self, size: int = -1) -> bytes:
        return self._checked(super().read1(self._bounded(size)))

    def seek(self, offset: int, whence: int = 0) -> int:
        # IOBase.tell() is seek(0, 1): the position comes from GzipFile's own seek.
        position = super().seek(0, 1)
        target = offset if whence == 0 else position + offset if whence == 1 else position
        if target > self.limit:
            raise _StreamLimitError(f"its gzip data inflate past {byte_size(self.limit)}")
        if target != position:
            self.header_run = 0
        return super().seek(offset, whence)


@contextmanager
def _open_fits(path: Path, max_bytes: int, **options: Any) -> Iterator[fits.HDUList]:
    """``fits.open`` with every decompression bounded: a gzip file's stream stops at
    ``max_bytes`` of pixel data plus MAX_HEADER_BYTES of headers."""
    from astropy.io import fits

    with path.open("rb") as handle:
        magic = handle.read(6)
    for signature, name in _UNREAD_COMPRESSIONS.items():
        if magic.startswith(signature):
            raise ImageReadError(
                f"{path}: the file is {name}-compressed; FITS files are read plain, "
                "gzip-compressed or tile-compressed"
            )
    stream = None
    if magic.startswith(_GZIP_MAGIC):
        _check_gzip_primary(path, max_bytes)
        stream = _BoundedGzipFile(path, max_bytes + MAX_HEADER_BYTES)
    try:
        with fits.open(path if stream is None else stream, **options) as hdul:
            yield hdul
    except _StreamLimitError as exc:
        raise too_large(path, str(exc), max_bytes) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ImageReadError(f"{path}: the gzip data cannot be read ({exc})") from exc
    finally:
        if stream is not None:
            stream.close()


def _check_gzip_primary(path: Path, max_bytes: int) -> None:
    """The declared size of a gzip file's primary image, checked before astropy reads it:
    astropy seeks past the primary's data as it opens the file, which in a gzip stream means
    inflating all of it."""
    with _BoundedGzipFile(path, MAX_HEADER_BYTES) as handle:
        try:
            parsed = _parse_primary(handle)
        except (_StreamLimitError, EOFError, OSError, zlib.error):
            return  # astropy reads it, and reports what is wrong, within the same bounds
    if parsed is None:
        return
    keywords = parsed[0]
    try:
        axes = [int(keywords[f"NAXIS{i}"]) for i in range(1, int(keywords["NAXIS"]) + 1)]
        int(keywords["BITPIX"])
    except (KeyError, TypeError, ValueError):
        return
    if len(axes) >= 2 and axes[0] > 0 and axes[1] > 0:
        _layout(keywords, path, max_bytes)


def _check_compressed(hdu: Any, path: Path, max_bytes: int) -> None:
    """A tile-compressed image: astropy loads its whole compressed table (with the heap) and
    decodes one tile at a time into a buffer of the tile's size; both are within the limit."""
    info = hdu.fileinfo()
    span = int(info["datSpan"]) if info else 0
    if span > max_bytes:
        raise too_large(path, f"its compressed image table declares {byte_size(span)}", max_bytes)
    # HCOMPRESS_1 decodes to 4-byte integers whatever the sample size.
    itemsize = max(4, abs(int(hdu.header["BITPIX"])) // 8)
    tile = math.prod(int(n) for n in hdu.tile_shape) * itemsize
    if tile > max_bytes:
        raise too_large(
            path,
            f"its compression tiles ({'x'.join(str(int(n)) for n in hdu.tile_shape[::-1])}) "
            f"declare {byte_size(tile)} each",
            max_bytes,
        )


# Tile compressions whose tiles astropy inflates with gzip.decompress, which has no output bound.
# RICE_1, PLIO_1 and HCOMPRESS_1 decode into a buffer of the tile's size allocated by astropy's
# C wrapper (docs/metadata.md), so only gzip tiles need the check below.
_GZIP_TILE_COMPRESSIONS = ("GZIP_1", "GZIP_2")
# Output of one inflate call while a gzip tile is checked: memory stays at this much.
_INFLATE_CHUNK = 1 << 20


def _gzip_inflates_within(data: bytes, allowed: int) -> bool:
    """Whether gzip data (one member or several, as ``gzip.decompress`` reads them) inflate to
    at most ``allowed`` bytes, streamed so that at most one chunk is held at a time."""
    total = 0
    while data:
        inflater = zlib.decompressobj(wbits=31)  # a gzip member, its CRC and length checked
        pending = data
        while not inflater.eof:
            out = inflater.decompress(pending, min(_INFLATE_CHUNK, allowed - total + 1))
            total += len(out)
            if total > allowed:
                return False
            pending = inflater.unconsumed_tail
            if not out and not pending:
                return True  # cut short: astropy reports it, having inflated no more than this
        data = inflater.unused_data.lstrip(b"\0")  # gzip.decompress skips zero padding too
    return True


def _check_gzip_tiles(path: Path, index: int, max_bytes: int) -> None:
    """Every gzip-compressed tile of the tile-compressed image in HDU ``index`` inflates to no
    more than its declared size, checked before astropy decodes any.

    astropy inflates a GZIP_1/GZIP_2 tile (and a float tile kept in GZIP_COMPRESSED_DATA) with
    ``gzip.decompress``, whatever size the tile declares: a few kB of gzip can become gigabytes.
    A tile holds ZTILE1 x ZTILE2 x ... pixels (fewer at the image's far edges); astropy,
    following cfitsio, accepts a gzip tile of 1, 2, 4 or 8 bytes per pixel whatever ZBITPIX
    says (4-byte tiles of 8- and 16-bit images included) and quantized floats are 4-byte
    integers, so a tile may inflate to max(4, |ZBITPIX| / 8) bytes per pixel. The table is
    read a second time with compression disabled (public astropy API) and its tiles are
    inflated here once more: the cost is in docs/metadata.md.
    """
    with _open_fits(path, max_bytes, memmap=False, disable_image_compression=True) as hdul:
        table = hdul[index]
        header = table.header
        names = set(table.columns.names)
        columns = [
            name
            for name in ("COMPRESSED_DATA", "GZIP_COMPRESSED_DATA")
            if name in names
            and (
                name == "GZIP_COMPRESSED_DATA"
                or str(header.get("ZCMPTYPE", "")).strip() in _GZIP_TILE_COMPRESSIONS
            )
        ]
        if not columns:
            return
        ndim = int(header["ZNAXIS"])
        axes = [int(header[f"ZNAXIS{i}"]) for i in range(1, ndim + 1)]
        # The FITS default tiling is one row per tile.
        tiles = [int(header.get(f"ZTILE{i}", axes[0] if i == 1 else 1)) for i in range(1, ndim + 1)]
        if min(tiles) < 1:
            raise ImageReadError(f"{path}: the compressed image declares empty tiles {tiles}")
        counts = [-(-n // t) for n, t in zip(axes, tiles, strict=True)]
        per_pixel = max(4, abs(int(header["ZBITPIX"])) // 8)
        for name in columns:
            for row, data in enumerate(table.data.field(name)):
                pixels = 1
                rest = row
                for n, t, count in zip(axes, tiles, counts, strict=True):
                    position, rest = rest % count, rest // count
                    pixels *= min(t, n - position * t)
                allowed = max(pixels, 0) * per_pixel
                try:
                    within = _gzip_inflates_within(np.asarray(data).tobytes(), allowed)
                except zlib.error as exc:
                    raise ImageReadError(
                        f"{path}: tile {row + 1} of the compressed image cannot be inflated ({exc})"
                    ) from exc
                if not within:
                    raise ImageTooLargeError(
                        f"{path}: tile {row + 1} of the compressed image inflates beyond "
                        f"{allowed} bytes, the most its {pixels} pixels may hold"
                    )


def _tile_decoder_errors() -> tuple[type[Exception], ...]:
    """The error astropy's C tile decoders (RICE_1, PLIO_1, HCOMPRESS_1) raise on a corrupt
    tile: a plain Exception, named only in a private module of astropy (8.0), so looked up
    here and left out if a later astropy moves it (the tile-compression test then fails)."""
    try:
        from astropy.io.fits.hdu.compressed._compression import CfitsioException
    except ImportError:
        return ()
    return (CfitsioException,)


def _fits_fixed_warnings() -> tuple[type[Warning], ...]:
    """astropy.wcs's FITSFixedWarning, if astropy.wcs is loaded: only it raises that warning,
    and importing it just to filter it would bring astropy's coordinates along (~0.4 s of
    start-up for a command that only reads pixels)."""
    wcs = sys.modules.get("astropy.wcs")
    return (wcs.FITSFixedWarning,) if wcs is not None else ()


@contextmanager
def quiet_astropy() -> Iterator[None]:
    """Silence astropy's warnings about non-standard cards: real-world headers are full of
    them, astropy fixes them, and the warnings would only be noise in logs."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        for category in _fits_fixed_warnings():
            warnings.simplefilter("ignore", category)
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        yield


def header_keywords(header: fits.Header) -> dict[str, Any]:
    """FITS cards as a JSON-friendly dict; COMMENT/HISTORY joined, undefined values None.

    Each value is the one ``header[keyword]`` returns: the first card of a repeated keyword
    wins, and a record-valued keyword card (``FILTER = 'Position: 3'``, which astropy files
    under ``FILTER.Position``) keeps its keyword and its text, as ``header['FILTER']`` gives
    them. A value astropy cannot parse (``CCD-TEMP= NaN``) is None: astropy raises on it, and
    one odd card must not cost the file its other keywords.
    """
    from astropy.io import fits

    out: dict[str, Any] = {}
    seen: set[str] = set()
    records: dict[str, str] = {}
    for card in header.cards:
        key = card.keyword
        if not key:
            continue
        if key in ("COMMENT", "HISTORY"):
            out[key] = (out[key] + "\n" if key in out else "") + str(card.value)
            continue
        if card.field_specifier:
            records.setdefault(card.rawkeyword, card.rawvalue)
            continue
        try:
            value = card.value
        except fits.VerifyError:
            value = None
        # HIERARCH names differing only in case are one keyword to astropy's lookup.
        lookup = fits.Card.normalize_keyword(key)
        if lookup not in seen:
            seen.add(lookup)
            out[key] = None if isinstance(value, fits.card.Undefined) else plain_value(value)
    # header[keyword] gives a record-valued card's text only when no plain card has the keyword.
    for key, text in records.items():
        if key not in seen:
            seen.add(key)
            out[key] = text
    return out


def _axes(header: Mapping[str, Any]) -> list[int]:
    naxis = int(header.get("NAXIS", 0))
    return [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]


def _is_image(hdu: Any) -> bool:
    from astropy.io import fits

    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
        return False
    axes = _axes(hdu.header)
    return len(axes) >= 2 and axes[0] > 0 and axes[1] > 0


def _image_hdu(hdul: fits.HDUList, path: Path) -> int:
    """Index of the first HDU holding an image: the primary, or else the first extension.

    The primary is checked before any extension is touched, so a single-image gzip file is not
    decompressed past its header.
    """
    if _is_image(hdul[0]):
        return 0
    for index, hdu in enumerate(hdul):
        if index and _is_image(hdu):
            return index
    raise ImageReadError(f"{path}: FITS file has no image data (no HDU with 2 or more axes)")


def _loaded_itemsize(bitpix: int, bzero: Any, bscale: Any) -> int:
    """Bytes per sample of the array astropy (or the plain reader) returns: integers scaled by
    BSCALE, or by a BZERO other than the signed/unsigned conventions, become float32 (8- and
    16-bit) or float64 (32- and 64-bit)."""
    conventions = (0, -128) if bitpix == 8 else (0, 2 ** (bitpix - 1))
    if bitpix > 0 and (bscale != 1 or bzero not in conventions):
        return 4 if bitpix <= 16 else 8
    return abs(bitpix) // 8


def _layout(
    header: Mapping[str, Any], path: Path, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[int, int, int, int, str]:
    axes = _axes(header)
    width, height = axes[0], axes[1]
    extra = [n for n in axes[2:] if n != 1]
    if len(extra) > 1:
        raise ImageReadError(f"{path}: {len(axes)}-dimensional FITS data {axes} is not an image")
    planes = extra[0] if extra else 1
    # Three planes are a colour cube; any other cube is shown and solved by its first plane.
    channels = 3 if planes == 3 else 1
    bitpix = int(header["BITPIX"])
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise ImageReadError(f"{path}: BITPIX = {bitpix} is not a FITS sample format")
    bzero = header.get("BZERO", 0)
    bscale = header.get("BSCALE", 1)
    # Every plane of a cube is read, so every plane counts.
    check_declared_size(
        path, width, height, planes, _loaded_itemsize(bitpix, bzero, bscale), max_bytes
    )
    if bitpix < 0 or bscale != 1:
        kind = "float"
    elif bitpix == 8:
        kind = "uint" if bzero == 0 else "int"
    elif bzero == 2 ** (bitpix - 1):
        kind = "uint"  # the FITS convention for unsigned integers
    else:
        kind = "int"
    return width, height, channels, abs(bitpix), kind


def _check_not_truncated(
    hdul: fits.HDUList, index: int, header: fits.Header, path: Path, file_size: int
) -> None:
    """Compare the data the header declares with what the file holds (uncompressed files)."""
    from astropy.io import fits

    if isinstance(hdul[index], fits.CompImageHDU) or path.name.lower().endswith((".gz", ".fz")):
        return
    try:
        info = hdul.fileinfo(index)
    except fits.VerifyError:
        # fileinfo re-reads every card; one astropy cannot parse (a CONTINUE after a number)
        # leaves the size unchecked here, and loading the pixels reports a short file.
        return
    if not info:
        return
    declared = abs(int(header["BITPIX"])) // 8
    for n in _axes(header):
        declared *= n
    end = int(info["datLoc"]) + declared
    if end > file_size:
        raise ImageReadError(
            f"{path}: truncated FITS file: the header declares {declared} bytes of image data "
            f"but the file ends {end - file_size} bytes short"
        )


_BLOCK = 2880
_CARD = 80
# Headers longer than this are left to astropy (real headers hold a few hundred cards).
_FAST_MAX_BLOCKS = 64


# Bytes outside ASCII become '?', one for one, as astropy's header decoding replaces them.
_TO_ASCII = bytes(range(128)) + b"?" * 128
_NON_ASCII = bytes(range(128, 256))


def _fast_primary(path: Path) -> tuple[dict[str, Any], str, int] | None:
    """Keywords, header text and the count of non-ASCII bytes of a plain (uncompressed) FITS
    file's primary header, parsed directly (:mod:`~astrocat_pipeline.core.readers.fits_cards`):
    several times faster than astropy's card-by-card parse, which matters when a library of
    thousands of frames is indexed, and the same values. None when the file needs astropy
    (gzip, no SIMPLE = T, a header longer than usual, a card the fast parser cannot read with
    certainty).

    Non-ASCII bytes are replaced by '?', as astropy replaces them.
    """
    if path.name.lower().endswith((".gz", ".fz")):
        return None
    with path.open("rb") as handle:
        return _parse_primary(handle)


def _parse_primary(handle: io.BufferedIOBase) -> tuple[dict[str, Any], str, int] | None:
    """:func:`_fast_primary`'s parse, from an open (plain or decompressing) stream."""
    cards: list[str] = []
    texts: list[str] = []
    replaced = 0
    for _ in range(_FAST_MAX_BLOCKS):
        block = handle.read(_BLOCK)
        if len(block) < _BLOCK:
            return None
        text = block.translate(_TO_ASCII).decode("ascii")
        texts.append(text)
        split = split_header(text)
        if split is None:
            return None
        block_cards, found = split
        cards += block_cards
        if not block.isascii():
            used = block[: (len(block_cards) + found) * _CARD]
            replaced += len(used) - len(used.translate(None, _NON_ASCII))
        if found:
            break
    else:
        return None
    keywords = parse_cards(cards)
    if keywords is None or keywords.get("SIMPLE") is not True:
        return None
    return keywords, "".join(texts), replaced


def _read_fast(path: Path, fmt: str, file_size: int, max_bytes: int) -> ImageHeader | None:
    return _header_from_parsed(path, fmt, _fast_primary(path), file_size, max_bytes)


def header_from_bytes(
    path: Path, fmt: str, content: bytes | bytearray | memoryview, max_bytes: int = MAX_IMAGE_BYTES
) -> ImageHeader | None:
    """The header of a plain FITS file whose whole content is already in memory, as
    :func:`read_header` would read it from ``path``; None when the file needs astropy (the
    caller then reads it from the file)."""
    if path.name.lower().endswith((".gz", ".fz")):
        return None
    head = io.BytesIO(bytes(memoryview(content)[: _FAST_MAX_BLOCKS * _BLOCK]))
    return _header_from_parsed(path, fmt, _parse_primary(head), len(content), max_bytes)


def _header_from_parsed(
    path: Path,
    fmt: str,
    parsed: tuple[dict[str, Any], str, int] | None,
    file_size: int,
    max_bytes: int,
) -> ImageHeader | None:
    if parsed is None:
        return None
    keywords, text, replaced = parsed
    try:
        axes = [int(keywords[f"NAXIS{i}"]) for i in range(1, int(keywords["NAXIS"]) + 1)]
        bitpix = int(keywords["BITPIX"])
    except (KeyError, TypeError, ValueError):
        return None
    if len(axes) < 2 or axes[0] <= 0 or axes[1] <= 0:
        return None  # the image is in an extension
    # The header only becomes an astropy Header when it may describe a WCS.
    header = None
    if any(key.startswith("CTYPE") for key in keywords):
        from astropy.io import fits

        with quiet_astropy():
            header = fits.Header.fromstring(text)
    cards: dict[str, Any] = {f"NAXIS{i}": n for i, n in enumerate(axes, start=1)}
    cards["NAXIS"], cards["BITPIX"] = len(axes), bitpix
    for key in ("BZERO", "BSCALE"):
        if isinstance(keywords.get(key), int | float):
            cards[key] = keywords[key]
    width, height, channels, bit_depth, kind = _layout(cards, path, max_bytes)
    declared = abs(bitpix) // 8
    for n in axes:
        declared *= n
    if len(text) + declared > file_size:
        raise ImageReadError(
            f"{path}: truncated FITS file: the header declares {declared} bytes of image data "
            f"but the file ends {len(text) + declared - file_size} bytes short"
        )
    if replaced:
        _warn_non_ascii(path, f"{replaced} non-ASCII byte(s)")
    image = _image_header(fmt, keywords, header, 0, width, height, channels, bit_depth, kind)
    return dataclasses.replace(image, data_offset=len(text))


def _warn_non_ascii(path: Path, what: str) -> None:
    warnings.warn(
        HeaderTextWarning(f"{path}: the FITS header holds {what}; each was read as '?'"),
        stacklevel=4,
    )


@contextmanager
def _reading_with_astropy(path: Path) -> Iterator[None]:
    """Like :func:`quiet_astropy`, but astropy's note that it replaced non-ASCII header bytes
    becomes a :class:`HeaderTextWarning` naming the file, as on the fast path."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    quiet = (AstropyUserWarning, fits.verify.VerifyWarning, *_fits_fixed_warnings())
    non_ascii = False
    for warning in caught:
        # astropy 6-8 word it "non-ASCII characters are present in the FITS file header and
        # have been replaced by "?" characters"; the gzip case of the differential test fails
        # if that changes.
        if issubclass(warning.category, AstropyUserWarning) and "non-ASCII" in str(warning.message):
            non_ascii = True
        elif not issubclass(warning.category, quiet):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if non_ascii:
        _warn_non_ascii(path, "non-ASCII bytes")


def rows_bottom_up(keywords: dict[str, Any]) -> bool:
    """Whether a FITS image's row 0 is the bottom of the picture: FITS's convention, unless
    ROWORDER says TOP-DOWN (as some capture programs write)."""
    return str(keywords.get("ROWORDER") or "BOTTOM-UP").strip().upper() != "TOP-DOWN"


def _image_header(
    fmt: str,
    keywords: dict[str, Any],
    header: fits.Header | None,
    index: int,
    width: int,
    height: int,
    channels: int,
    bit_depth: int,
    kind: str,
) -> ImageHeader:
    bottom_up = rows_bottom_up(keywords)
    bayer = keywords.get("BAYERPAT")
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=channels,
        bit_depth=bit_depth,
        sample_kind=kind,
        keywords=keywords,
        fits_header=header,
        hdu_index=index,
        bottom_up=bottom_up,
        bayer_pattern=str(bayer).strip().upper() if bayer and channels == 1 else None,
    )


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    file_size = check_file(path)
    try:
        fast = _read_fast(path, fmt, file_size, max_bytes)
    except OSError as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{path}: cannot read file ({exc})") from exc
    if fast is not None:
        return fast
    from astropy.io import fits

    try:
        with (
            _reading_with_astropy(path),
            _open_fits(path, max_bytes, memmap=False, lazy_load_hdus=True) as hdul,
        ):
            index = _image_hdu(hdul, path)
            header = hdul[index].header.copy()
            keywords = header_keywords(header)
            if index > 0:
                # Extensions inherit the primary header's observation keywords
                # (OBJECT, DATE-OBS, EXPTIME ... often live only there).
                for key, value in header_keywords(hdul[0].header).items():
                    keywords.setdefault(key, value)
            width, height, channels, bit_depth, kind = _layout(header, path, max_bytes)
            if isinstance(hdul[index], fits.CompImageHDU):
                _check_compressed(hdul[index], path, max_bytes)
            _check_not_truncated(hdul, index, header, path, file_size)
    except ImageReadError:
        raise
    except _READ_ERRORS as exc:
        raise ImageReadError(f"{path}: not a readable FITS file ({exc})") from exc
    return _image_header(fmt, keywords, header, index, width, height, channels, bit_depth, kind)


def _unsigned_in_place(array: np.ndarray) -> np.ndarray:
    """Signed big-endian FITS integers with BZERO = 2**(n-1) as native unsigned integers,
    converted in place (flip the sign bit, then swap to the machine's byte order)."""
    size = array.dtype.itemsize
    if array.dtype.byteorder != ">":
        return (array.astype(np.int64) + (1 << (8 * size - 1))).astype(f"u{size}")
    unsigned = array.view(f">u{size}")
    unsigned ^= np.array(1 << (8 * size - 1), dtype=unsigned.dtype)
    if sys.byteorder == "little":
        unsigned = unsigned.byteswap(inplace=True).view(f"<u{size}")
    return unsigned


# FITS sample formats by BITPIX, big-endian as stored.
_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _read_plain(
    path: Path, header: ImageHeader, unsigned: bool, content: bytearray | None = None
) -> np.ndarray | None:
    """The pixels of a plain primary image read straight from the file (the header parser
    gave their offset), with the values astropy would give; None when astropy must read them
    (scaled integers: BSCALE != 1, or a BZERO other than the unsigned convention).

    With ``content`` (the whole file, already read), the pixels are a view of it, converted
    in place: no second read and no copy."""
    keywords = header.keywords
    bitpix = int(keywords["BITPIX"])
    if header.data_offset is None or bitpix not in _DTYPES or keywords.get("BSCALE", 1) != 1:
        return None
    if keywords.get("BZERO", 0) != 0 and not unsigned:
        return None
    shape = [int(keywords[f"NAXIS{i}"]) for i in range(int(keywords["NAXIS"]), 0, -1)]
    count = math.prod(shape)
    try:
        if content is None:
            array = np.fromfile(path, dtype=_DTYPES[bitpix], count=count, offset=header.data_offset)
        else:
            available = (len(content) - header.data_offset) // abs(bitpix // 8)
            array = np.frombuffer(
                content,
                dtype=_DTYPES[bitpix],
                count=min(count, max(0, available)),
                offset=header.data_offset,
            )
    except OSError as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    if array.size != count:
        raise ImageReadError(
            f"{path}: truncated FITS file: {count} samples declared, {array.size} present"
        )
    array = array.reshape(shape)
    return _unsigned_in_place(array) if unsigned else array


def _is_unsigned(header: ImageHeader) -> bool:
    return (
        header.sample_kind == "uint"
        and header.bit_depth in (16, 32)
        and header.keywords.get("BSCALE", 1) == 1
    )


def pixels_from_bytes(path: Path, header: ImageHeader, content: bytearray) -> np.ndarray | None:
    """The pixels of a plain primary image from the file's whole content already in memory
    (``header`` from :func:`header_from_bytes`), as :func:`load` would return them, sharing
    ``content``'s memory (which they modify: unsigned samples are converted in place); None
    when astropy must read them (scaled integers)."""
    plain = _read_plain(path, header, _is_unsigned(header), content)
    return None if plain is None else _as_image(plain)


def load(path: Path, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The pixels of the HDU read_header chose, whose declared size it checked against
    ``max_bytes``; a gzip file's stream is bounded by it again here."""
    unsigned = _is_unsigned(header)
    plain = _read_plain(path, header, unsigned)
    if plain is not None:
        return _as_image(plain)
    from astropy.io import fits

    decoding_errors: tuple[type[Exception], ...] = (*_READ_ERRORS, *_tile_decoder_errors())
    try:
        # Unsigned integers are stored offset by BZERO = 2**(n-1); flipping the sign bit in
        # place gives the same values as astropy's scaling without a second full-size copy.
        with (
            quiet_astropy(),
            _open_fits(path, max_bytes, memmap=False, do_not_scale_image_data=unsigned) as hdul,
        ):
            if isinstance(hdul[header.hdu_index], fits.CompImageHDU):
                _check_gzip_tiles(path, header.hdu_index, max_bytes)
            data = hdul[header.hdu_index].data
            if data is None:
                raise ImageReadError(f"{path}: FITS image HDU has no data")
            array = np.asarray(data)
            if unsigned and array.dtype.kind == "i":
                array = _unsigned_in_place(array)
    except ImageReadError:
        raise
    except decoding_errors as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    return _as_image(array)


def _as_image(array: np.ndarray) -> np.ndarray:
    # Drop degenerate axes (NAXIS3 = 1 ...); numpy order is (..., planes, H, W).
    array = array.reshape([n for n in array.shape[:-2] if n != 1] + list(array.shape[-2:]))
    if array.ndim == 3:
        # Colour cubes are (3, H, W); any other cube contributes its first plane.
        array = np.moveaxis(array, 0, -1) if array.shape[0] == 3 else array[0]
    return array
