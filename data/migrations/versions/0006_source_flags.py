"""source flags: the source's category label kept as text and its own SLA verdict (ticket, contact)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("ticket", "contact"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("category_text", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("sla_met", sa.Boolean(), nullable=True))


def downgrade() -> None:
    for table in ("ticket", "contact"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sla_met")
            batch.drop_column("category_text")
