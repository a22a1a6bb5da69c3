"""collectors: ACKs read before the message they acknowledge (hl7_early_acks)

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-07 11:30:00

Engines that write their ACKs to a log of their own beside the message log (a file that
sorts first, or a flat ``DFT_OUT.ack.hl7``) hand Chargeline ACKs whose message it has not
read yet. They were dropped, and every such message stayed queued. They are kept here
until their message arrives.
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0055'
down_revision = '0054'
branch_labels = None
depends_on = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    # the store's text compares byte by byte on PostgreSQL (see 0050)
    kind = sa.String(length) if length else sa.Text()
    if op.get_bind().dialect.name == 'postgresql':
        kind = sa.String(length, collation='C') if length else sa.Text(collation='C')
    return kind


def upgrade() -> None:
    op.create_table('hl7_early_acks',
    sa.Column('source', _text(64), nullable=False),
    sa.Column('facility_id', _text(32), nullable=False),
    sa.Column('control_id', _text(64), nullable=False),
    sa.Column('channel', _text(64), nullable=False),
    sa.Column('sent_at', store.types.UtcDateTime(), nullable=False),
    sa.Column('ack_code', _text(2), nullable=False),
    sa.Column('error', _text(), server_default='', nullable=False),
    sa.Column('received_at', store.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'facility_id', 'control_id',
                            name=op.f('pk_hl7_early_acks'))
    )
    op.create_index('ix_hl7_early_acks_control', 'hl7_early_acks', ['control_id'])


def downgrade() -> None:
    op.drop_index('ix_hl7_early_acks_control', table_name='hl7_early_acks')
    op.drop_table('hl7_early_acks')
