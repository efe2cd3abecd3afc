"""Named tuning constants, each with where its value comes from."""

from __future__ import annotations

# --- Screen transfer function (PixInsight AutoSTF) -----------------------------------------
# PixInsight's AutoSTF script: shadows clip at median - 2.8 * MADN, target background 0.25.
STF_SHADOWS_CLIP_MADN = -2.8
STF_TARGET_BACKGROUND = 0.25
# MAD -> standard deviation of a normal distribution (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826
# Statistics come from at most this many pixels (a regular subsample of the original pixels).
# Measured on bench/thumbnail_bench.py's 26-Mpx star field: a 1-Mpx subsample gives the same
# median and MAD as every pixel for the uint16 frame, and within 0.03 ADU / 0.07 % for a
# float32 copy of it; 4 Mpx takes 3-4x longer (170 ms for float) for no visible change.
STF_STATS_MAX_PIXELS = 1_000_000
# The 'percentile' stretch for processed images: linear from this percentile (black) to that
# one (white), issue 4.
PERCENTILE_LOW = 1.0
PERCENTILE_HIGH = 99.0

# --- Thumbnails (seed rules) ---------------------------------------------------------------
THUMBNAIL_MAX_SIZE_PX = 800
THUMBNAIL_JPEG_QUALITY = 85
# Block-mean reduction stops at about this multiple of the final size, so that the final Lanczos
# step still has detail to filter (a straight block mean to the final size aliases).
THUMBNAIL_REDUCE_TO_TIMES_FINAL = 2

# --- Plate solving ---------------------------------------------------------------------------
# Accept pixel scales within this factor of the hinted one: focal lengths on lens barrels and
# reducers are nominal, and some writers' XPIXSZ already includes binning, others not.
SOLVER_SCALE_TOLERANCE = 0.2
# Search radius around a hinted position, as a multiple of the hinted field radius, with a floor:
# a mount's pointing is usually within a few arcminutes, a typed-in OBJECT position less so.
SOLVER_HINT_RADIUS_FACTOR = 2.0
SOLVER_HINT_RADIUS_MIN_DEG = 1.0
# Search radius around a known pointing when the field size is unknown (no pixel scale or no
# frame size): wide enough for the fields the Tycho-2 indexes solve (about 2° and wider) and for
# a pointing typed in by hand, yet a small part of the sky.
DEFAULT_HINT_RADIUS_DEG = 5.0
# solve-field's --cpulimit overshoots 2-3x (measured), so the adapter also kills the process
# group after this wall-clock time.
SOLVER_CPU_LIMIT_S = 30
SOLVER_WALL_TIMEOUT_S = 90
# Star extraction on frames wider than this is done on a 2x downsampled image.
SOLVER_DOWNSAMPLE_ABOVE_PX = 2000

# --- Stale plate-solve jobs ----------------------------------------------------------------
# DESIGN.md: SUBMITTED/PROCESSING rows not updated for 5 minutes are failed so they can retry.
STALE_SOLVE_AFTER_S = 300

# --- Inventory -----------------------------------------------------------------------------
# Partition keys longer than this are shortened (with a hash suffix): Dagster's filesystem IO
# manager fails on keys over 255 bytes and the UI becomes unreadable long before that.
PARTITION_KEY_MAX_LEN = 160

# --- nova (astrometry.net web API) ---------------------------------------------------------
# astrometry.net's own client (net/client/client.py) polls submissions and jobs every 5 s.
NOVA_POLL_INTERVAL_S = 5.0
# A guess, not measured here: nova's shared queue can take minutes at busy times.
NOVA_DEADLINE_S = 900.0
# requests' per-request timeout (connect and each read), generous for uploading a large FITS.
NOVA_REQUEST_TIMEOUT_S = 60.0
# Frames wider than SOLVER_DOWNSAMPLE_ABOVE_PX: nova extracts stars at 1/2, as solve-field does.
NOVA_DOWNSAMPLE_FACTOR = 2
# nova's calibration and WCS file must agree on the centre to this fraction of the field radius.
NOVA_CALIBRATION_MATCH_FRACTION = 0.05
# ... and on the pixel scale to this fraction (the WCS file has the SIP fit, the calibration not).
NOVA_PIXSCALE_MATCH_FRACTION = 0.05

# --- Catalog matching (issue 6) ------------------------------------------------------------
# Which objects a frame lists depends on its size (the larger side, in degrees). Up to this
# size every OpenNGC object counts: telescope fields (0.2°-3°) and short camera lenses show
# NGC/IC galaxies of an arcminute as a few pixels or more (a 1' galaxy is 5 px at 12"/px).
MATCH_ALL_OBJECTS_MAX_FIELD_DEG = 5.0
# Wider fields (camera lenses, 5°-90°) list Messier objects, objects with a common name, the
# named bright stars, and objects at least this many arcminutes across per degree of field:
# 1/120 of the field (e.g. >= 10' on a 20° field, >= 30' on a 60° one), which a wide-field
# frame of ~6000 px still shows as ~50 px; smaller unnamed galaxies are noise there.
MATCH_MIN_SIZE_ARCMIN_PER_FIELD_DEG = 0.5
# Points sampled on the boundary of an object's ellipse when it is projected through the
# frame's WCS for the in-frame test: a 64-gon is within 0.12 % of the ellipse.
MATCH_ELLIPSE_SAMPLES = 64

# --- Sky index (issue 6) ----------------------------------------------------------------------
# HEALPix order of the footprint cells (NESTED numbering; cells of ~0.92° at order 6). Measured
# with bench/cone_search_bench.py on 1,000,000 footprints of 0.3°-5°: see the README. Changing
# it needs a migration that re-indexes every footprint (the stored cells are of this order).
SKY_INDEX_HEALPIX_ORDER = 6
