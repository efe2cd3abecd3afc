"""Every supported format through the one way in (read_header / load_image), on synthetic files
written by the libraries capture and processing software use, and on the real samples."""

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import tifffile
from astropy.io import fits

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.loading import load_image, read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline_tests.image_files import (
    camera_exif,
    star_field,
    write_dng,
    write_fits,
    write_pillow,
    write_tiff,
    write_xisf,
)
from astrocat_pipeline_tests.samples import needs_samples, sample

SHAPE = (48, 64)  # (H, W)


def metadata(path: Path):
    return normalize_metadata(str(path), read_header(path))


# --- FITS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.fits", "a.fit", "a.fts", "a.fits.gz", "a.fit.gz"])
def test_fits_extensions_and_gzip(tmp_path, name):
    data = star_field(SHAPE).astype(np.uint16)
    path = write_fits(tmp_path / name, data, {"EXPTIME": 60.0, "IMAGETYP": "LIGHT"})
    array, _header = load_image(path)
    np.testing.assert_array_equal(array, data)
    md = metadata(path)
    assert (md.format, md.width, md.height, md.exposure_s, md.frame_type) == (
        "fits",
        64,
        48,
        60.0,
        "light",
    )


@pytest.mark.parametrize("name", ["tile.fits", "tile.fz", "tile.fits.fz"])
def test_tile_compressed_fits(tmp_path, name):
    data = star_field(SHAPE).astype(np.uint16)
    path = write_fits(tmp_path / name, data, {"OBJECT": "M 42"}, compressed=True)
    array, header = load_image(path)
    np.testing.assert_array_equal(array, data)
    assert header.hdu_index == 1
    assert metadata(path).object == "M 42"


@pytest.mark.parametrize(
    ("dtype", "bit_depth", "kind"),
    [
        (np.uint8, 8, "uint"),
        (np.int16, 16, "int"),
        (np.uint16, 16, "uint"),
        (np.int32, 32, "int"),
        (np.uint32, 32, "uint"),
        (np.float32, 32, "float"),
        (np.float64, 64, "float"),
    ],
)
def test_fits_sample_formats_keep_their_values(tmp_path, dtype, bit_depth, kind):
    data = (star_field(SHAPE) / 10).astype(dtype)
    path = write_fits(tmp_path / "f.fits", data)
    array, header = load_image(path)
    assert (header.bit_depth, header.sample_kind) == (bit_depth, kind)
    np.testing.assert_array_equal(array, data)


def test_fits_bscale_is_applied(tmp_path):
    path = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(np.full(SHAPE, 60.0))
    hdu.scale("int16", bscale=0.5, bzero=10.0)  # stored as 100
    hdu.writeto(path)
    assert fits.getheader(path)["BSCALE"] == 0.5
    array, header = load_image(path)
    assert header.sample_kind == "float"
    assert float(array[0, 0]) == pytest.approx(60.0)


def test_fits_colour_cube_and_other_cubes(tmp_path):
    rgb = np.stack([np.full(SHAPE, v, np.uint16) for v in (10, 20, 30)])
    array, header = load_image(write_fits(tmp_path / "rgb.fits", rgb))
    assert array.shape == (*SHAPE, 3)
    assert header.channels == 3
    assert list(array[0, 0]) == [10, 20, 30]
    cube = np.stack([np.full(SHAPE, v, np.float32) for v in range(5)])
    array, header = load_image(write_fits(tmp_path / "cube.fits", cube))
    assert array.shape == SHAPE
    assert header.channels == 1
    single = np.full((1, *SHAPE), 7, np.uint16)
    array, _ = load_image(write_fits(tmp_path / "single.fits", single))
    assert array.shape == SHAPE


def test_fits_image_in_an_extension_inherits_primary_keywords(tmp_path):
    path = write_fits(
        tmp_path / "ext.fits", np.ones(SHAPE, np.int16), {"OBJECT": "NGC 7000"}, extension=True
    )
    array, header = load_image(path)
    assert header.hdu_index == 1
    assert array.shape == SHAPE
    assert metadata(path).object == "NGC 7000"


def test_nan_and_inf_pixels_survive_loading(tmp_path):
    data = star_field(SHAPE).astype(np.float32)
    data[:, :5] = np.nan
    data[0, 10] = np.inf
    array, _ = load_image(write_fits(tmp_path / "master.fits", data))
    assert np.isnan(array[:, :5]).all()
    assert np.isinf(array[0, 10])


def test_osc_fits_reports_its_bayer_pattern(tmp_path):
    path = write_fits(tmp_path / "osc.fits", np.ones(SHAPE, np.uint16), {"BAYERPAT": "rggb"})
    assert read_header(path).bayer_pattern == "RGGB"
    assert metadata(path).bayer_pattern == "RGGB"


# --- XISF -----------------------------------------------------------------------------------

PIXINSIGHT_PROPERTIES = {
    "Instrument:Camera:Name": ("String", "ZWO ASI294MC Pro"),
    "Instrument:ExposureTime": ("Float32", 180.0),
    "Instrument:Filter:Name": ("String", "L-eXtreme"),
    "Instrument:Telescope:Name": ("String", "RedCat 51"),
    "Instrument:Telescope:FocalLength": ("Float32", 0.25),  # metres, as XISF specifies
    "Instrument:Sensor:XPixelSize": ("Float32", 4.63),
    "Instrument:Sensor:Temperature": ("Float32", -10.0),
    "Observation:Object:Name": ("String", "NGC 7000"),
    "Observation:Time:Start": ("String", "2024-08-01T23:10:00Z"),
    "Observation:Center:RA": ("Float64", 314.75),
    "Observation:Center:Dec": ("Float64", 44.53),
}


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.uint32, np.float32, np.float64], ids=lambda d: d.__name__
)
@pytest.mark.parametrize("codec", [None, "zlib", "lz4", "zstd"])
def test_xisf_mono_sample_formats_and_codecs(tmp_path, dtype, codec):
    data = (star_field(SHAPE) / (1e5 if np.dtype(dtype).kind == "f" else 10)).astype(dtype)
    path = write_xisf(tmp_path / "m.xisf", data, codec=codec)
    array, header = load_image(path)
    assert header.bit_depth == np.dtype(dtype).itemsize * 8
    np.testing.assert_array_equal(array, data)


def test_xisf_rgb_with_fits_keywords_and_properties(tmp_path):
    data = np.stack([np.full(SHAPE, v, np.uint16) for v in (100, 200, 300)], axis=-1)
    path = write_xisf(
        tmp_path / "rgb.xisf",
        data,
        fits_keywords={"IMAGETYP": "Light Frame", "GAIN": 120, "BAYERPAT": "RGGB"},
        properties=PIXINSIGHT_PROPERTIES,
        codec="zlib",
    )
    array, _header = load_image(path)
    assert array.shape == (*SHAPE, 3)
    assert list(array[5, 5]) == [100, 200, 300]
    md = metadata(path)
    assert md.channels == 3
    assert md.bayer_pattern is None
    assert md.camera == "ZWO ASI294MC Pro"
    assert md.exposure_s == 180.0
    assert md.filter == "L-eXtreme"
    assert md.telescope == "RedCat 51"
    assert md.focal_length_mm == pytest.approx(250.0)
    assert md.pixel_size_um == pytest.approx(4.63)
    assert md.ccd_temp_c == -10.0
    assert md.object == "NGC 7000"
    assert md.date_obs == datetime(2024, 8, 1, 23, 10, tzinfo=UTC)
    assert (md.ra_deg, md.dec_deg) == pytest.approx((314.75, 44.53))
    assert md.frame_type == "light"
    assert md.gain == 120
    assert not md.has_wcs


def test_xisf_with_a_wcs_in_its_fits_keywords(tmp_path):
    wcs = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": 10.68,
        "CRVAL2": 41.27,
        "CRPIX1": 32.5,
        "CRPIX2": 24.5,
        "CD1_1": -0.002,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": 0.002,
    }
    path = write_xisf(tmp_path / "solved.xisf", np.ones(SHAPE, np.uint16), fits_keywords=wcs)
    assert metadata(path).has_wcs


# --- TIFF, PNG, JPEG ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "colour", "planar"),
    [
        (np.uint8, False, False),
        (np.uint8, True, False),
        (np.uint16, False, False),
        (np.uint16, True, False),
        (np.uint16, True, True),
        (np.float32, False, False),
        (np.float32, True, False),
    ],
)
def test_tiff_sample_formats(tmp_path, dtype, colour, planar):
    mono = (star_field(SHAPE) / (1e5 if np.dtype(dtype).kind == "f" else 100)).astype(dtype)
    data = np.stack([mono, mono, mono], axis=-1) if colour else mono
    path = write_tiff(tmp_path / "t.tif", data, planar=planar)
    array, _header = load_image(path)
    np.testing.assert_array_equal(array, data)
    md = metadata(path)
    assert md.channels == (3 if colour else 1)
    assert md.bit_depth == np.dtype(dtype).itemsize * 8
    # 8-bit TIFFs are finished pictures; deeper ones may be linear stacks.
    assert md.frame_type == ("processed" if dtype == np.uint8 else "unknown")


def test_jpeg_with_camera_exif(tmp_path):
    data = np.clip(star_field(SHAPE) / 100, 0, 255).astype(np.uint8)
    rgb = np.stack([data] * 3, axis=-1)
    path = write_pillow(tmp_path / "IMG_0001.JPG", rgb, camera_exif())
    array, _header = load_image(path)
    assert array.shape == (*SHAPE, 3)
    assert array.dtype == np.uint8
    md = metadata(path)
    assert md.camera == "Canon EOS 6D"
    assert md.exposure_s == 30.0
    assert md.iso == 1600
    assert md.focal_length_mm == 135.0
    assert md.telescope == "EF135mm f/2L USM"
    assert md.date_obs == datetime(2024, 10, 5, 21, 14, 3, tzinfo=UTC)
    assert md.frame_type == "processed"


def test_png_mono_8_and_16_bit(tmp_path):
    eight = write_pillow(tmp_path / "a.png", np.full(SHAPE, 40, np.uint8))
    sixteen = write_pillow(tmp_path / "b.png", np.full(SHAPE, 40000, np.uint16))
    array, header = load_image(sixteen)
    assert (header.bit_depth, array.dtype, int(array[0, 0])) == (16, np.uint16, 40000)
    assert metadata(eight).frame_type == "processed"
    assert metadata(sixteen).frame_type == "unknown"


def test_a_png_named_jpg_is_an_error(tmp_path):
    path = write_pillow(tmp_path / "a.png", np.zeros(SHAPE, np.uint8))
    wrong = tmp_path / "wrong.jpg"
    wrong.write_bytes(path.read_bytes())
    with pytest.raises(ImageReadError, match="holds PNG data, not JPEG"):
        read_header(wrong)


# --- Camera raw -----------------------------------------------------------------------------


def test_synthetic_dng_decodes_to_linear_colour_with_exif(tmp_path):
    cfa = np.full((80, 120), 2000, np.uint16)
    path = write_dng(tmp_path / "IMG_0001.dng", cfa)
    header = read_header(path)
    assert (header.width, header.height, header.channels, header.bit_depth) == (120, 80, 3, 14)
    md = metadata(path)
    assert md.camera == "Canon EOS Ra"
    assert md.exposure_s == 120.0
    assert md.iso == 800
    assert md.focal_length_mm == 400.0
    assert md.bayer_pattern == "RGGB"
    assert md.date_obs == datetime(2024, 10, 5, 21, 14, 3, tzinfo=UTC)
    full, _ = load_image(path)
    draft, _ = load_image(path, draft=True)
    assert full.shape == (80, 120, 3)
    assert draft.shape == (40, 60, 3)
    # Linear: 2000 of 16383 scales to about 2000/16383 of 65535 (identity colour matrix).
    assert np.median(draft) == pytest.approx(2000 / 16383 * 65535, rel=0.05)


# --- Samples --------------------------------------------------------------------------------

SAMPLE_CAMERAS = [
    ("raw/stubs/CanonRaw.cr2", "Canon EOS 350D DIGITAL", 1 / 15, 400, 55.0, "2005-08-03T18:59:18"),
    ("raw/stubs/CanonRaw.cr3", "Canon EOS M50", 1 / 80, 12800, 15.0, "2018-02-21T12:08:56.21"),
    ("raw/stubs/Nikon.nef", "NIKON D70", 1 / 20, 200, 18.0, "2004-06-09T16:02:35"),
    ("raw/stubs/FujiFilm.raf", "Fujifilm FinePix S5Pro", 1 / 250, 100, 70.0, "2007-05-22T13:58:30"),
    (
        "raw/stubs/fixture-sony-zv-e10.arw",
        "Sony ZV-E10",
        1 / 160,
        100,
        29.0,
        "2021-07-24T21:23:06.583",
    ),  # 14:23:06 at -07:00
    ("raw/stubs/Panasonic.rw2", "Panasonic DMC-LX3", 1 / 250, None, 5.1, "2008-08-06T15:21:56"),
]


@needs_samples
@pytest.mark.parametrize(
    ("relative", "camera", "exposure_s", "iso", "focal_mm", "date"), SAMPLE_CAMERAS
)
def test_real_camera_raw_exif(relative, camera, exposure_s, iso, focal_mm, date):
    md = metadata(sample(relative))
    assert md.format == "raw"
    assert md.camera == camera
    assert md.exposure_s == pytest.approx(exposure_s)
    assert md.iso == iso
    assert md.focal_length_mm == pytest.approx(focal_mm)
    assert md.date_obs == datetime.fromisoformat(date).replace(tzinfo=UTC)


@needs_samples
def test_real_raw_whose_pixels_cannot_be_decoded_says_why():
    path = sample("raw/stubs/Nikon.nef")
    assert metadata(path).camera == "NIKON D70"
    with pytest.raises(ImageReadError, match=r"Nikon\.nef: LibRaw cannot decode"):
        load_image(path)


@needs_samples
def test_real_dng_decodes():
    array, header = load_image(sample("raw/Blackmagic.dng"), draft=True)
    assert (header.width, header.height) == (4128, 2176)
    assert array.shape == (1088, 2064, 3)
    assert array.dtype == np.uint16
    assert metadata(sample("raw/Blackmagic.dng")).bayer_pattern == "RGGB"


@needs_samples
def test_real_xisf_attached_and_embedded_blocks():
    derived = sample("xisf/M13_blue_0001_derived.xisf")
    array, _ = load_image(derived)
    original, _ = load_image(sample("fits/M13_blue_0001.fits"))
    np.testing.assert_array_equal(array, original)
    md = metadata(derived)
    assert (md.camera, md.exposure_s, md.frame_type) == ("Orion SSDSI", 5.0, "light")
    # PixInsight's own file keeps its (blank) image inside the XML header.
    embedded, header = load_image(sample("xisf/XISF.xisf"))
    assert embedded.shape == (256, 256)
    assert header.bit_depth == 8


@needs_samples
@pytest.mark.parametrize(
    ("relative", "dtype"),
    [("tiff/M13_blue_0001_uint16.tif", np.uint16), ("tiff/HorseHead_float32.tif", np.float32)],
)
def test_real_tiffs(relative, dtype):
    array, header = load_image(sample(relative))
    assert array.dtype == dtype
    assert array.ndim == 2
    assert (header.width, header.height) == (array.shape[1], array.shape[0])


@needs_samples
@pytest.mark.parametrize("predictor", [False, True])
def test_real_frame_saved_as_lzw_tiff_reads_the_same(tmp_path, predictor):
    # What Photoshop, PixInsight and GIMP write when asked for compression.
    original, _ = load_image(sample("tiff/M13_blue_0001_uint16.tif"))
    path = tmp_path / "M13_lzw.tif"
    tifffile.imwrite(path, original, compression="lzw", predictor=predictor, rowsperstrip=64)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.compression == tifffile.COMPRESSION.LZW
    array, header = load_image(path)
    np.testing.assert_array_equal(array, original)
    assert header.bit_depth == 16


@needs_samples
def test_real_gzip_fits_reads():
    array, _header = load_image(sample("synthetic/m31_3deg.fits.gz"))
    assert array.shape == (1000, 1500)


# --- Bad input ------------------------------------------------------------------------------

GOOD_WRITERS = {
    "fits": lambda p: write_fits(p, star_field(SHAPE).astype(np.uint16)),
    "xisf": lambda p: write_xisf(p, star_field(SHAPE).astype(np.uint16)),
    "tif": lambda p: write_tiff(p, star_field(SHAPE).astype(np.uint16)),
    "png": lambda p: write_pillow(p, np.zeros(SHAPE, np.uint8)),
    "jpg": lambda p: write_pillow(p, np.zeros(SHAPE, np.uint8)),
    "dng": lambda p: write_dng(p, np.full((80, 120), 100, np.uint16)),
}


@pytest.mark.parametrize("suffix", sorted(GOOD_WRITERS))
@pytest.mark.parametrize("damage", ["empty", "random", "truncated"])
def test_damaged_files_get_an_error_naming_the_file(tmp_path, suffix, damage):
    path = GOOD_WRITERS[suffix](tmp_path / f"frame 1, 'x' $(touch y) é.{suffix}")
    content = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(np.random.default_rng(3).bytes(len(content)))
    else:
        path.write_bytes(content[: len(content) * 2 // 3])
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message
    assert not (tmp_path / "y").exists()  # nothing went through a shell


def test_unreadable_permissions(tmp_path):
    """A file its reader may not open: an error naming the file. Root reads any file, so under
    root (CI runs as root) the read runs in a forked child that has become the unprivileged
    ``nobody`` (uid and gid 65534), in a folder that user may enter."""
    folder = Path(tempfile.mkdtemp(prefix="astrocat-locked-"))
    try:
        folder.chmod(0o755)
        path = GOOD_WRITERS["fits"](folder / "locked.fits")
        path.chmod(0)
        if os.geteuid() != 0:
            with pytest.raises(ImageReadError, match="cannot read file") as info:
                read_header(path)
            message = str(info.value)
        else:
            message = _read_header_as_nobody(path)
        assert message.startswith(f"{path}: cannot read file")
    finally:
        shutil.rmtree(folder)


def _read_header_as_nobody(path: Path) -> str:
    """The error message of ``read_header(path)`` in a child process running as ``nobody``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, try the read, report, and leave without cleanup
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                read_header(path)
                message = "read without an error"
            except ImageReadError as exc:
                message = str(exc)
            os.write(write_end, message.encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not become nobody"
    return message


@pytest.mark.parametrize("suffix", ["xisf", "tif", "png"])
def test_absurd_declared_sizes(tmp_path, suffix):
    if suffix == "xisf":
        path = write_xisf(tmp_path / "a.xisf", np.zeros((4, 4), np.uint16))
        content = path.read_bytes().replace(b'geometry="4:4:1"', b'geometry="900000:900000:1"')
    elif suffix == "tif":
        path = write_tiff(tmp_path / "a.tif", np.zeros((4, 4), np.uint16))
        content = path.read_bytes()
        # ImageWidth/ImageLength entries (tag 256/257, type LONG or SHORT) set to 2^31-1.
        import tifffile

        with tifffile.TiffFile(path) as tif:
            offsets = [tif.pages.first.tags[t].valueoffset for t in (256, 257)]
            kinds = [tif.pages.first.tags[t].dtype for t in (256, 257)]
        data = bytearray(content)
        for offset, kind in zip(offsets, kinds, strict=True):
            size = 2 if kind == 3 else 4
            data[offset : offset + size] = (0xFFFF if size == 2 else 0x7FFFFFFF).to_bytes(
                size, "little"
            )
        content = bytes(data)
    else:
        path = write_pillow(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
        import struct
        import zlib

        data = bytearray(path.read_bytes())
        data[16:24] = struct.pack(">II", 100_000, 100_000)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
        content = bytes(data)
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_header(path)
    assert str(path) in str(info.value)


def test_fast_header_parse_agrees_with_astropy(tmp_path):
    from astrocat_pipeline.core.readers.fits_reader import _fast_primary, header_keywords

    cards = {
        "OBJECT": "Barnard's Loop",
        "EXPTIME": 1.5e2,
        "GAIN": 100,
        "FLIPPED": False,
        "FILTER": "",
        "DATE-OBS": "2024-10-05T21:14:03.512",
        "HIERARCH ESO DET DIT": 2.5,
    }
    path = write_fits(tmp_path / "cards.fits", np.zeros((4, 4), np.uint16), cards)
    fast, _, _ = _fast_primary(path)
    expected = header_keywords(fits.getheader(path))
    for key in ("OBJECT", "EXPTIME", "GAIN", "FLIPPED", "DATE-OBS", "BITPIX", "NAXIS1"):
        assert fast[key] == expected[key], key
    assert fast["ESO DET DIT"] == 2.5
    assert fast["FILTER"] == ""


@pytest.mark.parametrize(
    ("dtype", "scale"),
    [
        (np.uint8, None),
        (np.int16, None),
        (np.uint16, None),
        (np.int32, None),
        (np.uint32, None),
        (np.int64, None),
        (np.float32, None),
        (np.float64, None),
        (np.int16, (2.0, 100.0)),  # BSCALE/BZERO scaled: astropy reads it
    ],
)
@pytest.mark.parametrize("planes", [None, 1, 3])
def test_plain_fits_pixels_read_without_astropy_equal_astropys(tmp_path, dtype, scale, planes):
    """The pixels of a plain primary image come straight from the file; they must be the values,
    the type and the shape astropy gives (after the project's layout of cubes)."""
    from astrocat_pipeline.core.readers import fits_reader

    rng = np.random.default_rng(7)
    shape = (21, 34) if planes is None else (planes, 21, 34)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        data = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    else:
        data = rng.normal(0, 1000, size=shape).astype(dtype)
    path = tmp_path / "frame.fits"
    hdu = fits.PrimaryHDU(data)
    if scale is not None:
        hdu.scale("int16", bscale=scale[0], bzero=scale[1])
    hdu.writeto(path)
    header = read_header(path)
    array, _ = load_image(path)
    expected = fits.getdata(path)
    if planes == 3:
        expected = np.moveaxis(expected, 0, -1)
    elif planes == 1:
        expected = expected[0]
    unsigned = header.sample_kind == "uint" and header.bit_depth in (16, 32)
    read_plain = fits_reader._read_plain(path, header, unsigned) is not None
    assert read_plain == (scale is None)  # scaled integers are left to astropy
    assert array.shape == expected.shape
    assert array.dtype.kind == expected.dtype.kind
    assert array.dtype.itemsize == expected.dtype.itemsize
    np.testing.assert_array_equal(array, expected)


def test_a_plain_fits_cut_short_is_a_clear_error(tmp_path):
    path = tmp_path / "short.fits"
    fits.PrimaryHDU(np.zeros((40, 50), dtype=np.uint16)).writeto(path)
    header = read_header(path)
    with path.open("r+b") as handle:  # the header is read; the data shrinks afterwards
        handle.truncate(header.data_offset + 100)
    with pytest.raises(ImageReadError, match=r"short\.fits"):
        load_image(path)
