"""Named tuning constants, each with where its value comes from."""

from __future__ import annotations

# --- Screen transfer function (PixInsight AutoSTF) -----------------------------------------
# PixInsight's AutoSTF script: shadows clip at median - 2.8 * MADN, target background 0.25.
STF_SHADOWS_CLIP_MADN = -2.8
STF_TARGET_BACKGROUND = 0.25
# MAD -> standard deviation of a normal distribution (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826
# Statistics come from at most this many pixels (a regular subsample); median and MAD of a
# 4-megapixel subsample of a star field are within a fraction of a grey level of the full frame.
STF_STATS_MAX_PIXELS = 4_000_000

# --- Thumbnails (seed rules) ---------------------------------------------------------------
THUMBNAIL_MAX_SIZE_PX = 800
THUMBNAIL_JPEG_QUALITY = 85

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
