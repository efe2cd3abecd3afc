"""Initial catalog schema: images, plate_solutions, catalog_matches.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: later changes are new revisions, never edits of this one. Types are
the plain SQL types under catalog.schema's column types (UTCDateTime is a timezone-aware DateTime,
SafeText is Text, SafeFloat is Double).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error_stage", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("bit_depth", sa.Integer(), nullable=True),
        sa.Column("frame_type", sa.Text(), nullable=True),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column("object_key", sa.Text(), nullable=True),
        sa.Column("exposure_s", sa.Double(), nullable=True),
        sa.Column("date_obs", sa.DateTime(timezone=True), nullable=True),
        sa.Column("camera", sa.Text(), nullable=True),
        sa.Column("telescope", sa.Text(), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("gain", sa.Double(), nullable=True),
        sa.Column("offset", sa.Double(), nullable=True),
        sa.Column("iso", sa.Integer(), nullable=True),
        sa.Column("ccd_temp_c", sa.Double(), nullable=True),
        sa.Column("focal_length_mm", sa.Double(), nullable=True),
        sa.Column("pixel_size_um", sa.Double(), nullable=True),
        sa.Column("binning", sa.Integer(), nullable=True),
        sa.Column("bayer_pattern", sa.Text(), nullable=True),
        sa.Column("ra_deg", sa.Double(), nullable=True),
        sa.Column("dec_deg", sa.Double(), nullable=True),
        sa.Column("has_wcs", sa.Boolean(), nullable=True),
        sa.Column("raw_header", sa.Text(), nullable=True),
        sa.Column("thumbnail_path", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("partition_key", name="uq_images_partition_key"),
        sa.UniqueConstraint("root", "rel_path", name="uq_images_root_rel_path"),
    )
    op.create_index("ix_images_fingerprint", "images", ["fingerprint"])
    op.create_index("ix_images_frame_type", "images", ["frame_type"])
    op.create_index("ix_images_object_key", "images", ["object_key"])

    op.create_table(
        "plate_solutions",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("solver", sa.Text(), nullable=True),
        sa.Column("ra_deg", sa.Double(), nullable=True),
        sa.Column("dec_deg", sa.Double(), nullable=True),
        sa.Column("pixel_scale_arcsec", sa.Double(), nullable=True),
        sa.Column("rotation_deg", sa.Double(), nullable=True),
        sa.Column("parity", sa.Text(), nullable=True),
        sa.Column("width_deg", sa.Double(), nullable=True),
        sa.Column("height_deg", sa.Double(), nullable=True),
        sa.Column("radius_deg", sa.Double(), nullable=True),
        sa.Column("corners", sa.Text(), nullable=True),
        sa.Column("wcs_header", sa.Text(), nullable=True),
        sa.Column("hints_used", sa.Text(), nullable=True),
        sa.Column("elapsed_s", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("submission_id", sa.BigInteger(), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_plate_solutions"),
    )
    op.create_index(
        "ix_plate_solutions_status_updated_at", "plate_solutions", ["status", "updated_at"]
    )

    op.create_table(
        "catalog_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("catalog", sa.Text(), nullable=False),
        sa.Column("designation", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("ra_deg", sa.Double(), nullable=False),
        sa.Column("dec_deg", sa.Double(), nullable=False),
        sa.Column("x_px", sa.Double(), nullable=False),
        sa.Column("y_px", sa.Double(), nullable=False),
        sa.Column("major_axis_arcmin", sa.Double(), nullable=True),
        sa.Column("messier", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_matches"),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_catalog_matches_image_id_images",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_catalog_matches_image_id", "catalog_matches", ["image_id"])
    op.create_index("ix_catalog_matches_designation", "catalog_matches", ["designation"])
    op.create_index("ix_catalog_matches_messier", "catalog_matches", ["messier"])


def downgrade() -> None:
    op.drop_table("catalog_matches")
    op.drop_table("plate_solutions")
    op.drop_table("images")
