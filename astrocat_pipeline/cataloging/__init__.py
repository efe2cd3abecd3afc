"""The application layer: what astrocat decides and does per file and per library pass,
composing core and adapters. Never imports dagster."""
