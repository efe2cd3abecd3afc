"""Plate solutions record every solver attempt and the hints it used.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON list of {solver, hints, outcome, elapsed_s}; NULL for solutions recorded before.
    with op.batch_alter_table("plate_solutions") as batch:
        batch.add_column(sa.Column("attempts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plate_solutions") as batch:
        batch.drop_column("attempts")
