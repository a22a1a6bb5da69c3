"""collectors: collector_slots, one row per (source, schedule slot) claimed, so several
collector processes poll each source once per slot

Revision ID: 0010
Revises: 0002
Create Date: 2026-11-25 14:00:00
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0010'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('collector_slots',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('slot', store.types.UtcDateTime(), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('run_id', sa.String(length=36), server_default='', nullable=False),
    sa.Column('claimed_at', store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'slot', name=op.f('pk_collector_slots'))
    )


def downgrade() -> None:
    op.drop_table('collector_slots')
