"""The project's exceptions.

Each also inherits the builtin it refines, so callers that only know the builtin still catch it.
Messages name the file and say what was expected and what was found.
"""

from __future__ import annotations


class AstrocatError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(AstrocatError, ValueError):
    """A setting is missing or has a value that cannot work."""


class UnsupportedFormatError(AstrocatError, ValueError):
    """The file's type is not one the pipeline reads (yet)."""


class ImageReadError(AstrocatError, OSError):
    """The file exists but could not be read as the image it claims to be."""


class ImageTooLargeError(ImageReadError):
    """The file declares (or its compressed data inflates to) more pixel data than the limit
    per file (``core.tuning.MAX_IMAGE_BYTES``): refused before the memory is allocated."""


class SolverError(AstrocatError, RuntimeError):
    """The plate solver could not be run at all (not installed, no index files, crashed).

    A solver that ran and found no solution is not an error: it is a solution with status
    ``failed``.
    """


class CatalogDataError(AstrocatError, RuntimeError):
    """The bundled object catalog (OpenNGC) or the star index could not be read."""


class InvalidSolutionError(SolverError):
    """A WCS offered as a plate solution does not describe the frame: it is for an image of
    another size, it is not a usable celestial WCS, or it leaves part of the frame off the sky."""


class InfrastructureError(AstrocatError, RuntimeError):
    """Shared infrastructure (the catalog database, the thumbnail cache) is unavailable: not the
    fault of the file being worked on, so never recorded as its error (the step retries, then
    the run fails)."""
