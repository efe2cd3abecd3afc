"""Named tuning constants, each with where its value comes from."""

from __future__ import annotations

import math

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

# --- The library walk ----------------------------------------------------------------------
# The new-file sensor's interval: two looks at a file are at least this far apart, which is how
# long a new file must stay the same before it is taken (its two looks), and how long a file
# must stay gone, with its folder intact, before it is removed (its removal's two looks).
LOOK_INTERVAL_S = 30

# --- Thumbnails (seed rules) ---------------------------------------------------------------
THUMBNAIL_MAX_SIZE_PX = 800
THUMBNAIL_JPEG_QUALITY = 85
# Block-mean reduction stops at about this multiple of the final size, so that the final Lanczos
# step still has detail to filter (a straight block mean to the final size aliases).
THUMBNAIL_REDUCE_TO_TIMES_FINAL = 2
# A thumbnail whose 8-bit pixels vary less than this (standard deviation, in DN) is blank: one
# grey or black level. JPEG noise alone on a flat frame stays well below it, and the sky noise a
# stretched frame shows is several DN (the AutoSTF background sits near 64 of 255).
THUMBNAIL_BLANK_STD_DN = 1.0

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
# nova is asked to find stars at 1/2 on frames wider than this (as solve-field --downsample 2);
# the local solver's star list is found on 2×2 block means of such frames (core/frame_stars.py;
# coarser blocks lose a wide field's undersampled stars).
SOLVER_DOWNSAMPLE_ABOVE_PX = 2000
# The local solver hands astrometry-engine at most this many stars (brightest first). On the
# demo frames (3°×2°, ~55 Tycho-2 index stars each) blind searches were fastest with the
# brightest 100-200 (median 1.2-1.4 s, vs 1.7 s with 300 and 2.1 s with all 300-1500 found)
# and hinted ones took the same time with any count; 200 leaves room for frames whose brightest
# detections include nebula knots or artefacts (bench/solve_bench.py, bench/README.md).
SOLVER_MAX_STARS = 200
# Fewer stars than this cannot be solved: the engine matches quads of 4 stars and then needs a
# few more to verify a match (each adds ~ln(field area / match area) ≈ 10 to its log-odds, and
# SOLVER_MIN_LOG_ODDS takes about two beyond the quad).
SOLVER_MIN_STARS = 6
# CPU-time budget of one whole solve (load, stars, hinted and blind runs together), the
# default of ASTROCAT_SOLVE_BUDGET_S (issue 19: an unsolvable frame gives up within 10 s of one
# core). Solvable frames take 0.1-2 s (bench/README.md), so a search still running after 10 s
# is one that would rarely end in a solution. CPU time, not wall time, so that a busy machine
# does not fail frames it would solve.
SOLVER_BUDGET_S = 10.0
# Of the budget, this much is kept for what follows the last run's share: the last 50 ms poll,
# the kill, reading the answer (unsolvable frames used 10.13-10.22 s of CPU with a 10 s budget
# before it was kept; bench/README.md).
SOLVER_BUDGET_MARGIN_S = 0.3
# Each engine run is killed after this many times its CPU share in wall-clock time (plus 1 s):
# the engine's CPU limit overshoots 2-3× (FACTS.md) and a machine shared by several solves
# gives each less than a core.
SOLVER_BUDGET_WALL_SLACK = 3.0
# A hinted run that a blind one may follow gets this share of what is left of the budget: a
# hinted search that succeeds does so in well under a second; the blind search needs the rest.
SOLVER_HINTED_BUDGET_SHARE = 0.35
# A match is taken only when the engine's log-odds reach this: ln(1e9), astrometry.net's own
# default "odds to solve" (solve-field --odds-to-solve), checked here explicitly so that a
# different engine build or configuration cannot lower it. True matches of the corpus score
# 50-300 (bench/README.md).
SOLVER_MIN_LOG_ODDS = math.log(1e9)
# A neighbour's solution as a hint (core/hints.py neighbour_hints): dithers move a frame by
# pixels to arcminutes, a few percent of its field, and a meridian flip re-centres the target
# to within the mount's centring (N.I.N.A. centres to 1'). Yet a radius under the field's own
# made the engine slower: 2.9 s of CPU at half the field radius against 0.10 s at the field
# radius (a 2° night, index files 10-19, bench/README.md), so the field radius it is.
# The scale of the same optics changes by < 1 % with focus and temperature.
NEIGHBOUR_HINT_RADIUS_FRACTION = 1.0
NEIGHBOUR_HINT_SCALE_TOLERANCE = 0.02
# A search with a neighbour's hint gets at most this much CPU: right, it took 0.06-0.1 s on
# the realistic nights; wrong, it took its whole share (3.5 s of a 10 s budget) before the
# frame's own search (bench/neighbour_bench.py).
SOLVER_NEIGHBOUR_CPU_S = 1.0
# Frames taken within this many hours of each other are of the same night (a long winter
# night's sequence, both sides of midnight).
NEIGHBOUR_WINDOW_H = 12.0
# A search without a scale tries all index files together (`inparallel`), which keeps them all in
# memory at once; astrometry.net advises it only when they fit in RAM. Debian's Tycho-2 10-19 set
# is 22 MB, the 4100/4200 series reach tens of GB: above this total they are searched one by one.
SOLVER_PARALLEL_INDEX_MAX_BYTES = 2 * 1024**3
# A blind search runs in passes (adapters/solvers/blind_plan.py). The first matches quads within
# this code tolerance, half of astrometry.net's default 0.01: ~16x fewer candidates to verify
# (the code is 4-D), 4x less CPU on the realistic corpus; centroids good to 0.1 px move the code
# of the smallest quads by ~0.002 ...
SOLVER_BLIND_TIGHT_CODE_TOLERANCE = 0.005
# ... and gets this share of the blind budget; the second pass, at the default tolerance (for
# poorer positions: donuts, trails, lens distortion), the rest. Tight-tolerance searches of the
# corpus solved in at most 4.5 s of CPU (bench/README.md).
SOLVER_BLIND_FIRST_PASS_SHARE = 0.6

# --- The independent check of a plate solution (core/solution_check.py) ------------------
# Reference stars (Hipparcos, never the solver's index) land on a detection when within this
# many pixels of it (centroids of binned, Bayer and defocused stars scatter by up to 1 px)...
CHECK_MATCH_RADIUS_PX = 3.0
# ... plus this fraction of their distance from the frame's centre: the engine fits a plain
# TAN projection (--no-tweak), and a camera lens's distortion that it leaves grows outwards
# (0.5 %: 4.5 px in the corner of a 1500x1000 frame, 19 px in a 26 Mpx frame's).
CHECK_MATCH_RADIUS_FRACTION = 0.005
# The frame's brightest detections used (the stored star list's length).
CHECK_MAX_DETECTIONS = 1000
# Reference stars tested: the brightest, at most this many per detection used (the frame's
# brightness order differs from the catalogue's by colour and filter: the brightest half as
# many reference stars as detections are nearly all among them), and at most this many.
CHECK_REFERENCE_PER_DETECTION = 0.5
CHECK_MAX_REFERENCE = 400
# The local density of detections is counted in an annulus holding this many on average; a
# star whose annulus holds fewer than CHECK_MIN_ANNULUS_COUNT lies where the detector found
# (almost) nothing (foreground, cloud, a dark edge) and says nothing either way.
CHECK_ANNULUS_COUNT = 20
CHECK_MIN_ANNULUS_COUNT = 3
# A true solution finds at least this share of the reference stars tested (the evidence drifts
# in its favour from about half of it: 14 %); a wrong one finds them at chance (2-9 %).
# True solutions of the realistic corpus and the synthetic samples found 79-100 % of them
# (foreground and cloud the lowest), wrong ones 2-9 %.
CHECK_MIN_COMPLETENESS = 0.3
# Decades of evidence: a region whose outcome is 1,000 times likelier by chance than under a
# true WCS rejects it; the whole frame at 10,000 times likelier true than chance confirms it.
CHECK_REJECT_LOG10 = 3.0
CHECK_ACCEPT_LOG10 = 4.0
# A frame where a true solution finding this share of its reference stars would score
# CHECK_DECISIVE_LOG10 (about 20 reference stars) is decisive: a solution that does not reach
# CHECK_ACCEPT_LOG10 there is rejected, not left undecided.
CHECK_TYPICAL_COMPLETENESS = 0.6
CHECK_DECISIVE_LOG10 = 12.0
# Hipparcos stars are looked up within the field's radius times this (the corners, with room).
CHECK_REFERENCE_RADIUS_FACTOR = 1.05

# --- Star detection for plate solving (core/star_detect.py) --------------------------------
# Background mesh cell: SExtractor's default BACK_SIZE; larger than a star, smaller than the
# gradients and nebulae of a wide field.
STAR_BACKGROUND_BOX_PX = 64
# Gaussian filter before peak finding: astrometry.net's simplexy assumes a PSF sigma of 1 px.
STAR_SMOOTH_SIGMA_PX = 1.0
# Peaks this many noise sigmas above the filtered background count: gives about as many stars
# as solve-field's image2xy on the demo frames (300-1,000), every one of which solves.
STAR_DETECT_SIGMA = 5.0
# A peak pixel holding more than this fraction of its 3×3 box is a hot pixel or a cosmic ray:
# a star's centre pixel holds <= 0.46 of it even when undersampled (Gaussian sigma 0.5 px).
STAR_MAX_PEAK_FRACTION = 0.7
# astrometry.net's uniformize.py default (solve-field --uniformize 10).
STAR_UNIFORMIZE_CELLS = 10
# sep (SExtractor) detection: objects whose 3×3-filtered pixels exceed this many times one
# pixel's noise (SExtractor's DETECT_THRESH with a filter; the filter lowers the noise ~2.7×,
# so this is ~13σ of the filtered image), of at least this many pixels (SExtractor's
# DETECT_MINAREA default is 5; binned, undersampled stars cover 3). Frames with fewer stars
# than STAR_SPARSE_BELOW are searched again at this many sigmas of the filtered image.
STAR_SEP_DETECT_SIGMA = 5.0
STAR_SEP_MIN_AREA_PX = 3
# sep's pixel stack (the pixels of the objects open at once during its scan) is first sized for
# this fraction of the plane's pixels: a 26-Mpx frame's stars hold a few thousand, a bright
# nebula can hold more, and a frame that fills it is extracted again with room for half the
# plane (core/star_detect.py). 1/16: 18 MB for a 26-Mpx frame's binned plane.
STAR_SEP_PIXSTACK_FRACTION = 1 / 16
# A 3×3 detection filter suits stars about a pixel wide (sep's minor axis ``b`` ~1 px, FWHM
# ~2.4 px). When the frame's PSF is at least twice that (defocus, oversampling), it is detected
# again on blocks of about this many pixels per PSF width.
STAR_SEP_TARGET_WIDTH_PX = 1.0
# Shape tests against the frame's own PSF, measured as the median over its brightest
# unsaturated objects (a population statistic, so they hold for sharp and soft, round and
# trailed frames alike).
# DAOFIND's sharpness, across the peak: the peak's neighbours along a row and along a column
# hold a share of the peak fixed by the PSF (0.33 for a Gaussian of sigma 0.67 px, 0.14 at
# sigma 0.5 px); a one-pixel-wide cosmic ray or column leaves ~0 on one axis. An object below
# this fraction of the PSF's share is sharper than the optics allow.
STAR_MIN_SPREAD_FRACTION = 0.35
# An object much more elongated than the PSF is a trail, a line or an edge: its axis ratio
# above this factor times the PSF's (a star's ratio scatters by ~20 % at S/N 20).
STAR_MAX_ELONGATION_FACTOR = 2.0
# The PSF's shape is the median over this many of the brightest unsaturated objects.
STAR_PSF_REFERENCE_COUNT = 100
# Before the frame's extraction, its PSF's sharpness is measured on the objects this many sigmas
# up: the bright stars, without the faint extended emission (cloud and foreground edges,
# nebulae) whose deblending is most of an extraction's time; the artefacts sharper than it
# are flattened first, so that one extraction is enough.
STAR_PSF_PROBE_SIGMA = 30.0
# A frame with fewer star-shaped objects than this (a quarter of the solver's list) is
# extracted once more at STAR_SEP_DETECT_SIGMA of its filtered image's own noise, where sep's
# threshold (per pixel, on the filtered image) sits near 13σ of it.
STAR_SPARSE_BELOW = SOLVER_MAX_STARS // 4
# Windowed centroids for this many of the brightest stars (twice SOLVER_MAX_STARS, so that the
# solver's list keeps them after line removal and uniformizing); 0.02 ms a star.
STAR_REFINE_COUNT = 2 * SOLVER_MAX_STARS

# --- Stale plate-solve jobs ----------------------------------------------------------------
# SUBMITTED/PROCESSING rows not updated for 5 minutes are failed so they can retry
# (docs/plate-solving.md).
STALE_SOLVE_AFTER_S = 300

# --- Memory per file (issue 15) ------------------------------------------------------------
# The most pixel data one file may declare, in bytes (width x height x planes x bytes per
# sample, as the loaded array holds them); a file declaring more is refused before anything is
# allocated or decompressed, and no decompression runs past what the file declares. A 62 Mpx
# colour frame in 32-bit float is 744 MB: 2 GiB holds it with room for a 64-bit float copy
# (1.49 GB), a 2x drizzle of a 26 Mpx colour stack (1.25 GB) and 150 Mpx mono sensors in float
# (0.6 GB). Rendering a thumbnail peaks at about 1.2x the declared bytes (measured on uint16
# mono and float32 colour FITS), so a file at the limit needs about 2.6 GB of a worker's memory.
MAX_IMAGE_BYTES = 2 * 1024**3
# Header bytes a compressed stream may hold besides the declared pixel data (a gzip FITS's
# headers, before the image): real headers are a few kB; 16 MiB is 200,000 cards.
MAX_HEADER_BYTES = 16 * 1024**2

# --- Shared infrastructure unavailable (issue 15) --------------------------------------------
# A file's step that fails because the catalog database or the thumbnail cache is unavailable
# is tried again after 1, 2, 4 and 8 s (15 s in all), then the run fails. Restarting the local
# PostgreSQL 15 cluster (pg_ctlcluster ... restart, until pg_isready) took 2.4 s on the 2-core
# development machine; a failover or a full disk that takes longer is for a person to fix, and
# the run's failure is what tells them.
INFRA_RETRY_ATTEMPTS = 5
INFRA_RETRY_FIRST_DELAY_S = 1.0
INFRA_RETRY_BACKOFF_FACTOR = 2.0

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
# Size classes of the sky index (core.sky_index): a footprint is indexed by the HEALPix cell of
# its centre at order o = floor(log2(128° / bounding radius)), i.e. class o holds bounding radii
# up to 128° / 2**o (2°-4° at order 5, 0.5°-1° at order 7). Counted on bench/cone_search_bench.py's
# 1,000,000 footprints (0.3°-5° sides) for 2° cones: 128° scans ~3,700 rows for the ~1,260 whose
# bounding circle reaches the cone; 64° and 32° scan 1.4x and 2.5x as many, for 10% and 30%
# fewer ranges. Changing it needs a migration that re-indexes every footprint (the stored cells
# depend on it).
SKY_INDEX_CLASS_RADIUS_DEG = 128.0
# A cone search scans each class at the coarsest order whose cells are at most this fraction of
# the class's search radius (cone radius + the class's largest bounding radius): about ten
# ranges per class. On the same footprints and cones, 0.25 needs 60% more ranges for 9% fewer
# rows, 1.0 40% fewer ranges for 60% more rows. Query-only: no migration needed.
SKY_INDEX_QUERY_CELL_FRACTION = 0.5

# --- Indexing throughput (cataloging/file_pass.py) -----------------------------------------
# Files read (hashed, decoded, thumbnailed, star-detected) at once per batch step: one per core
# the process may use, at most this many. Each file in flight holds about 1.6x its size (a
# 16-bit FITS frame: its content, the binned planes of thumbnail and star detection).
FILE_PASS_MAX_WORKERS = 4
# Stars stored per frame for the solver (brightest first): the local solver hands the engine at
# most SOLVER_MAX_STARS of them; the rest leave room for a retry that wants more. 1,000 stars
# are 24 kB in the catalog.
STAR_LIST_MAX_STARS = 1000
