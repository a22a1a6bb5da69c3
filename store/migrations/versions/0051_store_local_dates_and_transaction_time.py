"""store: a scan's local calendar date (usage_events.used_on) and an ERP transaction's
stock-movement time (inventory_transactions.moved_at)

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07 10:15:00

Real estates write times with the facility's UTC offset, and a charge's service date is
the facility's local date: a scan at 19:04 -05:00 is a charge of that day, not of the
next UTC day. ERPs book a document hours after the stock moved; pairing by posting time
mismatches issues and scans. Existing scans get their UTC date (what the metrics used
before); the derived tables are rebuilt by the next full pass (the watermark is dropped).
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0051'
down_revision = '0050'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('used_on', sa.Date(), nullable=True))
    with op.batch_alter_table('inventory_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moved_at', store.types.UtcDateTime(), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("UPDATE usage_events SET used_on = substr(used_at, 1, 10)")
    else:
        op.execute("UPDATE usage_events SET used_on = CAST(used_at AS date)")
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def downgrade() -> None:
    with op.batch_alter_table('inventory_transactions', schema=None) as batch_op:
        batch_op.drop_column('moved_at')
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.drop_column('used_on')
