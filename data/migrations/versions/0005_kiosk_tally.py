"""kiosk_tally: the per-link ceiling of reusable (kiosk) survey links (surveys/intake.py)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import data.models  # noqa: F401  (custom column types)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_tally",
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("recent", sa.JSON(), nullable=False),
        sa.Column("audited_at", data.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitation.id"],
                                name=op.f("fk_kiosk_tally_invitation_id_invitation")),
        sa.PrimaryKeyConstraint("invitation_id", "day", name=op.f("pk_kiosk_tally")),
    )


def downgrade() -> None:
    op.drop_table("kiosk_tally")
