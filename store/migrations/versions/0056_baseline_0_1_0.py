"""baseline 0.1.0: the whole store schema in one migration

Revision ID: 0056
Revises:
Create Date: 2026-12-07 13:30:00

Chargeline 0.1.0 is unreleased, so its twenty pre-release migrations (0001 ... 0056,
several of which rebuilt the tables of an earlier one) are folded into this one. It
creates exactly the schema that chain created: same tables, column order, types, server
defaults, keys, unique constraints, foreign key and indexes (partial ones included), on
SQLite and on PostgreSQL. It keeps the revision id of that chain's head, so a store
migrated to 0056 is simply at this baseline; a store at an older pre-release revision
cannot be upgraded any more (``store.migrate.upgrade`` says so and what to do).

Written out table by table on purpose, not ``metadata.create_all``: a migration must
create the schema of its day, whatever the models say later. Types are the plain
SQLAlchemy ones the models' types compile to (``store.types.UtcDateTime`` is a naive
``DateTime``), so the baseline does not move when the code does.
"""

from alembic import op
import sqlalchemy as sa


revision = '0056'
down_revision = None
branch_labels = None
depends_on = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    """A text column of the store: on PostgreSQL it compares byte by byte (COLLATE "C"),
    like every text column of the store; SQLite compares bytes already (BINARY). Its
    text is ids and codes, joined, grouped and indexed by every metrics pass; a
    linguistic collation calls strcoll per comparison and sorts 2-3x slower."""
    if length is None:
        return sa.Text().with_variant(sa.Text(collation='C'), 'postgresql')
    return sa.String(length).with_variant(sa.String(length, collation='C'), 'postgresql')


# Every table, in creation order (api_calls refers to collector_runs); dropped in reverse.
TABLES = (
    'alert_actions',
    'alert_evaluations',
    'alert_instances',
    'alert_outbox',
    'alert_silences',
    'alert_state_history',
    'app_audit_log',
    'app_login_failures',
    'app_sessions',
    'app_user_roles',
    'app_users',
    'cdm_entries',
    'channel_stats',
    'charges',
    'claim_outcomes',
    'claims',
    'collector_runs',
    'collector_slots',
    'contract_prices',
    'crosswalks',
    'encounters',
    'facilities',
    'hl7_early_acks',
    'interface_messages',
    'inventory_transactions',
    'item_uoms',
    'items',
    'locations',
    'message_usages',
    'metric_charge_facts',
    'metric_duplicates',
    'metric_exceptions',
    'metric_feed_sources',
    'metric_links',
    'metric_points',
    'metric_state',
    'metric_usage_facts',
    'metric_usage_points',
    'metric_work_items',
    'notification_groups',
    'quarantined_records',
    'reorder_points',
    'replenishment_documents',
    'rule_file_versions',
    'source_leases',
    'source_watermarks',
    'usage_events',
    'api_calls',
)


def upgrade() -> None:
    op.create_table(
        'alert_actions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('fingerprint', _text(400), nullable=False),
        sa.Column('action', _text(16), nullable=False),
        sa.Column('value', _text(200), server_default='', nullable=False),
        sa.Column('comment', _text(), server_default='', nullable=False),
        sa.Column('actor', _text(200), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_actions')),
    )
    op.create_index(
        op.f('ix_alert_actions_fingerprint'), 'alert_actions', ['fingerprint'], unique=False
    )
    op.create_table(
        'alert_evaluations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('instances', sa.Integer(), server_default='0', nullable=False),
        sa.Column('transitions', sa.Integer(), server_default='0', nullable=False),
        sa.Column('firing', sa.Integer(), server_default='0', nullable=False),
        sa.Column('digests', sa.Integer(), server_default='0', nullable=False),
        sa.Column('queued', sa.Integer(), server_default='0', nullable=False),
        sa.Column('skipped', _text(200), server_default='', nullable=False),
        sa.Column('rule_errors_json', _text(), server_default='{}', nullable=False),
        sa.Column('rule_file_problems', _text(), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_evaluations')),
    )
    op.create_index(op.f('ix_alert_evaluations_at'), 'alert_evaluations', ['at'], unique=False)
    op.create_table(
        'alert_instances',
        sa.Column('fingerprint', _text(400), nullable=False),
        sa.Column('rule_id', _text(80), nullable=False),
        sa.Column('owner', _text(80), server_default='', nullable=False),
        sa.Column('scope_json', _text(), nullable=False),
        sa.Column('state', _text(16), nullable=False),
        sa.Column('level', _text(8), server_default='', nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('amount', sa.Float(), nullable=True),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('detail_json', _text(), server_default='{}', nullable=False),
        sa.Column('error', _text(), server_default='', nullable=False),
        sa.Column('state_since', sa.DateTime(), nullable=False),
        sa.Column('evaluated_at', sa.DateTime(), nullable=False),
        sa.Column('pending_since', sa.DateTime(), nullable=True),
        sa.Column('firing_since', sa.DateTime(), nullable=True),
        sa.Column('clear_since', sa.DateTime(), nullable=True),
        sa.Column('ack_by', _text(200), server_default='', nullable=False),
        sa.Column('ack_at', sa.DateTime(), nullable=True),
        sa.Column('assignee', _text(200), server_default='', nullable=False),
        sa.Column('status', _text(24), server_default='', nullable=False),
        sa.Column('status_comment', _text(), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_alert_instances')),
    )
    op.create_index(
        op.f('ix_alert_instances_rule_id'), 'alert_instances', ['rule_id'], unique=False
    )
    op.create_index(op.f('ix_alert_instances_state'), 'alert_instances', ['state'], unique=False)
    op.create_table(
        'alert_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('dedupe_key', _text(64), nullable=False),
        sa.Column('message_id', _text(200), nullable=False),
        sa.Column('owner', _text(80), nullable=False),
        sa.Column('recipient', _text(200), nullable=False),
        sa.Column('subject', _text(300), nullable=False),
        sa.Column('body_text', _text(), nullable=False),
        sa.Column('body_html', _text(), nullable=False),
        sa.Column('status', _text(12), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('last_error', _text(), server_default='', nullable=False),
        sa.Column('claimed_by', _text(120), server_default='', nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_outbox')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_alert_outbox_dedupe_key')),
    )
    op.create_index(op.f('ix_alert_outbox_status'), 'alert_outbox', ['status'], unique=False)
    op.create_index(
        'ix_alert_outbox_status_next_attempt_at',
        'alert_outbox',
        ['status', 'next_attempt_at'],
        unique=False,
    )
    op.create_table(
        'alert_silences',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('matchers_json', _text(), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.Column('author', _text(200), nullable=False),
        sa.Column('comment', _text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expired_by', _text(200), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_silences')),
    )
    op.create_index(op.f('ix_alert_silences_ends_at'), 'alert_silences', ['ends_at'], unique=False)
    op.create_table(
        'alert_state_history',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('fingerprint', _text(400), nullable=False),
        sa.Column('rule_id', _text(80), nullable=False),
        sa.Column('from_state', _text(16), nullable=False),
        sa.Column('to_state', _text(16), nullable=False),
        sa.Column('level', _text(8), server_default='', nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('reason', _text(), server_default='', nullable=False),
        sa.Column('notify', _text(16), server_default='', nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_state_history')),
    )
    op.create_index(
        'ix_alert_state_history_fingerprint_at',
        'alert_state_history',
        ['fingerprint', 'at'],
        unique=False,
    )
    op.create_table(
        'app_audit_log',
        sa.Column('audit_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', _text(254), nullable=False),
        sa.Column('action', _text(64), nullable=False),
        sa.Column('target', _text(300), server_default='', nullable=False),
        sa.Column('reason', _text(), server_default='', nullable=False),
        sa.Column('detail', _text(), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('audit_id', name=op.f('pk_app_audit_log')),
    )
    op.create_index('ix_app_audit_log_at', 'app_audit_log', ['at'], unique=False)
    op.create_table(
        'app_login_failures',
        sa.Column('failure_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('email', _text(254), nullable=False),
        sa.Column('address', _text(64), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('failure_id', name=op.f('pk_app_login_failures')),
    )
    op.create_index(
        'ix_app_login_failures_address', 'app_login_failures', ['address', 'at'], unique=False
    )
    op.create_index(
        'ix_app_login_failures_email', 'app_login_failures', ['email', 'at'], unique=False
    )
    op.create_table(
        'app_sessions',
        sa.Column('session_hash', _text(64), nullable=False),
        sa.Column('email', _text(254), nullable=False),
        sa.Column('address', _text(64), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('session_hash', name=op.f('pk_app_sessions')),
    )
    op.create_index(op.f('ix_app_sessions_email'), 'app_sessions', ['email'], unique=False)
    op.create_table(
        'app_user_roles',
        sa.Column('email', _text(254), nullable=False),
        sa.Column('role', _text(32), nullable=False),
        sa.PrimaryKeyConstraint('email', 'role', name=op.f('pk_app_user_roles')),
    )
    op.create_table(
        'app_users',
        sa.Column('email', _text(254), nullable=False),
        sa.Column('password_hash', _text(200), server_default='', nullable=False),
        sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_login_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('email', name=op.f('pk_app_users')),
    )
    op.create_table(
        'cdm_entries',
        sa.Column('cdm_code', _text(32), nullable=False),
        sa.Column('description', _text(300), nullable=False),
        sa.Column('hcpcs', _text(16), server_default='', nullable=False),
        sa.Column('revenue_code', _text(8), server_default='', nullable=False),
        sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('cdm_code', name=op.f('pk_cdm_entries')),
    )
    op.create_index(
        op.f('ix_cdm_entries_ingested_at'), 'cdm_entries', ['ingested_at'], unique=False
    )
    op.create_table(
        'channel_stats',
        sa.Column('channel', _text(64), nullable=False),
        sa.Column('observed_at', sa.DateTime(), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('received', sa.BigInteger(), nullable=False),
        sa.Column('filtered', sa.BigInteger(), nullable=False),
        sa.Column('queued', sa.BigInteger(), nullable=False),
        sa.Column('sent', sa.BigInteger(), nullable=False),
        sa.Column('errored', sa.BigInteger(), nullable=False),
        sa.Column('oldest_queued_at', sa.DateTime(), nullable=True),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.Column('state', _text(16), server_default='', nullable=False),
        sa.Column('waiting_connectors', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint(
            'channel', 'observed_at', 'facility_id', name=op.f('pk_channel_stats')
        ),
    )
    op.create_index(
        op.f('ix_channel_stats_ingested_at'), 'channel_stats', ['ingested_at'], unique=False
    )
    op.create_table(
        'charges',
        sa.Column('charge_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('patient_token', _text(32), server_default='', nullable=False),
        sa.Column('cdm_code', _text(32), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('service_date', sa.Date(), nullable=False),
        sa.Column('posted_at', sa.DateTime(), nullable=False),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('reverses_charge_id', _text(64), server_default='', nullable=False),
        sa.Column('usage_id', _text(64), server_default='', nullable=False),
        sa.Column('control_id', _text(64), server_default='', nullable=False),
        sa.Column('lot', _text(64), server_default='', nullable=False),
        sa.Column('serial', _text(64), server_default='', nullable=False),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.Column('service_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_charges')),
    )
    op.create_index('ix_app_charges_posted', 'charges', ['posted_at'], unique=False)
    op.create_index(op.f('ix_charges_control_id'), 'charges', ['control_id'], unique=False)
    op.create_index(op.f('ix_charges_encounter_id'), 'charges', ['encounter_id'], unique=False)
    op.create_index(
        'ix_charges_facility_posted', 'charges', ['facility_id', 'posted_at'], unique=False
    )
    op.create_index(op.f('ix_charges_ingested_at'), 'charges', ['ingested_at'], unique=False)
    op.create_index(op.f('ix_charges_usage_id'), 'charges', ['usage_id'], unique=False)
    op.create_index('ix_metric_charges_reverses', 'charges', ['reverses_charge_id'], unique=False)
    op.create_index('ix_metric_charges_serial', 'charges', ['serial'], unique=False)
    op.create_table(
        'claim_outcomes',
        sa.Column('response_id', _text(64), nullable=False),
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('outcome', _text(32), server_default='', nullable=False),
        sa.Column('paid_amount', sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('response_id', name=op.f('pk_claim_outcomes')),
    )
    op.create_index('ix_claim_outcomes_claim_id', 'claim_outcomes', ['claim_id'], unique=False)
    op.create_table(
        'claims',
        sa.Column('claim_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('patient_token', _text(32), server_default='', nullable=False),
        sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('status', _text(32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('outcome', _text(32), server_default='', nullable=False),
        sa.Column('paid_amount', sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column('last_updated', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_claims')),
    )
    op.create_index(op.f('ix_claims_encounter_id'), 'claims', ['encounter_id'], unique=False)
    op.create_index(op.f('ix_claims_ingested_at'), 'claims', ['ingested_at'], unique=False)
    op.create_table(
        'collector_runs',
        sa.Column('run_id', _text(36), nullable=False),
        sa.Column('source', _text(64), nullable=False),
        sa.Column('collector_id', _text(128), server_default='', nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('status', _text(16), nullable=False),
        sa.Column('records', sa.Integer(), server_default='0', nullable=False),
        sa.Column('quarantined', sa.Integer(), server_default='0', nullable=False),
        sa.Column('error_class', _text(64), server_default='', nullable=False),
        sa.Column('error', _text(), server_default='', nullable=False),
        sa.Column('newest_record_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('run_id', name=op.f('pk_collector_runs')),
    )
    op.create_index(
        'ix_collector_runs_source_started', 'collector_runs', ['source', 'started_at'], unique=False
    )
    op.create_table(
        'collector_slots',
        sa.Column('source', _text(64), nullable=False),
        sa.Column('slot', sa.DateTime(), nullable=False),
        sa.Column('holder', _text(128), nullable=False),
        sa.Column('run_id', _text(36), server_default='', nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('source', 'slot', name=op.f('pk_collector_slots')),
    )
    op.create_table(
        'contract_prices',
        sa.Column('contract_id', _text(64), nullable=False),
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('supplier', _text(200), nullable=False),
        sa.Column('price', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('modified_at', sa.DateTime(), nullable=True),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_contract_prices')),
    )
    op.create_index(
        op.f('ix_contract_prices_ingested_at'), 'contract_prices', ['ingested_at'], unique=False
    )
    op.create_index(
        op.f('ix_contract_prices_item_id'), 'contract_prices', ['item_id'], unique=False
    )
    op.create_table(
        'crosswalks',
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('cdm_code', _text(32), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('item_id', name=op.f('pk_crosswalks')),
    )
    op.create_index(op.f('ix_crosswalks_cdm_code'), 'crosswalks', ['cdm_code'], unique=False)
    op.create_index(op.f('ix_crosswalks_ingested_at'), 'crosswalks', ['ingested_at'], unique=False)
    op.create_table(
        'encounters',
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('patient_token', _text(32), server_default='', nullable=False),
        sa.Column('encounter_class', _text(32), server_default='', nullable=False),
        sa.Column('procedure_code', _text(16), server_default='', nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('last_updated', sa.DateTime(), nullable=True),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('encounter_id', name=op.f('pk_encounters')),
    )
    op.create_index(op.f('ix_encounters_facility_id'), 'encounters', ['facility_id'], unique=False)
    op.create_index(op.f('ix_encounters_ingested_at'), 'encounters', ['ingested_at'], unique=False)
    op.create_table(
        'facilities',
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('name', _text(200), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('facility_id', name=op.f('pk_facilities')),
    )
    op.create_index(op.f('ix_facilities_ingested_at'), 'facilities', ['ingested_at'], unique=False)
    op.create_table(
        'hl7_early_acks',
        sa.Column('source', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('control_id', _text(64), nullable=False),
        sa.Column('channel', _text(64), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.Column('ack_code', _text(2), nullable=False),
        sa.Column('error', _text(), server_default='', nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            'source', 'facility_id', 'control_id', name=op.f('pk_hl7_early_acks')
        ),
    )
    op.create_index('ix_hl7_early_acks_control', 'hl7_early_acks', ['control_id'], unique=False)
    op.create_table(
        'interface_messages',
        sa.Column('channel', _text(64), nullable=False),
        sa.Column('control_id', _text(64), nullable=False),
        sa.Column('message_type', _text(16), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('encounter_id', _text(64), server_default='', nullable=False),
        sa.Column('patient_token', _text(32), server_default='', nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('status', _text(1), nullable=False),
        sa.Column('ack_code', _text(2), nullable=True),
        sa.Column('error', _text(), server_default='', nullable=False),
        sa.Column('resend_of', _text(64), server_default='', nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            'channel', 'control_id', 'facility_id', name=op.f('pk_interface_messages')
        ),
    )
    op.create_index(
        'ix_interface_messages_channel_received',
        'interface_messages',
        ['channel', 'received_at'],
        unique=False,
    )
    op.create_index(
        'ix_interface_messages_control_id', 'interface_messages', ['control_id'], unique=False
    )
    op.create_index(
        op.f('ix_interface_messages_ingested_at'),
        'interface_messages',
        ['ingested_at'],
        unique=False,
    )
    op.create_index(
        'ix_metric_messages_received', 'interface_messages', ['received_at'], unique=False
    )
    op.create_table(
        'inventory_transactions',
        sa.Column('document_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('txn_type', _text(16), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('uom', _text(8), nullable=False),
        sa.Column('lot', _text(64), server_default='', nullable=False),
        sa.Column('serial', _text(64), server_default='', nullable=False),
        sa.Column('usage_id', _text(64), server_default='', nullable=False),
        sa.Column('unit_cost', sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column('posted_at', sa.DateTime(), nullable=False),
        sa.Column('modified_at', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.Column('moved_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('document_id', name=op.f('pk_inventory_transactions')),
    )
    op.create_index(
        'ix_inventory_transactions_facility_posted',
        'inventory_transactions',
        ['facility_id', 'posted_at'],
        unique=False,
    )
    op.create_index(
        op.f('ix_inventory_transactions_ingested_at'),
        'inventory_transactions',
        ['ingested_at'],
        unique=False,
    )
    op.create_index(
        op.f('ix_inventory_transactions_usage_id'),
        'inventory_transactions',
        ['usage_id'],
        unique=False,
    )
    op.create_index(
        'ix_metric_inventory_spot',
        'inventory_transactions',
        ['location_id', 'item_id', 'posted_at'],
        unique=False,
    )
    op.create_table(
        'item_uoms',
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('uom', _text(8), nullable=False),
        sa.Column('factor', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('item_id', 'uom', name=op.f('pk_item_uoms')),
    )
    op.create_index(op.f('ix_item_uoms_ingested_at'), 'item_uoms', ['ingested_at'], unique=False)
    op.create_table(
        'items',
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('description', _text(300), nullable=False),
        sa.Column('uom', _text(8), nullable=False),
        sa.Column('unit_cost', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('item_class', _text(16), nullable=False),
        sa.Column('chargeable', sa.Boolean(), nullable=False),
        sa.Column('serialised', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('gtin', _text(20), server_default='', nullable=False),
        sa.Column('modified_at', sa.DateTime(), nullable=True),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('item_id', name=op.f('pk_items')),
    )
    op.create_index(op.f('ix_items_gtin'), 'items', ['gtin'], unique=False)
    op.create_index(op.f('ix_items_ingested_at'), 'items', ['ingested_at'], unique=False)
    op.create_table(
        'locations',
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('name', _text(200), nullable=False),
        sa.Column('cost_centre', _text(32), server_default='', nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('location_id', name=op.f('pk_locations')),
    )
    op.create_index(op.f('ix_locations_facility_id'), 'locations', ['facility_id'], unique=False)
    op.create_index(op.f('ix_locations_ingested_at'), 'locations', ['ingested_at'], unique=False)
    op.create_table(
        'message_usages',
        sa.Column('channel', _text(64), nullable=False),
        sa.Column('control_id', _text(64), nullable=False),
        sa.Column('usage_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.PrimaryKeyConstraint(
            'channel', 'control_id', 'usage_id', 'facility_id', name=op.f('pk_message_usages')
        ),
    )
    op.create_index('ix_message_usages_usage_id', 'message_usages', ['usage_id'], unique=False)
    op.create_index(
        'ix_metric_message_usages_control', 'message_usages', ['control_id'], unique=False
    )
    op.create_table(
        'metric_charge_facts',
        sa.Column('charge_id', _text(64), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('bucket', sa.DateTime(), nullable=False),
        sa.Column('posted_at', sa.DateTime(), nullable=False),
        sa.Column('usage_id', _text(64), server_default='', nullable=False),
        sa.Column('link_method', _text(24), server_default='', nullable=False),
        sa.Column('kind', _text(8), nullable=False),
        sa.Column('surviving', sa.Boolean(), nullable=False),
        sa.Column('quantity', sa.Float(), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_metric_charge_facts')),
    )
    op.create_index(
        op.f('ix_metric_charge_facts_encounter_id'),
        'metric_charge_facts',
        ['encounter_id'],
        unique=False,
    )
    op.create_index(
        'ix_metric_charge_facts_usage', 'metric_charge_facts', ['usage_id'], unique=False
    )
    op.create_table(
        'metric_duplicates',
        sa.Column('charge_id', _text(64), nullable=False),
        sa.Column('dup_of', _text(64), nullable=False),
        sa.Column('dup_key', _text(16), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('usage_id', _text(64), server_default='', nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('location_id', _text(64), server_default='', nullable=False),
        sa.Column('item_class', _text(16), server_default='', nullable=False),
        sa.Column('bucket', sa.DateTime(), nullable=False),
        sa.Column('posted_at', sa.DateTime(), nullable=False),
        sa.Column('quantity', sa.Float(), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_metric_duplicates')),
    )
    op.create_index(
        op.f('ix_metric_duplicates_dup_of'), 'metric_duplicates', ['dup_of'], unique=False
    )
    op.create_index(
        op.f('ix_metric_duplicates_encounter_id'),
        'metric_duplicates',
        ['encounter_id'],
        unique=False,
    )
    op.create_table(
        'metric_exceptions',
        sa.Column('exception_id', _text(200), nullable=False),
        sa.Column('kind', _text(32), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('subject', _text(130), nullable=False),
        sa.Column('usage_ids', _text(), server_default='', nullable=False),
        sa.Column('charge_ids', _text(), server_default='', nullable=False),
        sa.Column('amount', sa.Float(), server_default='0', nullable=False),
        sa.Column('first_seen', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.Column('status', _text(24), server_default='open', nullable=False),
        sa.Column('assignee', _text(200), server_default='', nullable=False),
        sa.Column('status_changed_at', sa.DateTime(), nullable=True),
        sa.Column('auto_resolved', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('encounter_id', _text(64), server_default='', nullable=False),
        sa.Column('usage_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('detail', _text(), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('exception_id', name=op.f('pk_metric_exceptions')),
    )
    op.create_index(op.f('ix_metric_exceptions_kind'), 'metric_exceptions', ['kind'], unique=False)
    op.create_table(
        'metric_feed_sources',
        sa.Column('feed', _text(32), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('source', _text(64), nullable=False),
        sa.PrimaryKeyConstraint(
            'feed', 'facility_id', 'source', name=op.f('pk_metric_feed_sources')
        ),
    )
    op.create_table(
        'metric_links',
        sa.Column('hop', _text(16), nullable=False),
        sa.Column('target_id', _text(130), nullable=False),
        sa.Column('usage_id', _text(64), nullable=False),
        sa.Column('method', _text(24), nullable=False),
        sa.Column('encounter_id', _text(64), server_default='', nullable=False),
        sa.Column('at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('hop', 'target_id', name=op.f('pk_metric_links')),
    )
    op.create_index('ix_metric_links_encounter', 'metric_links', ['encounter_id'], unique=False)
    op.create_index('ix_metric_links_usage', 'metric_links', ['usage_id'], unique=False)
    op.create_table(
        'metric_points',
        sa.Column('metric', _text(48), nullable=False),
        sa.Column('grain', _text(8), nullable=False),
        sa.Column('bucket', sa.DateTime(), nullable=False),
        sa.Column('facility_id', _text(32), server_default='', nullable=False),
        sa.Column('location_id', _text(64), server_default='', nullable=False),
        sa.Column('item_class', _text(16), server_default='', nullable=False),
        sa.Column('channel', _text(64), server_default='', nullable=False),
        sa.Column('detail', _text(200), server_default='', nullable=False),
        sa.Column('num', sa.Float(), nullable=False),
        sa.Column('den', sa.Float(), server_default='0', nullable=False),
        sa.Column('amount', sa.Float(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint(
            'metric',
            'grain',
            'bucket',
            'facility_id',
            'location_id',
            'item_class',
            'channel',
            'detail',
            name=op.f('pk_metric_points'),
        ),
    )
    op.create_index(
        'ix_metric_points_metric_bucket',
        'metric_points',
        ['metric', 'grain', 'bucket'],
        unique=False,
    )
    op.create_table(
        'metric_state',
        sa.Column('name', _text(64), nullable=False),
        sa.Column('value', _text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_metric_state')),
    )
    op.create_table(
        'metric_usage_facts',
        sa.Column('usage_id', _text(64), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('item_id', _text(64), server_default='', nullable=False),
        sa.Column('item_class', _text(16), server_default='', nullable=False),
        sa.Column('channel', _text(64), server_default='', nullable=False),
        sa.Column('bucket', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=False),
        sa.Column('chargeable', sa.Boolean(), nullable=False),
        sa.Column('uom', _text(8), server_default='', nullable=False),
        sa.Column('base_qty', sa.Float(), nullable=True),
        sa.Column('price', sa.Float(), nullable=True),
        sa.Column('unit_cost', sa.Float(), nullable=True),
        sa.Column('mapping_reason', _text(32), server_default='', nullable=False),
        sa.Column('mapping_subject', _text(80), server_default='', nullable=False),
        sa.Column('sla_s', sa.Float(), nullable=True),
        sa.Column('received_s', sa.Float(), nullable=True),
        sa.Column('sent_s', sa.Float(), nullable=True),
        sa.Column('charge_s', sa.Float(), nullable=True),
        sa.Column('inventory_s', sa.Float(), nullable=True),
        sa.Column('charged_qty', sa.Float(), nullable=True),
        sa.Column('issued_qty', sa.Float(), nullable=True),
        sa.Column('capture', _text(16), nullable=False),
        sa.Column('inventory', _text(16), nullable=False),
        sa.Column('inv_method', _text(24), server_default='', nullable=False),
        sa.Column('qty_mismatch', sa.Boolean(), nullable=False),
        sa.Column('billed_usd', sa.Float(), nullable=True),
        sa.Column('procedure_code', _text(16), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('usage_id', name=op.f('pk_metric_usage_facts')),
    )
    op.create_index(
        'ix_app_usage_facts_used',
        'metric_usage_facts',
        ['used_at', 'capture', 'inventory'],
        unique=False,
    )
    op.create_index(
        'ix_metric_usage_facts_capture_pending',
        'metric_usage_facts',
        ['facility_id', 'used_at'],
        unique=False,
        sqlite_where=sa.text("capture = 'pending'"),
        postgresql_where=sa.text("capture = 'pending'"),
    )
    op.create_index(
        op.f('ix_metric_usage_facts_encounter_id'),
        'metric_usage_facts',
        ['encounter_id'],
        unique=False,
    )
    op.create_index(
        'ix_metric_usage_facts_facility_used',
        'metric_usage_facts',
        ['facility_id', 'used_at'],
        unique=False,
    )
    op.create_index(
        'ix_metric_usage_facts_inventory_pending',
        'metric_usage_facts',
        ['facility_id', 'used_at'],
        unique=False,
        sqlite_where=sa.text("inventory = 'pending'"),
        postgresql_where=sa.text("inventory = 'pending'"),
    )
    op.create_index(
        'ix_metric_usage_facts_mapping',
        'metric_usage_facts',
        ['mapping_reason', 'facility_id', 'mapping_subject', 'usage_id', 'base_qty', 'price'],
        unique=False,
        sqlite_where=sa.text("mapping_reason != ''"),
        postgresql_where=sa.text("mapping_reason != ''"),
    )
    op.create_table(
        'metric_usage_points',
        sa.Column('grain', _text(8), nullable=False),
        sa.Column('bucket', sa.DateTime(), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('item_class', _text(16), nullable=False),
        sa.Column('usages', sa.Float(), server_default='0', nullable=False),
        sa.Column('chargeable', sa.Float(), server_default='0', nullable=False),
        sa.Column('due', sa.Float(), server_default='0', nullable=False),
        sa.Column('on_time', sa.Float(), server_default='0', nullable=False),
        sa.Column('late', sa.Float(), server_default='0', nullable=False),
        sa.Column('late_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('missing', sa.Float(), server_default='0', nullable=False),
        sa.Column('missing_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('pending', sa.Float(), server_default='0', nullable=False),
        sa.Column('unmapped', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_unknown_item', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_no_crosswalk', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_cdm_without_hcpcs', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_unit_not_convertible', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_unknown_item_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_no_crosswalk_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_cdm_without_hcpcs_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('fm_unit_not_convertible_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('inv_due', sa.Float(), server_default='0', nullable=False),
        sa.Column('inv_issued', sa.Float(), server_default='0', nullable=False),
        sa.Column('inv_missing', sa.Float(), server_default='0', nullable=False),
        sa.Column('charged_not_issued', sa.Float(), server_default='0', nullable=False),
        sa.Column('issued_not_charged', sa.Float(), server_default='0', nullable=False),
        sa.Column('qty_mismatch', sa.Float(), server_default='0', nullable=False),
        sa.Column('inv_accurate', sa.Float(), server_default='0', nullable=False),
        sa.Column('supply_cost_usd', sa.Float(), server_default='0', nullable=False),
        sa.Column('billed_usd', sa.Float(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint(
            'grain',
            'bucket',
            'facility_id',
            'location_id',
            'item_class',
            name=op.f('pk_metric_usage_points'),
        ),
    )
    op.create_table(
        'metric_work_items',
        sa.Column('ref', _text(64), nullable=False),
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('item_class', _text(16), nullable=False),
        sa.Column('chargeable', sa.Boolean(), nullable=False),
        sa.Column('uom', _text(8), nullable=False),
        sa.Column('unit_cost', sa.Float(), nullable=False),
        sa.Column('cdm_code', _text(32), nullable=True),
        sa.Column('suggested_cdm', _text(32), nullable=True),
        sa.Column('price', sa.Float(), nullable=True),
        sa.Column('coded', sa.Boolean(), nullable=False),
        sa.Column('contract_stable', sa.Boolean(), nullable=False),
        sa.Column('contract_price', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('ref', name=op.f('pk_metric_work_items')),
    )
    op.create_table(
        'notification_groups',
        sa.Column('owner', _text(80), nullable=False),
        sa.Column('recipient', _text(200), nullable=False),
        sa.Column('last_sent_at', sa.DateTime(), nullable=True),
        sa.Column('notified_json', _text(), server_default='{}', nullable=False),
        sa.PrimaryKeyConstraint('owner', 'recipient', name=op.f('pk_notification_groups')),
    )
    op.create_table(
        'quarantined_records',
        sa.Column('quarantine_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source', _text(64), nullable=False),
        sa.Column('record_kind', _text(32), server_default='', nullable=False),
        sa.Column('position', _text(300), nullable=False),
        sa.Column('reason', _text(), nullable=False),
        sa.Column('raw_payload', _text(), nullable=False),
        sa.Column('payload_hash', _text(64), nullable=False),
        sa.Column('quarantined_at', sa.DateTime(), nullable=False),
        sa.Column('status', _text(16), server_default='open', nullable=False),
        sa.PrimaryKeyConstraint('quarantine_id', name=op.f('pk_quarantined_records')),
        sa.UniqueConstraint(
            'source', 'payload_hash', name=op.f('uq_quarantined_records_source_payload_hash')
        ),
    )
    op.create_table(
        'reorder_points',
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('reorder_point', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('par_level', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('item_id', 'location_id', name=op.f('pk_reorder_points')),
    )
    op.create_index(
        op.f('ix_reorder_points_ingested_at'), 'reorder_points', ['ingested_at'], unique=False
    )
    op.create_table(
        'replenishment_documents',
        sa.Column('document_id', _text(64), nullable=False),
        sa.Column('doc_kind', _text(16), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('item_id', _text(64), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('status', _text(32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('ordered_at', sa.DateTime(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=True),
        sa.Column('modified_at', sa.DateTime(), nullable=False),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('document_id', name=op.f('pk_replenishment_documents')),
    )
    op.create_index(
        'ix_metric_replenishment_received', 'replenishment_documents', ['received_at'], unique=False
    )
    op.create_index(
        op.f('ix_replenishment_documents_facility_id'),
        'replenishment_documents',
        ['facility_id'],
        unique=False,
    )
    op.create_index(
        op.f('ix_replenishment_documents_ingested_at'),
        'replenishment_documents',
        ['ingested_at'],
        unique=False,
    )
    op.create_table(
        'rule_file_versions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('path', _text(500), nullable=False),
        sa.Column('sha256', _text(64), nullable=False),
        sa.Column('rule_ids', _text(), nullable=False),
        sa.Column('content', _text(), nullable=False),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_file_versions')),
        sa.UniqueConstraint('path', 'sha256', name=op.f('uq_rule_file_versions_path_sha256')),
    )
    op.create_table(
        'source_leases',
        sa.Column('source', _text(64), nullable=False),
        sa.Column('holder', _text(128), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('acquired_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('source', name=op.f('pk_source_leases')),
    )
    op.create_table(
        'source_watermarks',
        sa.Column('source', _text(64), nullable=False),
        sa.Column('stream', _text(64), nullable=False),
        sa.Column('cursor', _text(400), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('source', 'stream', name=op.f('pk_source_watermarks')),
    )
    op.create_table(
        'usage_events',
        sa.Column('usage_id', _text(64), nullable=False),
        sa.Column('facility_id', _text(32), nullable=False),
        sa.Column('location_id', _text(64), nullable=False),
        sa.Column('encounter_id', _text(64), nullable=False),
        sa.Column('patient_token', _text(32), server_default='', nullable=False),
        sa.Column('item_ref', _text(64), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column('uom', _text(8), nullable=False),
        sa.Column('lot', _text(64), server_default='', nullable=False),
        sa.Column('serial', _text(64), server_default='', nullable=False),
        sa.Column('clinician_id', _text(64), server_default='', nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=True),
        sa.Column('source', _text(64), server_default='', nullable=False),
        sa.Column('record_hash', _text(32), nullable=False),
        sa.Column('ingested_at', sa.DateTime(), nullable=False),
        sa.Column('used_on', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('usage_id', name=op.f('pk_usage_events')),
    )
    op.create_index('ix_app_usage_events_used', 'usage_events', ['used_at'], unique=False)
    op.create_index(
        'ix_metric_usage_events_spot',
        'usage_events',
        ['location_id', 'item_ref', 'used_at'],
        unique=False,
    )
    op.create_index(
        op.f('ix_usage_events_encounter_id'), 'usage_events', ['encounter_id'], unique=False
    )
    op.create_index(
        'ix_usage_events_facility_used', 'usage_events', ['facility_id', 'used_at'], unique=False
    )
    op.create_index(
        op.f('ix_usage_events_ingested_at'), 'usage_events', ['ingested_at'], unique=False
    )
    op.create_index(op.f('ix_usage_events_item_ref'), 'usage_events', ['item_ref'], unique=False)
    op.create_table(
        'api_calls',
        sa.Column('call_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', _text(36), nullable=True),
        sa.Column('source', _text(64), nullable=False),
        sa.Column('endpoint', _text(200), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('rows', sa.Integer(), server_default='0', nullable=False),
        sa.Column('error_class', _text(64), server_default='', nullable=False),
        sa.Column('attempt', sa.Integer(), server_default='1', nullable=False),
        sa.ForeignKeyConstraint(
            ['run_id'], ['collector_runs.run_id'], name=op.f('fk_api_calls_run_id_collector_runs')
        ),
        sa.PrimaryKeyConstraint('call_id', name=op.f('pk_api_calls')),
    )
    op.create_index(op.f('ix_api_calls_run_id'), 'api_calls', ['run_id'], unique=False)
    op.create_index(
        'ix_api_calls_source_started', 'api_calls', ['source', 'started_at'], unique=False
    )
    op.create_index('ix_metric_api_calls_started', 'api_calls', ['started_at'], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)  # its indexes go with it
