"""astrocat_pipeline: catalog an astrophotography image library with Dagster."""
