"""The stars found in each frame's content, for the solver: ``star_lists``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

One row per content fingerprint (as plate solutions): the frame's size and its stars packed as
little-endian float64 (x_px, y_px, flux) triples, brightest first. Written by the inventory step
from the same read of the file as its fingerprint; read by the solve step (issue 17).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "star_lists",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("width_px", sa.Integer(), nullable=False),
        sa.Column("height_px", sa.Integer(), nullable=False),
        sa.Column("star_count", sa.Integer(), nullable=False),
        sa.Column("stars", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_star_lists"),
    )


def downgrade() -> None:
    op.drop_table("star_lists")
