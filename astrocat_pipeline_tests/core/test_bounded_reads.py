"""Memory per file is bounded in bytes (issue 15): declared sizes are checked against the limit
before anything is allocated, and every decompression stops at the declared size. Each
adversarial file here is small and declares, or inflates to, far more than it may; each must
fail with a clear error, quickly, without the memory it asks for."""

from __future__ import annotations

import base64
import resource
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zstandard
from astropy.io import fits

from astrocat_pipeline.core.errors import ImageReadError, ImageTooLargeError
from astrocat_pipeline.core.loading import load_image, read_header
from astrocat_pipeline.core.tuning import MAX_HEADER_BYTES, MAX_IMAGE_BYTES
from astrocat_pipeline_tests.image_files import write_xisf

MIB = 2**20
# Far below what any of the bombs inflates to (256 MiB and more) or declares (gigabytes).
MEMORY_BOUND = 48 * MIB


@contextmanager
def bounded(seconds: float = 10.0) -> Iterator[None]:
    """The block allocates at most MEMORY_BOUND (Python and numpy allocations, traced; the
    process's peak resident size, which catches C allocations too) and ends within
    ``seconds``."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert peak < MEMORY_BOUND, f"traced allocations peaked at {peak / MIB:.0f} MiB"
    assert rss_growth < 2 * MEMORY_BOUND, f"peak RSS grew by {rss_growth / MIB:.0f} MiB"
    assert elapsed < seconds, f"took {elapsed:.1f} s"


def deflate_repeated(chunk: bytes, times: int) -> bytes:
    """Raw deflate of ``chunk`` repeated ``times`` times, made without compressing it all: a
    full flush makes a byte-aligned segment that refers to nothing before it, so copies of it
    are a valid stream (ending with an empty final block)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = squeeze.compress(chunk) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return segment * times + b"\x03\x00"


def gzip_repeated(head: bytes, chunk: bytes, times: int) -> bytes:
    """A gzip member holding ``head`` then ``chunk`` repeated ``times`` times."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = squeeze.compress(head) + squeeze.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    size = (len(head) + len(chunk) * times) & 0xFFFFFFFF
    body = start + deflate_repeated(chunk, times)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size)


def zlib_repeated(chunk: bytes, times: int) -> bytes:
    adler = 1
    for _ in range(times):
        adler = zlib.adler32(chunk, adler)
    return b"\x78\xda" + deflate_repeated(chunk, times) + struct.pack(">I", adler)


def fits_header(cards: dict[str, object]) -> bytes:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header.tostring().encode("ascii")


# --- FITS -------------------------------------------------------------------------------------


def test_the_limit_holds_a_62_mpx_float_colour_frame():
    assert 9600 * 6400 * 3 * 4 < MAX_IMAGE_BYTES < 9600 * 6400 * 3 * 4 * 4


def test_gzip_fits_declaring_more_than_the_limit_is_refused_before_it_is_inflated(tmp_path):
    # 30000 x 30000 float64 is 7.2 GB (0.9 Gpx, under the old pixel cap); its data are 256 MiB
    # of zeros in 256 kB, which is as far as this test goes.
    head = fits_header({"SIMPLE": True, "BITPIX": -64, "NAXIS": 2, "NAXIS1": 30000,
                        "NAXIS2": 30000})  # fmt: skip
    path = tmp_path / "bomb.fits.gz"
    path.write_bytes(gzip_repeated(head, bytes(MIB), 256))
    assert path.stat().st_size < 400_000
    for read in (read_header, load_image):
        with bounded(), pytest.raises(ImageTooLargeError) as caught:
            read(path)
        message = str(caught.value)
        assert str(path) in message
        assert "30000x30000x1 samples of 8 byte(s) (7.2 GB)" in message
        assert "over the limit of 2.1 GB of pixel data per file" in message


def test_gzip_fits_whose_header_never_ends_stops_at_the_header_bound(tmp_path):
    # A primary header of blank cards with no END: astropy would read it all into memory.
    head = fits_header({"SIMPLE": True, "BITPIX": 16, "NAXIS": 2, "NAXIS1": 64, "NAXIS2": 64})
    head = head[: head.index(b"END     ")]
    path = tmp_path / "endless.fits.gz"
    path.write_bytes(gzip_repeated(head, b" " * MIB, 256))
    assert path.stat().st_size < 400_000
    with bounded(), pytest.raises(ImageTooLargeError, match=r"a header runs past 16\.8 MB"):
        read_header(path)
    assert MAX_HEADER_BYTES == 16 * MIB


def test_gzip_fits_stream_stops_at_the_limit_passed_in(tmp_path):
    # A declared image within the limit, then an extension header that never ends: the stream
    # is bounded by the caller's limit plus the header bound.
    data = np.arange(64 * 64, dtype=np.int16).reshape(64, 64)
    good = tmp_path / "good.fits"
    fits.PrimaryHDU(data).writeto(good)
    path = tmp_path / "good.fits.gz"
    path.write_bytes(gzip_repeated(good.read_bytes(), bytes(MIB), 64))
    array, _ = load_image(path, max_bytes=64 * 64 * 2)
    np.testing.assert_array_equal(array, data)
    with pytest.raises(ImageTooLargeError, match="64x64x1 samples of 2 byte"):
        read_header(path, max_bytes=64 * 64 * 2 - 1)


def _with_card(content: bytes, key: str, value: int) -> bytes:
    """``content`` with the integer card ``key`` set to ``value`` (the same width)."""
    start = content.index(key.ljust(8).encode() + b"= ")
    card = f"{key:<8}= {value:>20}".encode()
    return content[:start] + card + content[start + len(card) :]


def test_tile_compressed_fits_declaring_a_huge_image_is_refused(tmp_path):
    small = tmp_path / "small.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((64, 64), np.int16))]).writeto(
        small
    )
    content = small.read_bytes()
    for key in ("ZNAXIS1", "ZNAXIS2"):
        content = _with_card(content, key, 40000)
    path = tmp_path / "huge.fits.fz"
    path.write_bytes(content)
    with bounded(), pytest.raises(ImageTooLargeError) as caught:
        load_image(path)
    assert "40000x40000x1 samples of 2 byte(s) (3.2 GB)" in str(caught.value)


def test_plain_fits_scaled_integers_count_as_the_floats_they_become(tmp_path):
    data = np.zeros((64, 64), np.int16)
    path = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(data)
    hdu.header["BSCALE"] = 2.0
    hdu.writeto(path)
    assert read_header(path, max_bytes=64 * 64 * 4).width == 64
    with pytest.raises(ImageTooLargeError, match="samples of 4 byte"):
        read_header(path, max_bytes=64 * 64 * 4 - 1)


# --- XISF -------------------------------------------------------------------------------------

_XISF_NS = "http://www.pixinsight.com/xisf"


def xisf_file(path: Path, image: str, block: bytes = b"", extra: str = "") -> Path:
    """An XISF file with the given Image element and an attached block after the header
    (``{at}``, ``{size}`` and ``{after}`` stand for the block's position, its size and the
    position after it)."""

    def xml(at: int) -> bytes:
        text = (
            image.replace("{at}", f"{at:012d}")
            .replace("{size}", str(len(block)))
            .replace("{after}", f"{at + 8192:012d}")
        )
        extras = extra.replace("{after}", f"{at + 8192:012d}")
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><xisf version="1.0" xmlns="{_XISF_NS}">'
            f'{text}{extras}<Metadata><Property id="XISF:CreatorApplication" type="String">'
            "astrocat tests</Property></Metadata></xisf>"
        ).encode()

    at = (16 + len(xml(0)) + 4095) // 4096 * 4096
    header = b"XISF0100" + struct.pack("<I", at - 16) + bytes(4) + xml(at)
    path.write_bytes(header.ljust(at, b"\0") + block)
    return path


ZLIB_BOMB = zlib_repeated(bytes(MIB), 256)  # 256 kB that inflate to 256 MiB


def test_the_hand_made_xisf_reads_when_honest(tmp_path):
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    packed = zlib.compress(data.tobytes())
    attached = xisf_file(
        tmp_path / "attached.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" '
        'location="attachment:{at}:{size}" compression="zlib:8192"/>',
        packed,
    )
    embedded = xisf_file(
        tmp_path / "embedded.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" location="embedded">'
        f'<Data encoding="base64" compression="zlib:8192">{base64.b64encode(packed).decode()}'
        "</Data></Image>",
    )
    for path in (attached, embedded):
        array, _ = load_image(path)
        np.testing.assert_array_equal(array, data)


def test_xisf_zlib_block_inflating_beyond_its_declared_size_is_refused(tmp_path):
    path = xisf_file(
        tmp_path / "bomb.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" '
        'location="attachment:{at}:{size}" compression="zlib:8192"/>',
        ZLIB_BOMB,
    )
    assert read_header(path).width == 64
    with bounded(), pytest.raises(ImageReadError) as caught:
        load_image(path)
    assert str(caught.value) == (
        f"{path}: the image data block inflates beyond the 8192 bytes it declares"
    )


def test_xisf_embedded_block_inflating_beyond_its_declared_size_is_refused(tmp_path):
    text = base64.b64encode(ZLIB_BOMB).decode()
    path = xisf_file(
        tmp_path / "embedded-bomb.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" location="embedded">'
        f'<Data encoding="base64" compression="zlib:8192">{text}</Data></Image>',
    )
    with bounded(), pytest.raises(ImageReadError, match="inflates beyond the 8192 bytes"):
        load_image(path)


def test_xisf_declaring_a_huge_geometry_is_refused(tmp_path):
    path = xisf_file(
        tmp_path / "huge.xisf",
        '<Image geometry="60000:60000:3" sampleFormat="Float32" colorSpace="RGB" '
        'location="attachment:{at}:{size}" compression="lz4:43200000000"/>',
        b"\0" * 64,
    )
    with bounded(), pytest.raises(ImageTooLargeError) as caught:
        read_header(path)
    assert "60000x60000x3 samples of 4 byte(s) (43.2 GB)" in str(caught.value)


def test_xisf_block_declaring_more_than_its_geometry_is_refused(tmp_path):
    # lz4 is handed the declared size as its output buffer: 100 GB would be allocated.
    path = xisf_file(
        tmp_path / "liar.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" '
        'location="attachment:{at}:{size}" compression="lz4:100000000000"/>',
        b"\0" * 64,
    )
    with bounded(), pytest.raises(ImageReadError, match="declares 100000000000 bytes"):
        read_header(path)


def test_xisf_zstd_frame_larger_than_its_block_is_refused(tmp_path):
    frame = zstandard.ZstdCompressor().compress(bytes(64 * MIB))  # carries its content size
    path = xisf_file(
        tmp_path / "zstd.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" '
        'location="attachment:{at}:{size}" compression="zstd:8192"/>',
        frame,
    )
    with bounded(), pytest.raises(ImageReadError, match="holds a frame of 67108864 bytes"):
        load_image(path)


def test_xisf_property_block_bomb_is_refused_before_the_xisf_package_opens_it(tmp_path):
    path = xisf_file(
        tmp_path / "property.xisf",
        '<Image geometry="64:64:1" sampleFormat="UInt16" colorSpace="Gray" '
        'location="attachment:{at}:8192"/>',
        bytes(8192) + ZLIB_BOMB,
        extra=(
            '<Property id="Test:Vector" type="UI8Vector" length="8192" '
            f'location="attachment:{{after}}:{len(ZLIB_BOMB)}" compression="zlib:8192"/>'
        ),
    )
    with bounded(), pytest.raises(ImageReadError, match="a property's data block inflates"):
        read_header(path)


def test_xisf_codecs_still_read_within_their_declared_size(tmp_path):
    data = (np.arange(96 * 64 * 3, dtype=np.float32) / 7).reshape(64, 96, 3)
    for codec in ("zlib", "lz4", "lz4hc", "zstd"):
        path = write_xisf(tmp_path / f"{codec}.xisf", data, codec=codec)
        array, _ = load_image(path, max_bytes=data.nbytes)
        np.testing.assert_array_equal(array, data)
        with pytest.raises(ImageTooLargeError):
            read_header(path, max_bytes=data.nbytes - 1)
