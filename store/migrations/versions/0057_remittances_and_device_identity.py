"""remittances (X12 835 / FHIR ClaimResponse lines and adjustments) and a usage's UDI

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-07 14:10:00

The money end of the chain: a remittance per claim payment, its service lines and their
adjustments (CARC with a group code). A usage event keeps the device identifier and
expiry its UDI carried, and lot, serial and UDI-DI get partial indexes for recalls.
"""

from alembic import op
import sqlalchemy as sa


revision = '0057'
down_revision = '0056'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=14, scale=2)
QTY = sa.Numeric(precision=12, scale=3)


def _text(length: int) -> sa.types.TypeEngine:
    """A text column compared byte by byte on PostgreSQL (COLLATE "C", as every other)."""
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def _lineage() -> list[sa.Column]:
    return [
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        'remittances',
        sa.Column('remittance_id', _text(128), nullable=False),
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('payer_id', _text(64), server_default='', nullable=False),
        sa.Column('payer_name', _text(200), server_default='', nullable=False),
        sa.Column('status_code', _text(4), nullable=False),
        sa.Column('charge_amount', MONEY, nullable=False),
        sa.Column('paid_amount', MONEY, nullable=False),
        sa.Column('patient_responsibility', MONEY, nullable=False),
        sa.Column('payer_claim_id', _text(64), server_default='', nullable=False),
        sa.Column('paid_at', sa.DateTime(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=True),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        *_lineage(),
        sa.PrimaryKeyConstraint('remittance_id', name=op.f('pk_remittances')),
    )
    op.create_index(op.f('ix_remittances_claim_id'), 'remittances', ['claim_id'])
    op.create_index(op.f('ix_remittances_paid_at'), 'remittances', ['paid_at'])
    op.create_index(op.f('ix_remittances_ingested_at'), 'remittances', ['ingested_at'])
    op.create_table(
        'remittance_lines',
        sa.Column('remittance_id', _text(128), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('line_control', _text(64), server_default='', nullable=False),
        sa.Column('procedure_code', _text(64), server_default='', nullable=False),
        sa.Column('revenue_code', _text(8), server_default='', nullable=False),
        sa.Column('charge_amount', MONEY, nullable=False),
        sa.Column('paid_amount', MONEY, nullable=False),
        sa.Column('units', QTY, nullable=False),
        sa.Column('service_on', sa.Date(), nullable=True),
        sa.Column('remark_codes', _text(200), server_default='', nullable=False),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        *_lineage(),
        sa.PrimaryKeyConstraint('remittance_id', 'line_no', name=op.f('pk_remittance_lines')),
    )
    op.create_index(op.f('ix_remittance_lines_claim_id'), 'remittance_lines', ['claim_id'])
    op.create_index(op.f('ix_remittance_lines_ingested_at'), 'remittance_lines',
                    ['ingested_at'])
    op.create_table(
        'remittance_adjustments',
        sa.Column('remittance_id', _text(128), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('group_code', _text(4), nullable=False),
        sa.Column('reason_code', _text(8), nullable=False),
        sa.Column('amount', MONEY, nullable=False),
        sa.Column('quantity', QTY, nullable=True),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        *_lineage(),
        sa.PrimaryKeyConstraint('remittance_id', 'line_no', 'seq',
                                name=op.f('pk_remittance_adjustments')),
    )
    op.create_index(op.f('ix_remittance_adjustments_claim_id'), 'remittance_adjustments',
                    ['claim_id'])
    op.create_index(op.f('ix_remittance_adjustments_ingested_at'), 'remittance_adjustments',
                    ['ingested_at'])
    with op.batch_alter_table('usage_events') as batch:
        batch.add_column(sa.Column('udi_di', _text(14), server_default='', nullable=False))
        batch.add_column(sa.Column('expires_on', sa.Date(), nullable=True))
    for col in ('lot', 'serial', 'udi_di'):
        op.create_index(f'ix_usage_events_{col}', 'usage_events', [col],
                        sqlite_where=sa.text(f"{col} <> ''"),
                        postgresql_where=sa.text(f"{col} <> ''"))


def downgrade() -> None:
    for col in ('lot', 'serial', 'udi_di'):
        op.drop_index(f'ix_usage_events_{col}', table_name='usage_events')
    with op.batch_alter_table('usage_events') as batch:
        batch.drop_column('expires_on')
        batch.drop_column('udi_di')
    for table in ('remittance_adjustments', 'remittance_lines', 'remittances'):
        op.drop_table(table)
