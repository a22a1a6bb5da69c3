"""inventory transactions indexed by spot and the time the stock moved

Revision ID: 0063
Revises: 0062
Create Date: 2026-12-07 23:10:00

An incremental pass looks for the unreferenced issues near each dirty scan: same location
and item, the stock moved (``coalesce(moved_at, posted_at)``) up to two days after the scan.
The spot index (location, item, posted_at) cannot range over that expression, so every
probe read the spot's whole history: 2.6 s of a pass at 3M usage events, growing with the
store. The pass now probes twice, transactions with a movement time by this index and
those without by the spot index, each over the two days (a plain column: SQLite's
reflection does not see expression indexes).
"""

from alembic import op

revision = '0063'
down_revision = '0062'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_metric_inventory_moved', 'inventory_transactions',
                    ['location_id', 'item_id', 'moved_at'])


def downgrade() -> None:
    op.drop_index('ix_metric_inventory_moved', table_name='inventory_transactions')
