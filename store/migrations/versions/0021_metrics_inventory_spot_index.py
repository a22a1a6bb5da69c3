"""metrics: the unreferenced-issue index becomes a spot index (location, item, posted time),
so an incremental pass probes issues from the few scans it redoes

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25 14:10:00
"""

from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inventory_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_inventory_unreferenced')
        batch_op.create_index('ix_metric_inventory_spot', ['location_id', 'item_id', 'posted_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inventory_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_inventory_spot')
        batch_op.create_index('ix_metric_inventory_unreferenced',
                              ['usage_id', 'location_id', 'item_id', 'posted_at'], unique=False)
