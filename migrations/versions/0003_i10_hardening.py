"""hardening: a terminal job's final sync owed (kept in the row), provider webhook receipts (replays)

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
    op.create_table(
        "provider_webhook_receipts",
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
    )
    op.create_index(op.f("ix_provider_webhook_receipts_received_at"), "provider_webhook_receipts", ["received_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_provider_webhook_receipts_received_at"), table_name="provider_webhook_receipts")
    op.drop_table("provider_webhook_receipts")
    op.drop_index(op.f("ix_jobs_final_sync_owed"), table_name="jobs")
    op.drop_column("jobs", "final_sync_owed")
