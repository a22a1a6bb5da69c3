"""dashboard: server-side sign-in sessions (app_sessions) and wrong passwords
(app_login_failures)

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07 11:00:00

A session row per signed-in browser (its cookie carries a random id; the row keeps the
id's SHA-256), so sign-out and an admin's "end all sessions" revoke it and an idle one
lapses; one row per wrong password, read by account and by address to throttle. On
PostgreSQL the text columns are COLLATE "C" like every text column of the store (0050).
"""

import sqlalchemy as sa
from alembic import op

import store.types

revision = '0053'
down_revision = '0052'
branch_labels = None
depends_on = None


def _text(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'app_sessions',
        sa.Column('session_hash', _text(64), nullable=False),
        sa.Column('email', _text(254), nullable=False),
        sa.Column('address', _text(64), server_default='', nullable=False),
        sa.Column('created_at', store.types.UtcDateTime(), nullable=False),
        sa.Column('last_seen_at', store.types.UtcDateTime(), nullable=False),
        sa.Column('ended_at', store.types.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('session_hash', name=op.f('pk_app_sessions')),
    )
    op.create_index('ix_app_sessions_email', 'app_sessions', ['email'], unique=False)
    op.create_table(
        'app_login_failures',
        sa.Column('failure_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', store.types.UtcDateTime(), nullable=False),
        sa.Column('email', _text(254), nullable=False),
        sa.Column('address', _text(64), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('failure_id', name=op.f('pk_app_login_failures')),
    )
    op.create_index('ix_app_login_failures_email', 'app_login_failures', ['email', 'at'],
                    unique=False)
    op.create_index('ix_app_login_failures_address', 'app_login_failures', ['address', 'at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_app_login_failures_address', table_name='app_login_failures')
    op.drop_index('ix_app_login_failures_email', table_name='app_login_failures')
    op.drop_table('app_login_failures')
    op.drop_index('ix_app_sessions_email', table_name='app_sessions')
    op.drop_table('app_sessions')
