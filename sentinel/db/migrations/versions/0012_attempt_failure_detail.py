"""job attempts keep what the provider said of a failure: the field it refused, its code, its Retry-After

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Attempts that failed before keep NULL: a judged request answers them without param, code or Retry-After.
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_param", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("failure_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("retry_after", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_attempts", schema=None) as batch_op:
        batch_op.drop_column("retry_after")
        batch_op.drop_column("failure_code")
        batch_op.drop_column("failure_param")
