"""metrics: each duplicate extra carries its linked usage, facility, location, item class,
bucket, posted time, quantity and $, so the duplicate points and the exception queue read
the extras alone; the table is derived, so it is recreated empty and the watermark dropped:
the next pass is full and fills it

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-25 18:00:00
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

CARRIED = ['usage_id', 'facility_id', 'location_id', 'item_class', 'bucket', 'posted_at',
           'quantity', 'amount']


def _create(carried: bool) -> None:
    extra = [
        sa.Column('usage_id', sa.String(length=64), server_default='', nullable=False),
        sa.Column('facility_id', sa.String(length=32), server_default='', nullable=False),
        sa.Column('location_id', sa.String(length=64), server_default='', nullable=False),
        sa.Column('item_class', sa.String(length=16), server_default='', nullable=False),
        sa.Column('bucket', store.types.UtcDateTime(), nullable=False),
        sa.Column('posted_at', store.types.UtcDateTime(), nullable=False),
        sa.Column('quantity', sa.Float(), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
    ] if carried else []
    op.create_table('metric_duplicates',
    sa.Column('charge_id', sa.String(length=64), nullable=False),
    sa.Column('dup_of', sa.String(length=64), nullable=False),
    sa.Column('dup_key', sa.String(length=16), nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    *extra,
    sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_metric_duplicates'))
    )
    with op.batch_alter_table('metric_duplicates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metric_duplicates_dup_of'), ['dup_of'], unique=False)
        batch_op.create_index(batch_op.f('ix_metric_duplicates_encounter_id'), ['encounter_id'], unique=False)


def _recreate(carried: bool) -> None:
    op.drop_table('metric_duplicates')
    _create(carried)
    # Without a watermark the next pass is full: it refills every derived table.
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
