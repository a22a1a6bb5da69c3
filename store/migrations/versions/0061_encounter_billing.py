"""encounter billing inputs (discharge, first billing claim, gross $ and postings, the
charges expected and missing) and the encounters each claim bills, kept by the metrics pass

Revision ID: 0061
Revises: 0060
Create Date: 2026-12-07 23:00:00

DNFB and encounter reconciliation's cohort start read every encounter of the facility's
claims history against the claims on each read (0.1-0.3 s per read and facility at 250k
usage events, growing with the history). The pass now keeps one row per encounter
(``metric_encounter_billing``): its discharge, when a billing claim first billed it, its
surviving charges' gross $ and first and last posting; the reads cut them at their claims
horizon and find the unbilled encounters by a range of the (facility, billed_at) index.
``metric_claim_encounters`` holds the encounters each claim bills (by name or through a
line's charge), which reconciliation's payment gaps read by encounter instead of joining
the claim lines to the charges of the whole cohort on each read.
Existing stores fill it on their next pass: the upgrade forgets the metrics watermark, so
that pass is a full one (until then the reads work from the canonical tables as before).
"""

from alembic import op
import sqlalchemy as sa


revision = '0061'
down_revision = '0060'
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine:
    """A text column compared byte by byte on PostgreSQL (COLLATE "C", as every other)."""
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'metric_encounter_billing',
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('discharged_at', sa.DateTime(), nullable=True),
        sa.Column('billed_at', sa.DateTime(), nullable=True),
        sa.Column('gross_usd', sa.Float(), nullable=False),
        sa.Column('first_posted_at', sa.DateTime(), nullable=True),
        sa.Column('last_posted_at', sa.DateTime(), nullable=True),
        sa.Column('expected', sa.Boolean(), nullable=False),
        sa.Column('charge_gaps', sa.Integer(), nullable=False),
        sa.Column('charge_gap_usd', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('encounter_id', name=op.f('pk_metric_encounter_billing')),
    )
    op.create_index('ix_metric_encounter_billing_billed', 'metric_encounter_billing',
                    ['facility_id', 'billed_at'])
    op.create_index('ix_metric_encounter_billing_discharged', 'metric_encounter_billing',
                    ['facility_id', 'discharged_at'])
    op.create_table(
        'metric_claim_encounters',
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('billing', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('claim_id', 'encounter_id',
                                name=op.f('pk_metric_claim_encounters')),
    )
    op.create_index('ix_metric_claim_encounters_encounter', 'metric_claim_encounters',
                    ['encounter_id'])
    # the tables are filled by a full pass: the next pass is one
    op.execute("DELETE FROM metric_state WHERE name = 'ingested_watermark'")


def downgrade() -> None:
    op.drop_table('metric_claim_encounters')
    op.drop_table('metric_encounter_billing')
