"""alerting: evaluation run log (also the pass lock on SQLite), who ended a silence early,
outbox due-row index

Revision ID: 0030
Revises: 0004
Create Date: 2026-11-25 12:45:00
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0030'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_evaluations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', store.types.UtcDateTime(), nullable=False),
    sa.Column('started_at', store.types.UtcDateTime(), nullable=False),
    sa.Column('finished_at', store.types.UtcDateTime(), nullable=True),
    sa.Column('instances', sa.Integer(), server_default='0', nullable=False),
    sa.Column('transitions', sa.Integer(), server_default='0', nullable=False),
    sa.Column('firing', sa.Integer(), server_default='0', nullable=False),
    sa.Column('digests', sa.Integer(), server_default='0', nullable=False),
    sa.Column('queued', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped', sa.String(length=200), server_default='', nullable=False),
    sa.Column('rule_errors_json', sa.Text(), server_default='{}', nullable=False),
    sa.Column('rule_file_problems', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_evaluations'))
    )
    with op.batch_alter_table('alert_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_evaluations_at'), ['at'], unique=False)

    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expired_by', sa.String(length=200), server_default='',
                                      nullable=False))

    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_alert_outbox_status_next_attempt_at',
                              ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_outbox_status_next_attempt_at')
    with op.batch_alter_table('alert_silences', schema=None) as batch_op:
        batch_op.drop_column('expired_by')
    with op.batch_alter_table('alert_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_evaluations_at'))
    op.drop_table('alert_evaluations')
