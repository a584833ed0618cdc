"""final sync owed: a terminal job's last fetch of events, metrics and checkpoints, kept in the row

Revision ID: 0003_i10
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003_i10"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("final_sync_owed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(op.f("ix_jobs_final_sync_owed"), "jobs", ["final_sync_owed"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_final_sync_owed"), table_name="jobs")
    op.drop_column("jobs", "final_sync_owed")
