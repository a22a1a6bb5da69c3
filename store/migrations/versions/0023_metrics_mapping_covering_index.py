"""metrics: the failed-mapping index of the usage facts covers what the exception queue
groups (subject, usage id, quantity, price), so each pass regroups the failed mappings
from the index alone

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-25 17:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

WHERE = sa.text("mapping_reason != ''")


def _recreate(columns: list[str]) -> None:
    with op.batch_alter_table('metric_usage_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_usage_facts_mapping', sqlite_where=WHERE,
                            postgresql_where=WHERE)
        batch_op.create_index('ix_metric_usage_facts_mapping', columns, unique=False,
                              sqlite_where=WHERE, postgresql_where=WHERE)


def upgrade() -> None:
    _recreate(['mapping_reason', 'facility_id', 'mapping_subject', 'usage_id', 'base_qty',
               'price'])


def downgrade() -> None:
    _recreate(['mapping_reason', 'facility_id'])
