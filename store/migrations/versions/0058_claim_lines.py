"""claim lines (FHIR Claim.item / X12 837 loop 2400), stitched to charges and remittance lines

Revision ID: 0058
Revises: 0057
Create Date: 2026-12-07 16:40:00

A claim's service lines: revenue code, HCPCS/CPT and modifiers, units, charge $, service
date, the line item control number (837 REF*6R) the 835 echoes back, and the charge each
line bills when the source names it. Indexed by line control and charge for the stitching
(metrics.read.claims), which runs at read time.
"""

from alembic import op
import sqlalchemy as sa


revision = '0058'
down_revision = '0057'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=14, scale=2)
QTY = sa.Numeric(precision=12, scale=3)


def _text(length: int) -> sa.types.TypeEngine:
    """A text column compared byte by byte on PostgreSQL (COLLATE "C", as every other)."""
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'claim_lines',
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('line_control', _text(64), server_default='', nullable=False),
        sa.Column('revenue_code', _text(8), server_default='', nullable=False),
        sa.Column('procedure_code', _text(64), server_default='', nullable=False),
        sa.Column('modifiers', _text(64), server_default='', nullable=False),
        sa.Column('units', QTY, nullable=False),
        sa.Column('charge_amount', MONEY, nullable=True),
        sa.Column('service_on', sa.Date(), nullable=True),
        sa.Column('charge_id', _text(64), server_default='', nullable=False),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('claim_id', 'line_no', name=op.f('pk_claim_lines')),
    )
    op.create_index('ix_claim_lines_line_control', 'claim_lines', ['line_control'])
    op.create_index('ix_claim_lines_charge_id', 'claim_lines', ['charge_id'])
    op.create_index(op.f('ix_claim_lines_ingested_at'), 'claim_lines', ['ingested_at'])


def downgrade() -> None:
    op.drop_table('claim_lines')
