"""metrics: the scratch sets of a pass (dirty encounters, stitching work sets) become
temporary tables created by each pass (``metrics.pass_tables``): they no longer go through
the WAL (SQLite) or write-ahead log (PostgreSQL), so the persistent ones are dropped

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-25 15:30:00
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

SCRATCH = ('metric_work_usages', 'metric_work_issues', 'metric_work_charges',
           'metric_dirty_encounters')


def upgrade() -> None:
    for name in SCRATCH:
        op.drop_table(name)


def downgrade() -> None:
    op.create_table('metric_dirty_encounters',
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('encounter_id', name=op.f('pk_metric_dirty_encounters'))
    )
    op.create_table('metric_work_charges',
    sa.Column('charge_id', sa.String(length=64), nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('cdm_code', sa.String(length=32), nullable=False),
    sa.Column('control_id', sa.String(length=64), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('posted_at', store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_metric_work_charges'))
    )
    with op.batch_alter_table('metric_work_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metric_work_charges_control_id'), ['control_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_metric_work_charges_encounter_id'), ['encounter_id'], unique=False)
    op.create_table('metric_work_issues',
    sa.Column('document_id', sa.String(length=64), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('posted_at', store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_metric_work_issues'))
    )
    with op.batch_alter_table('metric_work_issues', schema=None) as batch_op:
        batch_op.create_index('ix_metric_work_issues_spot', ['location_id', 'item_id'], unique=False)
    op.create_table('metric_work_usages',
    sa.Column('hop', sa.String(length=16), nullable=False),
    sa.Column('usage_id', sa.String(length=64), nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('cdm_code', sa.String(length=32), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('used_at', store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('hop', 'usage_id', name=op.f('pk_metric_work_usages'))
    )
    with op.batch_alter_table('metric_work_usages', schema=None) as batch_op:
        batch_op.create_index('ix_metric_work_usages_encounter', ['hop', 'encounter_id', 'cdm_code'], unique=False)
        batch_op.create_index('ix_metric_work_usages_spot', ['hop', 'location_id', 'item_id'], unique=False)
