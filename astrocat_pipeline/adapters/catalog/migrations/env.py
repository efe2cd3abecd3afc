"""Alembic environment for the catalog database.

Migrations run only through ``astrocat_pipeline.adapters.catalog.migrate(engine)``, which
passes an open connection inside a transaction that already holds the migration lock; there is
no alembic.ini and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from astrocat_pipeline.adapters.catalog.schema import METADATA

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "catalog migrations run through astrocat_pipeline.adapters.catalog.migrate(engine), "
        "which supplies the database connection"
    )

# target_metadata lets `alembic revision --autogenerate` (with a Config pointing here) propose
# the next revision from the Table definitions in catalog.schema.
context.configure(connection=connection, target_metadata=METADATA)
with context.begin_transaction():
    context.run_migrations()
