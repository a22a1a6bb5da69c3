"""store: a channel's identity includes its facility (interface_messages, message_usages
and channel_stats keyed with facility_id)

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-08 09:30:00

Two facilities' engines may both have a channel named DFT_OUT, and their MSH-10 control
ids may repeat: keyed (channel, control_id), one facility's message overwrote the
other's. The keys become (channel, control_id, facility_id) for messages, (channel,
control_id, usage_id, facility_id) for their usage references and (channel, observed_at,
facility_id) for engine snapshots; channel and control id stay first so the joins and
look-ups that do not know the facility still use the key's prefix. A message without
MSH-4 keeps facility "" (the column's default, never NULL).

message_usages gets facility_id, filled from its message (each (channel, control_id)
names one message before this migration). On PostgreSQL the new column is COLLATE "C"
like every text column of the store (0050).
"""

import sqlalchemy as sa
from alembic import op

revision = '0052'
down_revision = '0051'
branch_labels = None
depends_on = None

FACILITY = sa.String(32).with_variant(sa.String(32, collation='C'), 'postgresql')
OLD_KEYS = {
    'interface_messages': ['channel', 'control_id'],
    'message_usages': ['channel', 'control_id', 'usage_id'],
    'channel_stats': ['channel', 'observed_at'],
}
NEW_KEYS = {
    'interface_messages': ['channel', 'control_id', 'facility_id'],
    'message_usages': ['channel', 'control_id', 'usage_id', 'facility_id'],
    'channel_stats': ['channel', 'observed_at', 'facility_id'],
}


def _rekey(keys: dict[str, list[str]]) -> None:
    for table, columns in keys.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'pk_{table}', type_='primary')
            batch_op.create_primary_key(f'pk_{table}', columns)


def upgrade() -> None:
    with op.batch_alter_table('message_usages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facility_id', FACILITY, nullable=False,
                                      server_default=''))
    op.execute("""
        UPDATE message_usages SET facility_id = coalesce((
            SELECT m.facility_id FROM interface_messages m
            WHERE m.channel = message_usages.channel
              AND m.control_id = message_usages.control_id), '')
    """)
    _rekey(NEW_KEYS)


def downgrade() -> None:
    # Two facilities' rows of one old key cannot both stay: the row whose facility sorts
    # first is kept (the old key could only ever hold one of them).
    for table, columns in OLD_KEYS.items():
        same = ' AND '.join(f'other.{c} = {table}.{c}' for c in columns)
        op.execute(f"""
            DELETE FROM {table} WHERE EXISTS (
                SELECT 1 FROM {table} other
                WHERE {same} AND other.facility_id < {table}.facility_id)
        """)
    _rekey(OLD_KEYS)
    with op.batch_alter_table('message_usages', schema=None) as batch_op:
        batch_op.drop_column('facility_id')
