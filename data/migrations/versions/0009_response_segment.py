"""response.segment: the respondent's customer segment as a survey tool recorded it (imported survey results)

The linked work order's customer segment is the truth; the response's own segment is used only where the response
has no linked customer (survey-only data), so imported results group by segment (data.repositories.facts).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("segment", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.drop_column("segment")
