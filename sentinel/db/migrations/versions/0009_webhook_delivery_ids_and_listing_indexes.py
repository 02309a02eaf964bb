"""webhook deliveries keep their delivery id and event; (created_at, id) indexes for listing and export

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tries recorded before keep NULL: each of them was sent under an id of its own, so none can be told apart.
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("event", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index("ix_webhook_deliveries_created_at_id", ["created_at", "id"], unique=False)

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_evaluations_created_at_id", ["created_at", "id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_created_at_id", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_created_at_id")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluations_created_at_id")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_created_at_id")
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_delivery_id"))
        batch_op.drop_column("event")
        batch_op.drop_column("delivery_id")
