"""Sky index: one row per footprint (size classes, bounding circle, packed geometry).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Replaces 0003's ``sky_footprints`` (corner columns) and ``sky_cells`` (one row per footprint and
HEALPix cell) with one ``sky_footprints`` row per image whose content is solved (see
``core.sky_index``), holding the image's partition key so that a cone search needs no other
table. Every image of a solved solution is indexed again here, from the corners stored with the
solution in ``plate_solutions`` (the source of truth; the old index holds nothing else), with
``core.sky_index`` of the version being installed, which is also the one that queries the rows.
"""

from __future__ import annotations

import json

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ROW_COLUMNS = ("partition_key", "x", "y", "z", "cos_radius", "sin_radius", "geometry")
# Solutions indexed per batch: bounds memory and statement size on a large catalog.
_BATCH = 5000


def upgrade() -> None:
    op.drop_table("sky_cells")
    op.drop_table("sky_footprints")
    op.create_table(
        "sky_footprints",
        sa.Column("healpix_uniq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("image_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("x", sa.Double(), nullable=False),
        sa.Column("y", sa.Double(), nullable=False),
        sa.Column("z", sa.Double(), nullable=False),
        sa.Column("cos_radius", sa.Double(), nullable=False),
        sa.Column("sin_radius", sa.Double(), nullable=False),
        sa.Column("geometry", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "healpix_uniq",
            "image_id",
            name="pk_sky_footprints",
            postgresql_include=list(_ROW_COLUMNS),
        ),
        sa.UniqueConstraint("image_id", name="uq_sky_footprints_image_id"),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_sky_footprints_image_id_images",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["fingerprint"],
            ["plate_solutions.fingerprint"],
            name="fk_sky_footprints_fingerprint_plate_solutions",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sky_footprints_fingerprint", "sky_footprints", ["fingerprint"])
    _index_solutions()


def _index_solutions() -> None:
    from astrocat_pipeline.core.sky_index import footprint_records
    from astrocat_pipeline.core.tuning import SKY_INDEX_CLASS_RADIUS_DEG

    conn = op.get_bind()
    solutions = sa.table(
        "plate_solutions", sa.column("fingerprint"), sa.column("status"), sa.column("corners")
    )
    images = sa.table(
        "images", sa.column("id"), sa.column("partition_key"), sa.column("fingerprint")
    )
    footprints = sa.table(
        "sky_footprints",
        sa.column("healpix_uniq"),
        sa.column("image_id"),
        sa.column("fingerprint"),
        *(sa.column(name) for name in _ROW_COLUMNS[:-1]),
        sa.column("geometry", sa.LargeBinary()),
    )
    rows = conn.execute(
        sa.select(images.c.id, images.c.partition_key, solutions.c.fingerprint, solutions.c.corners)
        .join(solutions, solutions.c.fingerprint == images.c.fingerprint)
        .where(solutions.c.status == "solved", solutions.c.corners.is_not(None))
        .order_by(images.c.id)
    ).all()
    solved = [(image_id, key, fp, json.loads(text)) for image_id, key, fp, text in rows]
    solved = [row for row in solved if row[3] and len(row[3]) == 4]
    for start in range(0, len(solved), _BATCH):
        batch = solved[start : start + _BATCH]
        records = footprint_records(
            np.array([row[3] for row in batch], dtype=float), SKY_INDEX_CLASS_RADIUS_DEG
        )
        cells, centres = records.keys.tolist(), records.centres.tolist()
        cos_radius, sin_radius = records.cos_radius.tolist(), records.sin_radius.tolist()
        blobs = records.blobs()
        conn.execute(
            footprints.insert(),
            [
                {
                    "healpix_uniq": cells[i],
                    "image_id": image_id,
                    "partition_key": key,
                    "fingerprint": fingerprint,
                    "x": centres[i][0],
                    "y": centres[i][1],
                    "z": centres[i][2],
                    "cos_radius": cos_radius[i],
                    "sin_radius": sin_radius[i],
                    "geometry": blobs[i],
                }
                for i, (image_id, key, fingerprint, _) in enumerate(batch)
            ],
        )


def downgrade() -> None:
    # Back to 0003's empty tables: 0003's cells came from code this version no longer has, and
    # an index is rebuilt from plate_solutions by upgrading again.
    op.drop_table("sky_footprints")
    corner_columns = tuple(f"{axis}{i}_deg" for i in range(1, 5) for axis in ("ra", "dec"))
    op.create_table(
        "sky_footprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=False) for name in corner_columns),
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
