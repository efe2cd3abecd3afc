"""Plate solutions say why the pipeline failed them: ``failure_kind`` ("stale", or NULL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The stale-solve cleanup used to be recognised by the start of its message, which a retry of a
nova job went by to resume the job instead of uploading again. Solves failed so before this
revision get the kind from that message, so that they are still resumed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The cleanup's message as the versions before this revision wrote it.
_STALE_MESSAGE_START = "no progress for more than"


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (batch mode does the same for an added column).
    op.add_column("plate_solutions", sa.Column("failure_kind", sa.Text(), nullable=True))
    solutions = sa.table(
        "plate_solutions", sa.column("status"), sa.column("error"), sa.column("failure_kind")
    )
    op.execute(
        solutions.update()
        .where(
            solutions.c.status == "failed",
            solutions.c.error.startswith(_STALE_MESSAGE_START, autoescape=True),
        )
        .values(failure_kind="stale")
    )


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy plate_solutions into a new table and drop the old
    # one, and dropping it deletes the sky index's rows (ON DELETE CASCADE). SQLite (3.35+) and
    # PostgreSQL both drop a plain column in place.
    op.drop_column("plate_solutions", "failure_kind")
