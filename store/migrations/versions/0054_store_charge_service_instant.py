"""store: a charge's service instant (charges.service_at), where the billing system sends
one

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07 11:00:00

A charge that lost its usage reference is matched to a scan of its encounter, CDM and
local service date; when two scans of that key are charged, the service instant (FHIR
``occurrenceDateTime``, the time of the scan) pairs each charge with its own scan where
the posting order would swap them. Existing rows keep NULL (they pair by posting time as
before) until re-ingested.
"""

from alembic import op
import sqlalchemy as sa
import store.types


revision = '0054'
down_revision = '0053'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_at', store.types.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_column('service_at')
