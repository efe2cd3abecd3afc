"""Celestial WCS from a FITS header, the geometry of a frame on the sky, and WCS <-> text.

Pure functions: no Dagster, no environment, no subprocess.

Pixel convention: every pixel coordinate here is 0-based numpy (x = column, y = row), the
convention of astropy's ``pixel_to_world_values``; FITS's 1-based CRPIX is astropy's business.
Sky positions are returned in ICRS degrees, whatever frame the header's WCS uses.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import numpy as np
from astropy import units as u
from astropy.coordinates import FK5, ICRS, SkyCoord, angular_separation
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from astropy.wcs.utils import wcs_to_celestial_frame

from astrocat_pipeline.core.records import FieldGeometry

__all__ = [
    "celestial_wcs",
    "field_geometry",
    "wcs_from_header_text",
    "wcs_to_header_text",
]

# What a broken or hostile header can make astropy raise while building or evaluating a WCS.
# astropy.wcs's own errors (WcsError and its subclasses: singular matrix, invalid projection,
# inconsistent axis types, ...) all derive from ValueError.
_BAD_HEADER_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


@contextlib.contextmanager
def _quiet_astropy() -> Iterator[None]:
    """Silence astropy's warnings about headers it repairs (FITSFixedWarning, VerifyWarning).

    Real-world headers trigger them all the time (old DATE-OBS formats, RADECSYS, missing
    EQUINOX); they are not actionable by the user and pytest turns them into errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        yield


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _has_sky_keywords(header: fits.Header, lng_axis: int, lat_axis: int) -> bool:
    """True if the header itself sets both CRVALs and a non-singular scale (CD or CDELT).

    Checked on the keywords, not on astropy's WCS: astropy fills in what is missing (CRVAL 0,
    CDELT 1) and "fixes" an all-zero CD matrix into the identity, which would turn a pointing-only
    or broken header into a plausible-looking WCS. ``lng_axis``/``lat_axis`` are 1-based.
    """
    axes = (lng_axis, lat_axis)
    if not all(_is_number(header.get(f"CRVAL{i}")) for i in axes):
        return False
    cd_keys = [f"CD{i}_{j}" for i in axes for j in axes]
    if any(key in header for key in cd_keys):
        values = [header.get(key, 0.0) for key in cd_keys]
        if not all(_is_number(v) for v in values):
            return False
        return float(np.linalg.det(np.array(values, dtype=float).reshape(2, 2))) != 0.0
    cdelts = [header.get(f"CDELT{i}") for i in axes]
    return all(_is_number(v) and v != 0 for v in cdelts)


def celestial_wcs(header: fits.Header) -> WCS | None:
    """The celestial WCS described by a FITS header, or None if it has no usable one.

    A usable WCS has celestial CTYPEs (``RA---TAN``, ``DEC--TAN``, ``-TAN-SIP``, any other
    projection, or other celestial frames such as ``GLON``/``GLAT``), both CRVALs and a scale
    (a CD matrix, PC with CDELT, or CDELT alone). Pointing keywords alone (``RA``/``DEC``,
    ``OBJCTRA``/``OBJCTDEC``) are not a WCS.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Any image header; extra axes (a spectral or Stokes axis) are dropped.

    Returns
    -------
    astropy.wcs.WCS or None
        A two-axis celestial WCS (SIP and other distortions kept), or None when the header has
        no WCS, only a pointing, or a broken one. Never raises for a bad header and emits no
        warnings.
    """
    with _quiet_astropy():
        try:
            full = WCS(header)
            if not full.has_celestial:
                return None
            lng_axis, lat_axis = full.wcs.lng + 1, full.wcs.lat + 1  # FITS axis numbers
            if not _has_sky_keywords(header, lng_axis, lat_axis):
                return None
            wcs = full.celestial
            if not _is_usable(wcs):
                return None
        except _BAD_HEADER_ERRORS:
            return None
    return wcs


def _is_usable(wcs: WCS) -> bool:
    """A WCS whose reference pixel maps to a finite sky position through a non-singular matrix."""
    matrix = np.asarray(wcs.pixel_scale_matrix, dtype=float)
    if not np.all(np.isfinite(matrix)) or abs(float(np.linalg.det(matrix))) == 0.0:
        return False
    crval = np.asarray(wcs.wcs.crval, dtype=float)
    if not np.all(np.isfinite(crval)) or abs(crval[wcs.wcs.lat]) > 90.0:
        return False
    crpix0 = np.asarray(wcs.wcs.crpix, dtype=float) - 1.0
    world = wcs.pixel_to_world_values(crpix0[0], crpix0[1])
    if not all(np.isfinite(np.asarray(world, dtype=float))):
        return False
    # Raises ValueError for frames astropy does not know; we could not convert them to ICRS.
    wcs_to_celestial_frame(wcs)
    return True


def _pixels_to_icrs(wcs: WCS, x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS (ra, dec) in degrees of 0-based pixel positions, through the full WCS (incl. SIP)."""
    world = wcs.pixel_to_world_values(x_px, y_px)
    lon = np.asarray(world[wcs.wcs.lng], dtype=float)
    lat = np.asarray(world[wcs.wcs.lat], dtype=float)
    frame = wcs_to_celestial_frame(wcs)
    # FK5 J2000 differs from ICRS by the frame bias (< 0.03"), far below any plate solution's
    # error; leaving it alone keeps solve-field's Tycho-2 solutions (labelled EQUINOX 2000 with no
    # RADESYS, which astropy reads as FK5) exactly as solved.
    is_j2000_fk5 = isinstance(frame, FK5) and math.isclose(frame.equinox.jyear, 2000.0)
    if not isinstance(frame, ICRS) and not is_j2000_fk5:
        icrs = SkyCoord(lon * u.deg, lat * u.deg, frame=frame).icrs
        lon = np.asarray(icrs.ra.deg, dtype=float)
        lat = np.asarray(icrs.dec.deg, dtype=float)
    return np.mod(lon, 360.0), lat


def _gnomonic(
    ra_deg: np.ndarray, dec_deg: np.ndarray, ra0_deg: float, dec0_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Standard coordinates (xi east, eta north), in degrees, on the plane tangent at (ra0, dec0).

    Exact on the sphere, so it behaves across RA 0h and next to the pole.
    """
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    ra0, dec0 = math.radians(ra0_deg), math.radians(dec0_deg)
    d_ra = ra - ra0
    cos_c = math.sin(dec0) * np.sin(dec) + math.cos(dec0) * np.cos(dec) * np.cos(d_ra)
    xi = np.cos(dec) * np.sin(d_ra) / cos_c
    eta = (math.cos(dec0) * np.sin(dec) - math.sin(dec0) * np.cos(dec) * np.cos(d_ra)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def field_geometry(
    wcs: WCS, width_px: int, height_px: int, *, bottom_up: bool = True
) -> FieldGeometry:
    """Where a frame of ``width_px`` x ``height_px`` pixels lies on the sky under ``wcs``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        A celestial WCS (as from :func:`celestial_wcs`); distortions such as SIP are included.
    width_px, height_px : int
        Size of the original frame, in pixels (numpy shape ``(height_px, width_px)``).
    bottom_up : bool
        How the picture is shown: row 0 at the bottom (FITS) or at the top (XISF, TIFF, JPEG,
        camera raw). Rotation and parity describe the picture as shown.

    Returns
    -------
    FieldGeometry
        - ``ra_deg``/``dec_deg``: ICRS position of the centre pixel
          ``((width_px - 1) / 2, (height_px - 1) / 2)`` (0-based).
        - ``pixel_scale_arcsec``: ``sqrt(|det J|)`` of the local Jacobian ``J`` at the centre
          (arcsec/px), so SIP distortion at the centre is included.
        - ``rotation_deg``: position angle of the picture's "up", measured from north through
          east, in [0, 360): the +y axis (increasing row index) when ``bottom_up``, else -y.
        - ``parity``: ``"normal"`` when ``det J < 0`` with ``J`` taken in (east, north): the sky
          as seen from inside the sphere, east left when north is up, as a camera records it
          without a mirror; ``"flipped"`` otherwise (mirror image, e.g. one mirror diagonal or a
          flipped frame).
        - ``width_deg``/``height_deg``: angular length of the frame through its centre along its
          x and y axes (edge midpoint to centre to edge midpoint, along the sphere).
        - ``radius_deg``: largest angular distance from the centre to a pixel corner.
        - ``corners_deg``: ICRS ``(ra, dec)`` of the outer pixel corners, in the order
          ``(-0.5, -0.5)``, ``(width - 0.5, -0.5)``, ``(width - 0.5, height - 0.5)``,
          ``(-0.5, height - 0.5)``. RA is in [0, 360).

    Notes
    -----
    Distances are great-circle distances and directions come from the tangent plane at the
    centre, never from RA differences, so fields across RA 0h or containing a pole come out
    right. With the centre exactly on a pole, "north" is taken towards the meridian opposite the
    centre's RA, as the WCS reports it.

    Raises
    ------
    ValueError
        If the size is not positive, the WCS is not celestial, or it gives no sky position for
        the centre or a corner.
    """
    if width_px < 1 or height_px < 1:
        raise ValueError(f"frame size must be positive, got {width_px}x{height_px} px")
    if not wcs.has_celestial:
        raise ValueError("field_geometry needs a celestial WCS, got one without RA/Dec axes")
    cel = wcs.celestial
    cx, cy = (width_px - 1) / 2.0, (height_px - 1) / 2.0
    right, top = width_px - 0.5, height_px - 0.5
    # centre; +-1 px along x and y for the Jacobian; the 4 corners; the 4 edge midpoints.
    x_px = np.array([cx, cx + 1, cx - 1, cx, cx, -0.5, right, right, -0.5, -0.5, right, cx, cx])
    y_px = np.array([cy, cy, cy, cy + 1, cy - 1, -0.5, -0.5, top, top, cy, cy, -0.5, top])
    with _quiet_astropy(), np.errstate(invalid="ignore", divide="ignore"):
        ra, dec = _pixels_to_icrs(cel, x_px, y_px)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ValueError(
            f"the WCS gives no sky position for the centre or a corner of a "
            f"{width_px}x{height_px} px frame"
        )
    ra0, dec0 = float(ra[0]), float(dec[0])

    xi, eta = _gnomonic(ra[1:5], dec[1:5], ra0, dec0)
    # Columns: d/dx, d/dy; rows: east (xi), north (eta); degrees per pixel.
    jacobian = np.array(
        [
            [(xi[0] - xi[1]) / 2.0, (xi[2] - xi[3]) / 2.0],
            [(eta[0] - eta[1]) / 2.0, (eta[2] - eta[3]) / 2.0],
        ]
    )
    if not bottom_up:
        jacobian[:, 1] = -jacobian[:, 1]  # "up" is towards row 0
    det = float(np.linalg.det(jacobian))
    pixel_scale_arcsec = math.sqrt(abs(det)) * 3600.0
    rotation_deg = math.degrees(math.atan2(jacobian[0, 1], jacobian[1, 1])) % 360.0
    if rotation_deg >= 360.0:  # -1e-17 % 360 == 360.0
        rotation_deg = 0.0
    parity = "normal" if det < 0 else "flipped"

    def sep(i: int) -> float:
        return math.degrees(
            float(angular_separation(*np.radians([ra0, dec0, float(ra[i]), float(dec[i])])))
        )

    corners = tuple((float(ra[i]), float(dec[i])) for i in range(5, 9))
    return FieldGeometry(
        ra_deg=ra0,
        dec_deg=dec0,
        pixel_scale_arcsec=pixel_scale_arcsec,
        rotation_deg=rotation_deg,
        parity=parity,
        width_deg=sep(9) + sep(10),
        height_deg=sep(11) + sep(12),
        radius_deg=max(sep(i) for i in range(5, 9)),
        corners_deg=corners,
    )


def wcs_to_header_text(wcs: WCS) -> str:
    """The celestial part of ``wcs`` as FITS header text (80-character cards, one per line).

    SIP coefficients are kept (``relax=True``). Read it back with :func:`wcs_from_header_text`.
    """
    with _quiet_astropy():
        header = wcs.celestial.to_header(relax=True)
    return header.tostring(sep="\n", endcard=True, padding=False)


def wcs_from_header_text(text: str) -> WCS:
    """The WCS stored by :func:`wcs_to_header_text`.

    Also accepts a header as FITS stores it (cards back to back without newlines).

    Raises
    ------
    ValueError
        If the text is not a FITS header or holds no usable celestial WCS.
    """
    with _quiet_astropy():
        try:
            header = fits.Header.fromstring(text, sep="\n" if "\n" in text else "")
        except _BAD_HEADER_ERRORS as exc:
            raise ValueError(f"stored WCS text is not a FITS header: {exc}") from exc
    wcs = celestial_wcs(header)
    if wcs is None:
        raise ValueError(
            "stored WCS text holds no usable celestial WCS "
            f"(CTYPE1={header.get('CTYPE1')!r}, CTYPE2={header.get('CTYPE2')!r})"
        )
    return wcs


def offset_by(
    ra_deg: np.ndarray, dec_deg: np.ndarray, sep_deg: np.ndarray, pa_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move points by an angular distance along a position angle (east of north).

    Parameters
    ----------
    ra_deg, dec_deg : numpy.ndarray
        Start points, ICRS degrees, shape (n,).
    sep_deg, pa_deg : numpy.ndarray
        Distance and position angle in degrees, broadcastable to (n,).

    Returns
    -------
    ra_deg, dec_deg : numpy.ndarray
        End points; RA in [0, 360).
    """
    ra0, dec0 = np.radians(ra_deg), np.radians(dec_deg)
    sep, pa = np.radians(sep_deg), np.radians(pa_deg)
    sin_dec = np.sin(dec0) * np.cos(sep) + np.cos(dec0) * np.sin(sep) * np.cos(pa)
    dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(sep) * np.cos(dec0), np.cos(sep) - np.sin(dec0) * sin_dec)
    return np.degrees(ra0 + dra) % 360.0, np.degrees(dec)
