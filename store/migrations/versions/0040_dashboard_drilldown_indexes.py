"""dashboard: time indexes for the drill-down (newest-first pages and window counts) on
metric_usage_facts, usage_events and charges

Revision ID: 0040
Revises: 0005, 0020
Create Date: 2026-11-25 13:40:00

Off the dashboard's branch (0005) and after the metrics migration that creates
metric_usage_facts (0020): a merge point, so the order is guaranteed and every head stays a
head of the script too.
"""

from alembic import op
import sqlalchemy as sa


revision = '0040'
down_revision = ('0005', '0020')
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_app_usage_facts_used", "metric_usage_facts", ["used_at", "capture", "inventory"]),
    ("ix_app_usage_events_used", "usage_events", ["used_at"]),
    ("ix_app_charges_posted", "charges", ["posted_at"]),
)


def upgrade() -> None:
    existing = {(t, i["name"]) for t in {t for _, t, _ in INDEXES}
                for i in sa.inspect(op.get_bind()).get_indexes(t)}
    for name, table, columns in INDEXES:
        if (table, name) not in existing:  # a rebuilt metrics table may have lost it
            op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
