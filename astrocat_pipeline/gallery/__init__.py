"""The read-only web gallery over the catalog (``astrocat serve``): search with a thumbnail grid,
frames with their catalog objects drawn on them, integration per target, and problems, linked
both ways with the Dagster UI.

An interface layer like :mod:`astrocat_pipeline.cli`: it reads through the catalog store and
the application layer (the same search as ``astrocat search``), never through Dagster.
"""
