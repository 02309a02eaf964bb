"""provider calls keep the address of the task a polled provider created for them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Calls logged before keep NULL: a worker that takes one over after a crash buys its image again, as it did.
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_task", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.drop_column("provider_task")
