"""The search's order as an index: a page of results without sorting the whole library.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

``ix_images_search_order`` on ``images (date_obs, path, id)`` for the rows in the library
(``removed_at IS NULL``): the order of every search (``search_query.SEARCH_ORDER``, NULL dates
last). A page of 1,000 results out of 100,000 images reads 1,000 ids from it instead of sorting
100,000 rows joined with their solutions (bench/gallery_bench.py).
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
    op.create_index(
        "ix_images_search_order",
        "images",
        ["date_obs", "path", "id"],
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_images_search_order", table_name="images")
