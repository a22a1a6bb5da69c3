"""Alerting tables: alert instances and their history, steward actions, silences,
notification groups, the e-mail outbox and the rule-file versions that were loaded."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from store.schema import metadata
from store.types import UtcDateTime

alert_instances = Table(
    "alert_instances",
    metadata,
    Column("fingerprint", String(400), primary_key=True),  # rule id | sorted scope
    Column("rule_id", String(80), nullable=False, index=True),
    Column("owner", String(80), nullable=False, server_default=""),
    Column("scope_json", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("level", String(8), nullable=False, server_default=""),
    Column("value", Float),
    Column("amount", Float),
    Column("threshold", Float),
    Column("detail_json", Text, nullable=False, server_default="{}"),
    Column("error", Text, nullable=False, server_default=""),
    Column("state_since", UtcDateTime, nullable=False),
    Column("evaluated_at", UtcDateTime, nullable=False),
    Column("pending_since", UtcDateTime),
    Column("firing_since", UtcDateTime),
    Column("clear_since", UtcDateTime),
    # steward workflow (the latest of each; every change is also in alert_actions)
    Column("ack_by", String(200), nullable=False, server_default=""),
    Column("ack_at", UtcDateTime),
    Column("assignee", String(200), nullable=False, server_default=""),
    Column("status", String(24), nullable=False, server_default=""),
    Column("status_comment", Text, nullable=False, server_default=""),
)

alert_state_history = Table(
    "alert_state_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(400), nullable=False),
    Column("rule_id", String(80), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("level", String(8), nullable=False, server_default=""),
    Column("value", Float),
    Column("reason", Text, nullable=False, server_default=""),
    Column("notify", String(16), nullable=False, server_default=""),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_alert_state_history_fingerprint_at", "fingerprint", "at"),
)

alert_actions = Table(
    "alert_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(400), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # ack, unack, assign, status, comment
    Column("value", String(200), nullable=False, server_default=""),
    Column("comment", Text, nullable=False, server_default=""),
    Column("actor", String(200), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers_json", Text, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False, index=True),
    Column("author", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expired_by", String(200), nullable=False, server_default=""),  # ended early by
)

notification_groups = Table(
    "notification_groups",
    metadata,
    Column("owner", String(80), primary_key=True),
    Column("recipient", String(200), primary_key=True),
    Column("last_sent_at", UtcDateTime),
    Column("notified_json", Text, nullable=False, server_default="{}"),  # fingerprint -> key
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("message_id", String(200), nullable=False),
    Column("owner", String(80), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("status", String(12), nullable=False, index=True),  # pending, sending, sent, dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("claimed_by", String(120), nullable=False, server_default=""),
    Column("claimed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

alert_evaluations = Table(
    "alert_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, index=True),  # the pass's evaluation time
    Column("started_at", UtcDateTime, nullable=False),  # wall clock
    Column("finished_at", UtcDateTime),
    Column("instances", Integer, nullable=False, server_default="0"),
    Column("transitions", Integer, nullable=False, server_default="0"),
    Column("firing", Integer, nullable=False, server_default="0"),
    Column("digests", Integer, nullable=False, server_default="0"),
    Column("queued", Integer, nullable=False, server_default="0"),
    Column("skipped", String(200), nullable=False, server_default=""),  # why nothing was written
    Column("rule_errors_json", Text, nullable=False, server_default="{}"),
    Column("rule_file_problems", Text, nullable=False, server_default=""),
)

rule_file_versions = Table(
    "rule_file_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rule_ids", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    UniqueConstraint("path", "sha256"),
)
