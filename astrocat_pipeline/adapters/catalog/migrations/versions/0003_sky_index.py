"""Sky index (footprints and HEALPix cells) and the ellipse and magnitude of catalog matches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Written by hand and frozen, except for one later change: this revision used to index the
solutions solved before it with ``core.sky_index.footprints_cells``, code that revision 0004
removed when it replaced these tables. 0004 indexes every solved solution again from
``plate_solutions``, so the tables are left empty here (only a downgrade to 0003 sees them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CORNER_COLUMNS = tuple(f"{axis}{i}_deg" for i in range(1, 5) for axis in ("ra", "dec"))


def upgrade() -> None:
    with op.batch_alter_table("catalog_matches") as batch:
        batch.add_column(sa.Column("minor_axis_arcmin", sa.Double(), nullable=True))
        batch.add_column(sa.Column("position_angle_deg", sa.Double(), nullable=True))
        batch.add_column(sa.Column("magnitude", sa.Double(), nullable=True))

    op.create_table(
        "sky_footprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=False) for name in _CORNER_COLUMNS),
        sa.PrimaryKeyConstraint("id", name="pk_sky_footprints"),
        sa.UniqueConstraint("fingerprint", name="uq_sky_footprints_fingerprint"),
        sa.ForeignKeyConstraint(
            ["fingerprint"],
            ["plate_solutions.fingerprint"],
            name="fk_sky_footprints_fingerprint_plate_solutions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "sky_cells",
        sa.Column("cell", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("footprint_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("cell", "footprint_id", name="pk_sky_cells"),
        sa.ForeignKeyConstraint(
            ["footprint_id"],
            ["sky_footprints.id"],
            name="fk_sky_cells_footprint_id_sky_footprints",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sky_cells_footprint_id", "sky_cells", ["footprint_id"])


def downgrade() -> None:
    op.drop_table("sky_cells")
    op.drop_table("sky_footprints")
    with op.batch_alter_table("catalog_matches") as batch:
        batch.drop_column("magnitude")
        batch.drop_column("position_angle_deg")
        batch.drop_column("minor_axis_arcmin")
