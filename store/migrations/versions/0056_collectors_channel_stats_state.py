"""collectors: an engine snapshot keeps its channel's state and how many of its connectors
have messages waiting (channel_stats.state, channel_stats.waiting_connectors)

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-09 10:00:00

The Mirth and Rhapsody sources parsed each channel's state (STARTED, PAUSED, STOPPED ...)
and its connectors' queues but only logged them, so a stopped channel was invisible to the
dashboard and to rules. ``state`` is the engine's word normalised (started, paused,
stopped, deploying, undeployed, unknown; '' where the source does not say, which is every
row stored before this migration); ``waiting_connectors`` counts the connectors (Mirth)
or the communication point (Rhapsody) with messages waiting. On PostgreSQL the text column
is COLLATE "C" like every text column of the store (0050).
"""

import sqlalchemy as sa
from alembic import op

revision = '0056'
down_revision = '0055'
branch_labels = None
depends_on = None

STATE = sa.String(16).with_variant(sa.String(16, collation='C'), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('channel_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', STATE, nullable=False, server_default=''))
        batch_op.add_column(sa.Column('waiting_connectors', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('channel_stats', schema=None) as batch_op:
        batch_op.drop_column('waiting_connectors')
        batch_op.drop_column('state')
