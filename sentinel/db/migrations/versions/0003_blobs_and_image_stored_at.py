"""blobs in PostgreSQL; when each image was last stored, and purged by retention

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:38:12.995137
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("images", sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("images", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_images_stored_at"), "images", ["stored_at"], unique=False)
    # Images stored before this revision were last stored when they were first stored.
    op.execute("UPDATE images SET stored_at = created_at")
    if op.get_bind().dialect.name == "postgresql":
        # Images are compressed already: TOAST's compression would spend CPU for nothing, and uncompressed
        # out-of-line values let a reader fetch a slice without the whole value.
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_index(op.f("ix_images_stored_at"), table_name="images")
    op.drop_column("images", "purged_at")
    op.drop_column("images", "stored_at")
    op.drop_table("blobs")
