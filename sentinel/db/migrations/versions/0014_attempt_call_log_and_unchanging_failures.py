"""provider calls of a job attempt are logged under its own id; attempts keep whether their failure is unchanging

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "<job id>:<slot>:<number>" is 40 characters from attempt 10 on (a job id is 36): a re-run of an attempt finds
    # the image it paid for by that id.
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.alter_column(
            "request_id", existing_type=sa.String(length=40), type_=sa.String(length=64), existing_nullable=False
        )
    # Attempts that failed before keep NULL: they were answered, and retried, as a failure that may pass.
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unchanging", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.drop_column("unchanging")
    with op.batch_alter_table("provider_calls", schema=None) as batch_op:
        batch_op.alter_column(
            "request_id", existing_type=sa.String(length=64), type_=sa.String(length=40), existing_nullable=False
        )
