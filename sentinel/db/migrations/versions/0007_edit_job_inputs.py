"""edit jobs keep their source and mask images

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 19:38:28.629184
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_image_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mask_image_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("mask_image_id")
        batch_op.drop_column("source_image_id")
