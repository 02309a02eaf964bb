"""tenants of API keys; the key that owns each evaluation and image; jobs and evaluations found by key

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("tenant", sa.String(length=100), nullable=True))
    # Keys made before tenants existed: each is a tenant of its own, as a key made without --tenant is.
    op.execute("UPDATE api_keys SET tenant = id WHERE tenant IS NULL")
    op.create_index(op.f("ix_api_keys_tenant"), "api_keys", ["tenant"], unique=False)
    op.add_column("evaluations", sa.Column("key_id", sa.String(length=40), nullable=True))
    # A job's evaluations belong to the job's key.
    # (SQL both SQLite and PostgreSQL run: a correlated subquery, not UPDATE … FROM.)
    op.execute(
        "UPDATE evaluations SET key_id = (SELECT jobs.key_id FROM job_attempts JOIN jobs ON jobs.id = "
        "job_attempts.job_id WHERE job_attempts.evaluation_id = evaluations.id LIMIT 1) WHERE key_id IS NULL"
    )
    op.create_index(op.f("ix_evaluations_key_id"), "evaluations", ["key_id"], unique=False)
    op.create_index(op.f("ix_jobs_key_id"), "jobs", ["key_id"], unique=False)
    op.create_table(
        "image_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_id", "key_id", name="uq_image_owner_image_key"),
    )
    op.create_index(op.f("ix_image_owners_key_id"), "image_owners", ["key_id"], unique=False)
    # The images of jobs already made belong to their jobs' keys (uploads sent before had no recorded key).
    op.execute(
        "INSERT INTO image_owners (image_id, key_id, created_at) "
        "SELECT DISTINCT job_attempts.image_id, jobs.key_id, CURRENT_TIMESTAMP FROM job_attempts JOIN jobs "
        "ON jobs.id = job_attempts.job_id WHERE job_attempts.image_id IS NOT NULL AND jobs.key_id IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_image_owners_key_id"), table_name="image_owners")
    op.drop_table("image_owners")
    op.drop_index(op.f("ix_jobs_key_id"), table_name="jobs")
    op.drop_index(op.f("ix_evaluations_key_id"), table_name="evaluations")
    op.drop_column("evaluations", "key_id")
    op.drop_index(op.f("ix_api_keys_tenant"), table_name="api_keys")
    op.drop_column("api_keys", "tenant")
