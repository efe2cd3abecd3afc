"""The search's order as an index; the thumbnail's stretch kept in the catalog.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

``ix_images_search_order`` on ``images (date_obs, path, id)`` for the rows in the library
(``removed_at IS NULL``): the order of every search (``search_query.SEARCH_ORDER``, NULL dates
last). A page of 1,000 results out of 100,000 images reads 1,000 ids from it instead of sorting
100,000 rows joined with their solutions (bench/gallery_bench.py).

``images.thumbnail_stretch`` (JSON, NULL until a thumbnail is made again): the stretch a
thumbnail was made with and the fingerprint of the content it was computed on; a thumbnail made
again at another size reuses it rather than computing the statistics again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default): no batch mode, which on SQLite would copy
    # `images` and cascade-delete its matches and footprints.
    op.add_column("images", sa.Column("thumbnail_stretch", sa.Text(), nullable=True))
    op.create_index(
        "ix_images_search_order",
        "images",
        ["date_obs", "path", "id"],
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_images_search_order", table_name="images")
    op.drop_column("images", "thumbnail_stretch")
