"""One reader per file format, each turning a file into an :class:`ImageHeader` (header only)
and a pixel array. Only :mod:`astrocat_pipeline.core.loading` chooses between them."""
