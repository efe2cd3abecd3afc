"""Sky index (footprints and HEALPix cells) and the ellipse and magnitude of catalog matches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Written by hand and frozen. Solutions solved before this revision are indexed here, with the
cells of ``core.sky_index.footprint_cells`` at ``tuning.SKY_INDEX_HEALPIX_ORDER`` (the code of the
version being installed, which is also the one that queries them).
"""

from __future__ import annotations

import json

import numpy as np
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
    _index_existing_solutions()


def _index_existing_solutions() -> None:
    from astrocat_pipeline.core.sky_index import footprints_cells
    from astrocat_pipeline.core.tuning import SKY_INDEX_HEALPIX_ORDER

    conn = op.get_bind()
    solutions = sa.table(
        "plate_solutions", sa.column("fingerprint"), sa.column("status"), sa.column("corners")
    )
    footprints = sa.table(
        "sky_footprints",
        sa.column("id"),
        sa.column("fingerprint"),
        *(sa.column(name) for name in _CORNER_COLUMNS),
    )
    cells_table = sa.table("sky_cells", sa.column("cell"), sa.column("footprint_id"))
    rows = conn.execute(
        sa.select(solutions.c.fingerprint, solutions.c.corners)
        .where(solutions.c.status == "solved", solutions.c.corners.is_not(None))
        .order_by(solutions.c.fingerprint)
    ).all()
    solved = [(fp, json.loads(text)) for fp, text in rows]
    solved = [(fp, corners) for fp, corners in solved if corners and len(corners) == 4]
    if not solved:
        return
    corners = np.array([c for _, c in solved], dtype=float)
    frame_index, cells = footprints_cells(corners, SKY_INDEX_HEALPIX_ORDER)
    ids = []
    for (fingerprint, _), row in zip(solved, corners.reshape(len(solved), 8), strict=True):
        values = dict(zip(_CORNER_COLUMNS, row.tolist(), strict=True))
        ids.append(
            conn.execute(
                footprints.insert()
                .values(fingerprint=fingerprint, **values)
                .returning(footprints.c.id)
            ).scalar_one()
        )
    conn.execute(
        cells_table.insert(),
        [
            {"cell": int(cell), "footprint_id": ids[int(frame)]}
            for frame, cell in zip(frame_index.tolist(), cells.tolist(), strict=True)
        ],
    )


def downgrade() -> None:
    op.drop_table("sky_cells")
    op.drop_table("sky_footprints")
    with op.batch_alter_table("catalog_matches") as batch:
        batch.drop_column("magnitude")
        batch.drop_column("position_angle_deg")
        batch.drop_column("minor_axis_arcmin")
