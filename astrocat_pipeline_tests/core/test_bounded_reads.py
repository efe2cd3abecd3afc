"""Memory per file is bounded in bytes (issue 15): declared sizes are checked against the limit
before anything is allocated, and every decompression stops at the declared size. Each
adversarial file here is small and declares, or inflates to, far more than it may; each must
fail with a clear error, quickly, without the memory it asks for."""

from __future__ import annotations

import base64
import lzma
import resource
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
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


# --- Tile-compressed FITS: gzip tiles ----------------------------------------------------------


def rebuilt_fz(source: Path, path: Path, tiles: dict[int, bytes], column: str = "") -> Path:
    """``source``'s compressed table written again with the given tiles (row number -> the
    bytes of a tile) replaced; with ``column``, those bytes go to that column instead (and
    the tile's COMPRESSED_DATA is left empty, as cfitsio does for a tile it could not
    quantize)."""
    with fits.open(source, disable_image_compression=True) as hdul:
        table = hdul[1]
        data = [np.asarray(tile).tobytes() for tile in table.data.field("COMPRESSED_DATA")]
        extra = [b""] * len(data)
        for row, content in tiles.items():
            if column:
                data[row], extra[row] = b"", content
            else:
                data[row] = content
        columns = [("COMPRESSED_DATA", data)] + ([(column, extra)] if column else [])
        new = fits.BinTableHDU.from_columns(
            [
                fits.Column(
                    name=name,
                    format="PB()",
                    array=np.array([np.frombuffer(b, np.uint8) for b in rows], dtype=object),
                )
                for name, rows in columns
            ]
        )
        for card in table.header.cards:
            if card.keyword.startswith("Z"):
                new.header[card.keyword] = card.value
    fits.HDUList([fits.PrimaryHDU(), new]).writeto(path)
    return path


def compressed_fits(path: Path, data: np.ndarray, compression: str, tile_rows: int) -> Path:
    hdu = fits.CompImageHDU(data, compression_type=compression, tile_shape=(tile_rows, 64))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


GZIP_BOMB = gzip_repeated(b"", bytes(MIB), 256)  # 256 kB that inflate to 256 MiB


def test_honest_tile_compressed_fits_reads_as_astropy_reads_it(tmp_path):
    # 64 x 60 in tiles of 64 x 16 rows: the last tile holds 12 rows.
    data = np.arange(60 * 64, dtype=np.int16).reshape(60, 64)
    floats = (data / 7).astype(np.float32)
    cases = [
        (data, "GZIP_1"),
        (data, "GZIP_2"),
        (data, "RICE_1"),
        (floats, "GZIP_1"),  # quantized floats: tiles of 4-byte integers
        (data.astype(np.uint8), "GZIP_1"),
    ]
    for number, (pixels, compression) in enumerate(cases):
        path = compressed_fits(tmp_path / f"{number}.fits.fz", pixels, compression, 16)
        array, _ = load_image(path)
        with fits.open(path) as hdul:
            np.testing.assert_array_equal(array, hdul[1].data)
    # The same table written again by the test's own helper reads the same (the helper the
    # bombs below are made with changes nothing else).
    again = rebuilt_fz(tmp_path / "0.fits.fz", tmp_path / "again.fits.fz", {})
    np.testing.assert_array_equal(load_image(again)[0], data)


@pytest.mark.parametrize("compression", ["GZIP_1", "GZIP_2"])
def test_gzip_tile_inflating_beyond_its_declared_size_is_refused(tmp_path, compression):
    honest = compressed_fits(
        tmp_path / "honest.fits.fz", np.zeros((64, 64), np.int16), compression, 16
    )
    path = rebuilt_fz(honest, tmp_path / "bomb.fits.fz", {1: GZIP_BOMB})
    assert path.stat().st_size < 400_000
    assert read_header(path).width == 64  # the header is honest; the tile is not
    with bounded(), pytest.raises(ImageTooLargeError) as caught:
        load_image(path)
    # 16 rows of 64 pixels, up to 4 bytes each (cfitsio's old 4-byte integer tiles)
    assert str(caught.value) == (
        f"{path}: tile 2 of the compressed image inflates beyond 4096 bytes, the most its "
        "1024 pixels may hold"
    )


def test_gzip_tile_of_many_small_members_is_refused(tmp_path):
    # gzip.decompress reads every member of a tile: 300 members of 1 MiB of zeros each.
    member = gzip_repeated(b"", bytes(MIB), 1)
    honest = compressed_fits(tmp_path / "h.fits.fz", np.zeros((64, 64), np.int16), "GZIP_1", 16)
    path = rebuilt_fz(honest, tmp_path / "members.fits.fz", {3: member * 300})
    with bounded(), pytest.raises(ImageTooLargeError, match="tile 4 of the compressed image"):
        load_image(path)


def test_gzip_tile_in_the_unquantized_float_column_is_refused(tmp_path):
    # A float tile cfitsio could not quantize is kept gzip-compressed in GZIP_COMPRESSED_DATA.
    floats = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    honest = compressed_fits(tmp_path / "h.fits.fz", floats, "RICE_1", 16)
    path = rebuilt_fz(honest, tmp_path / "f.fits.fz", {0: GZIP_BOMB}, "GZIP_COMPRESSED_DATA")
    with bounded(), pytest.raises(ImageTooLargeError, match="tile 1 of the compressed image"):
        load_image(path)


def test_rice_and_hcompress_tiles_decode_into_a_buffer_of_the_tile_size(tmp_path):
    # Not checked by the reader: astropy's C decoders write into a buffer of the tile's size.
    # An HCOMPRESS stream declaring 8192 x 8192 pixels for a 64 x 16 tile is refused by
    # astropy before it decodes; 100 kB of RICE codes for the same tile decode no further.
    # If an astropy upgrade lost either bound, this test would see the allocation.
    data = (np.arange(64 * 64) % 1000).astype(np.int16).reshape(64, 64)
    hcompress = compressed_fits(tmp_path / "h.fits.fz", data, "HCOMPRESS_1", 16)
    with fits.open(hcompress, disable_image_compression=True) as hdul:
        tile = np.asarray(hdul[1].data.field("COMPRESSED_DATA")[0]).tobytes()
    assert tile[:2] == b"\xdd\x99"  # HCOMPRESS magic, then the tile's rows and columns
    assert struct.unpack(">ii", tile[2:10]) == (16, 64)
    lying = tile[:2] + struct.pack(">ii", 8192, 8192) + tile[10:]
    rice = compressed_fits(tmp_path / "r.fits.fz", data, "RICE_1", 16)
    for path in (
        rebuilt_fz(hcompress, tmp_path / "hcompress.fits.fz", {0: lying}),
        rebuilt_fz(rice, tmp_path / "rice.fits.fz", {0: b"\xff" * 100_000}),
    ):
        with bounded(), pytest.raises(ImageReadError, match="pixel data cannot be read"):
            load_image(path)


# --- TIFF: strips and tiles --------------------------------------------------------------------


def hand_made_tiff(
    path: Path, width: int, rows: int, compression: int, strips: list[bytes], height: int = 0
) -> Path:
    """A little-endian 16-bit grey TIFF of ``len(strips)`` strips of ``rows`` rows each (the
    image ``height`` rows high, by default all of them), holding the given (already
    compressed) strip bytes."""
    count = len(strips)
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height or rows * count),
        (258, 3, 1, 16),
        (259, 3, 1, compression),
        (262, 3, 1, 1),
        (273, 4, count, 0),  # strip offsets, filled in below
        (277, 3, 1, 1),
        (278, 4, 1, rows),
        (279, 4, count, 0),  # strip byte counts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    arrays_at = 8 + ifd_size
    data_at = arrays_at + 8 * count
    offsets = [data_at + sum(len(s) for s in strips[:i]) for i in range(count)]
    arrays = struct.pack(f"<{count}I", *offsets) + struct.pack(
        f"<{count}I", *[len(s) for s in strips]
    )
    values = {273: arrays_at, 279: arrays_at + 4 * count}
    if count == 1:
        values = {273: offsets[0], 279: len(strips[0])}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, n, value in entries:
        ifd += struct.pack("<HHII", tag, kind, n, values.get(tag, value))
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + bytes(4) + arrays + b"".join(strips))
    return path


def packbits(raw: bytes) -> bytes:
    """PackBits with literal runs only (valid, if not small)."""
    return b"".join(
        bytes([len(raw[i : i + 128]) - 1]) + raw[i : i + 128] for i in range(0, len(raw), 128)
    )


_TIFF_CODECS = {
    8: zlib.compress,
    5: imagecodecs.lzw_encode,
    34925: lzma.compress,
    32773: packbits,
    1: bytes,
}


def test_honest_compressed_tiff_reads_as_tifffile_reads_it(tmp_path):
    data = np.arange(64 * 60, dtype=np.uint16).reshape(60, 64)
    strips = [data[i : i + 16].tobytes() for i in range(0, 60, 16)]  # the last holds 12 rows
    for code, encode in _TIFF_CODECS.items():
        packed = [encode(s) for s in strips]
        path = hand_made_tiff(tmp_path / f"{code}.tif", 64, 16, code, packed, height=60)
        array, _ = load_image(path)
        np.testing.assert_array_equal(array, tifffile.imread(path))
        np.testing.assert_array_equal(array, data)
    colour = np.arange(3 * 50 * 70, dtype=np.uint16).reshape(50, 70, 3)
    for name, options in {
        "tiled": {"tile": (32, 32)},
        "planar": {"planarconfig": "separate", "rowsperstrip": 16},
        "predictor": {"predictor": True, "rowsperstrip": 16},
        "lzw": {"compression": "lzw", "predictor": True, "rowsperstrip": 16},
    }.items():
        pixels = np.moveaxis(colour, -1, 0) if name == "planar" else colour
        path = tmp_path / f"{name}.tif"
        options.setdefault("compression", "zlib")
        tifffile.imwrite(path, pixels, photometric="rgb", **options)
        np.testing.assert_array_equal(load_image(path)[0], colour)


@pytest.mark.parametrize(
    ("code", "bomb"),
    [
        (8, ZLIB_BOMB),
        # 256 xz streams of 1 MiB of zeros back to back (lzma.decompress reads them all)
        (34925, lzma.compress(bytes(MIB), preset=0) * 256),
        (32773, b"\x81\x00" * (2 * MIB)),  # 4 MiB that decode to 256 MiB
        (5, imagecodecs.lzw_encode(bytes(256 * MIB))),  # 200 KiB that decode to 256 MiB
    ],
    ids=["deflate", "lzma", "packbits", "lzw"],
)
def test_tiff_strip_decoding_beyond_its_declared_size_is_refused(tmp_path, code, bomb):
    rows = [bytes(64 * 16 * 2)] * 4
    strips = [_TIFF_CODECS[code](s) for s in rows]
    strips[1] = bomb
    path = hand_made_tiff(tmp_path / "bomb.tif", 64, 16, code, strips)
    assert read_header(path).width == 64
    with bounded(), pytest.raises(ImageTooLargeError) as caught:
        load_image(path)
    assert str(caught.value) == (
        f"{path}: TIFF strip 2 decompresses beyond the 2048 bytes it may hold"
    )


def test_tiff_strip_that_cannot_be_decompressed_is_a_read_error(tmp_path):
    strips = [zlib.compress(bytes(64 * 16 * 2))] * 2
    strips[1] = strips[1][:8] + b"\xff" * 32  # a broken deflate stream
    path = hand_made_tiff(tmp_path / "broken.tif", 64, 16, 8, strips)
    with pytest.raises(ImageReadError, match="TIFF strip 2 cannot be decompressed") as caught:
        load_image(path)
    assert not isinstance(caught.value, ImageTooLargeError)


def test_tiff_lzw_strip_that_cannot_be_decoded_is_a_read_error(tmp_path):
    strips = [imagecodecs.lzw_encode(bytes(64 * 16 * 2))] * 2
    strips[1] = b"\xff" * 40  # not a code stream
    path = hand_made_tiff(tmp_path / "broken.tif", 64, 16, 5, strips)
    with pytest.raises(ImageReadError, match="TIFF strip 2 cannot be decompressed") as caught:
        load_image(path)
    assert not isinstance(caught.value, ImageTooLargeError)


def test_tiff_compression_without_a_bounded_decoder_is_refused(tmp_path):
    path = hand_made_tiff(tmp_path / "jpeg.tif", 64, 16, 7, [b"\xff\xd8" * 32])
    with pytest.raises(ImageReadError, match="TIFF compression JPEG is not read"):
        load_image(path)


# --- Camera raw: LibRaw's raw buffer -----------------------------------------------------------


def dng_with_margins(path: Path, sensor: tuple[int, int], picture: int) -> Path:
    """An uncompressed RGGB DNG whose sensor (rows, columns) shows only its top-left
    ``picture`` x ``picture`` pixels (DNG ActiveArea): LibRaw unpacks the whole sensor."""
    identity = tuple(n for v in np.eye(3).ravel() for n in (int(v * 10000), 10000))
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "Test Camera", True),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50717, "H", 1, 16383, True),  # WhiteLevel
        (50721, "2i", 9, identity, True),  # ColorMatrix1
        (271, "s", 0, "Test", True),  # Make
        (50829, "I", 4, (0, 0, picture, picture), True),  # ActiveArea
    ]
    data = (np.arange(sensor[0] * sensor[1]) % 4000).astype(np.uint16).reshape(sensor)
    tifffile.imwrite(path, data, photometric=32803, extratags=tags, metadata=None)
    return path


def test_raw_sensor_larger_than_the_limit_is_refused_before_libraw_unpacks_it(tmp_path):
    # A 64 x 64 picture (24 kB decoded) on a 1024 x 512 sensor (1 MB of 16-bit samples).
    path = dng_with_margins(tmp_path / "margins.dng", (512, 1024), 64)
    array, header = load_image(path)
    assert array.shape == (64, 64, 3)
    assert (header.keywords["RAW:RawWidth"], header.keywords["RAW:RawHeight"]) == (1024, 512)
    for read in (read_header, load_image):
        with pytest.raises(ImageTooLargeError) as caught:
            read(path, max_bytes=1024 * 512 * 2 - 1)
        assert str(caught.value) == (
            f"{path}: its sensor data declare 1024x512x1 samples of 2 bytes (1.0 MB), over "
            "the limit of 1.0 MB of pixel data per file"
        )
    assert read_header(path, max_bytes=1024 * 512 * 2).width == 64
