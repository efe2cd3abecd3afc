"""The last pass of the new-file sensor over the library roots: ``library_passes``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

One row per source (the sensor), replaced by each of its ticks, for the library health asset.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_passes",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("elapsed_s", sa.Double(), nullable=False),
        sa.Column("pass_number", sa.Integer(), nullable=False),
        sa.Column("roots", sa.Integer(), nullable=False),
        sa.Column("offline_roots", sa.Text(), nullable=False),  # JSON list of root paths
        sa.Column("files_looked_at", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("removals_left", sa.Integer(), nullable=False),
        sa.Column("runs_launched", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_library_passes"),
    )


def downgrade() -> None:
    op.drop_table("library_passes")
