"""invitation.external_no: invitations imported from a survey tool's distribution list (kind ``invitations``)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invitation", sa.Column("external_no", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_invitation_external_no"), "invitation", ["external_no"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_invitation_external_no"), table_name="invitation")
    with op.batch_alter_table("invitation") as batch:
        batch.drop_column("external_no")
