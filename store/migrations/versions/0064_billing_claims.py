"""each billing claim's facility and creation, kept by the metrics pass for the claims
horizons

Revision ID: 0064
Revises: 0063
Create Date: 2026-12-08 01:30:00

Every revenue-cycle read starts from each facility's claims horizon: its newest billing
claim created by the read's ``now``. The claims table has no (facility, created_at) index
(one there drew other claim reads onto it, which SQLite plans without statistics), so each
read grouped every claim of the store, some dozen times a page (28 ms each at 250k usage
events, growing with the claims). The pass now keeps the billing claims' facility and
creation in ``metric_billing_claims`` with that index, which no canonical read sees; a
horizon is one index probe per facility. Existing stores fill it on their next pass: the
upgrade forgets the metrics watermark, so that pass is a full one (until then the reads
group the claims as before).
"""

from alembic import op
import sqlalchemy as sa


revision = '0064'
down_revision = '0063'
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine:
    """A text column compared byte by byte on PostgreSQL (COLLATE "C", as every other)."""
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'metric_billing_claims',
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_metric_billing_claims')),
    )
    op.create_index('ix_metric_billing_claims_created', 'metric_billing_claims',
                    ['facility_id', 'created_at'])
    # the table is filled by a full pass: the next pass is one
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def downgrade() -> None:
    op.drop_table('metric_billing_claims')
