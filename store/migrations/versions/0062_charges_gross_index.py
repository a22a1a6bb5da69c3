"""the charges' (facility, posted_at) index carries status and amount

Revision ID: 0062
Revises: 0061
Create Date: 2026-12-07 23:00:00

DNFB days divides by the facility's average daily gross revenue: the charges and credits
not voided posted in the 30 days before its claims horizon. With status and amount in the
index that range is read from the index alone, not a table row per charge (0.47 -> 0.12 s
for the Overview's six reads at 250k usage events on SQLite). The same leading columns: no
other statement's plan moves.
"""

from alembic import op


revision = '0062'
down_revision = '0061'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_charges_facility_posted', table_name='charges')
    op.create_index('ix_charges_facility_posted', 'charges',
                    ['facility_id', 'posted_at', 'status', 'amount'])


def downgrade() -> None:
    op.drop_index('ix_charges_facility_posted', table_name='charges')
    op.create_index('ix_charges_facility_posted', 'charges', ['facility_id', 'posted_at'])
