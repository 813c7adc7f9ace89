"""quality reviews (服务质检)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import data.models  # noqa: F401  (custom column types)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("rubric_key", sa.String(length=32), nullable=False),
        sa.Column("rubric_version", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("violation", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], name=op.f("fk_quality_review_contact_id_contact")),
        sa.ForeignKeyConstraint(["region_id"], ["region.id"], name=op.f("fk_quality_review_region_id_region")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_quality_review_staff_id_staff")),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], name=op.f("fk_quality_review_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_review")),
    )
    with op.batch_alter_table("quality_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_review_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quality_review_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quality_review_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quality_review_reviewer"), ["reviewer"], unique=False)
        batch_op.create_index("ix_quality_review_region_reviewed", ["region_id", "reviewed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quality_review", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_review_region_reviewed")
        batch_op.drop_index(batch_op.f("ix_quality_review_reviewer"))
        batch_op.drop_index(batch_op.f("ix_quality_review_contact_id"))
        batch_op.drop_index(batch_op.f("ix_quality_review_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_quality_review_staff_id"))
    op.drop_table("quality_review")
