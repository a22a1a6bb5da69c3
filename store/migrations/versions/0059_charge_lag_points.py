"""charge lag in the usage points: charged usages and the sum of their scan-to-charge seconds

Revision ID: 0059
Revises: 0058
Create Date: 2026-12-07 18:10:00

The mean charge lag (``charge_lag_days_mean``) read as a sum over hour and day buckets, as
every other usage count is, instead of a scan of the window's usage facts (0.26 s a 7-day
window at 1M usages, twice on the Overview). Existing stores hold zeros in the new columns
until a full pass fills them: the upgrade forgets the metrics watermark, so the next pass
is a full one.
"""

from alembic import op
import sqlalchemy as sa


revision = '0059'
down_revision = '0058'
branch_labels = None
depends_on = None

COLUMNS = ('charged', 'charge_s_sum')


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column('metric_usage_points',
                      sa.Column(name, sa.Float(), server_default='0', nullable=False))
    # the points of earlier passes lack the new sums: the next pass rebuilds them all
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def downgrade() -> None:
    with op.batch_alter_table('metric_usage_points') as batch:
        for name in COLUMNS:
            batch.drop_column(name)
