"""fact_version: freshness tokens of the columnar fact snapshot (data/snapshot.py)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fact_version",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "month", name=op.f("pk_fact_version")),
    )


def downgrade() -> None:
    op.drop_table("fact_version")
