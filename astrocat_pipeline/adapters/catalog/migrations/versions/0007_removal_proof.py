"""Removal only with proof: each image's device, its removal's looks and hold, tombstones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

- ``device``: the ``st_dev`` of the file when it was inventoried; a vanished file is removed only
  while its folder is still on that device (an unmounted disk inside a root is not a deletion).
  NULL for rows inventoried before this revision (their device is then not checked).
- ``gone_since``: when a walk first missed the file with its folder intact (the first look).
- ``removal_held_at``: a removal held back because its pass would have removed too many files;
  it waits for the ``confirm_removals`` job or for the file to come back.
- ``removed_at``: a tombstone. The row, its matches and its thumbnail stay for
  ``ASTROCAT_TOMBSTONE_DAYS`` so that a file that comes back gets them back unprocessed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ("device", "gone_since", "removal_held_at", "removed_at")


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable, no default) on both backends; no batch mode, which on SQLite
    # would copy `images` and cascade-delete its matches and footprints.
    op.add_column("images", sa.Column("device", sa.BigInteger(), nullable=True))
    op.add_column("images", sa.Column("gone_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("images", sa.Column("removal_held_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("images", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_images_removed_at", "images", ["removed_at"])


def downgrade() -> None:
    op.drop_index("ix_images_removed_at", table_name="images")
    for name in reversed(_COLUMNS):
        op.drop_column("images", name)
