"""drop the indexes whose column leads another index of the same table

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:46:12.498094
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

#: Revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index, table, column): each column leads a composite or unique index that serves the same lookups, so the
#: single-column index only cost every insert (one per evaluation, per vote, per job and per attempt) its upkeep.
COVERED = (
    ("ix_evaluations_created_at", "evaluations", "created_at"),  # ix_evaluations_created_at_id
    ("ix_jobs_created_at", "jobs", "created_at"),  # ix_jobs_created_at_id
    ("ix_votes_evaluation_id", "votes", "evaluation_id"),  # uq_vote_evaluation_judge
    ("ix_job_attempts_job_id", "job_attempts", "job_id"),  # uq_attempt_job_slot_number
)


def upgrade() -> None:
    for index, table, _column in COVERED:
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for index, table, column in COVERED:
        op.create_index(index, table, [column], unique=False)
