"""claim answers: each claim's initial and latest remittance, kept by the metrics pass

Revision ID: 0060
Revises: 0059
Create Date: 2026-12-07 22:40:00

The denial metrics, underpayments, the denials Chargeline saw coming and encounter
reconciliation's payment gaps read each claim's initial and latest remittance. They ranked
every remittance of the window's claims on each read (0.1-0.3 s a read at 250k usage
events, several reads a page); the pass now keeps one row per claim and facility
(``metric_claim_answers``) for the claims whose remittances were ingested since its
watermark, and the reads take a range of its ``paid_at`` index. Existing stores fill it on
their next pass: the upgrade forgets the metrics watermark, so that pass is a full one
(until then the reads rank the remittances as before). An index of the remittances by
payer and payment date gives each payer's newest name by an index walk instead of a
ranking of every remittance.
"""

from alembic import op
import sqlalchemy as sa


revision = '0060'
down_revision = '0059'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=14, scale=2)


def _text(length: int) -> sa.types.TypeEngine:
    """A text column compared byte by byte on PostgreSQL (COLLATE "C", as every other)."""
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'metric_claim_answers',
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('payer_id', _text(64), nullable=False),
        sa.Column('remittance_id', _text(128), nullable=False),
        sa.Column('charge_amount', MONEY, nullable=False),
        sa.Column('paid_at', sa.DateTime(), nullable=False),
        sa.Column('denied', sa.Integer(), nullable=False),
        sa.Column('last_remittance_id', _text(128), nullable=False),
        sa.Column('last_paid_at', sa.DateTime(), nullable=False),
        sa.Column('last_denied', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('claim_id', 'facility_id', name=op.f('pk_metric_claim_answers')),
    )
    op.create_index('ix_metric_claim_answers_paid', 'metric_claim_answers', ['paid_at'])
    # each payer's newest name by an index walk (app.data.revenue.payer_names)
    op.create_index('ix_remittances_payer_paid', 'remittances', ['payer_id', 'paid_at'])
    # the table is filled by a full pass: the next pass is one
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def downgrade() -> None:
    op.drop_index('ix_remittances_payer_paid', table_name='remittances')
    op.drop_table('metric_claim_answers')
