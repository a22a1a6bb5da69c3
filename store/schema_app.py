"""The dashboard's own tables: local users, their roles, and the audit log.

A user signs in with a local argon2 password or through OIDC (then ``password_hash`` is
empty and the e-mail from the identity provider is looked up here for the roles). The
audit log records every reveal of a PHI-bearing field and every change to users.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from store.schema import metadata
from store.types import UtcDateTime

ROLES: tuple[str, ...] = ("executive", "interface_owner", "steward", "admin")

app_users = Table(
    "app_users",
    metadata,
    Column("email", String(254), primary_key=True),  # stored lower-case
    Column("password_hash", String(200), nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_login_at", UtcDateTime),
)

app_user_roles = Table(
    "app_user_roles",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("role", String(32), primary_key=True),
)

app_audit_log = Table(
    "app_audit_log",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(254), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(300), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    Index("ix_app_audit_log_at", "at"),
)

# A signed-in browser: the cookie carries a random id whose SHA-256 is kept here, so
# sign-out and an admin's "end all sessions" revoke it server-side, and an idle one lapses.
app_sessions = Table(
    "app_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("email", String(254), nullable=False, index=True),
    Column("address", String(64), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
)

# Wrong passwords, per account and per address, read to throttle further attempts.
app_login_failures = Table(
    "app_login_failures",
    metadata,
    Column("failure_id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("email", String(254), nullable=False),
    Column("address", String(64), nullable=False, server_default=""),
    Index("ix_app_login_failures_email", "email", "at"),
    Index("ix_app_login_failures_address", "address", "at"),
)

# --- indexes the dashboard's drill-down needs on other packages' tables --------------------
# The drill-down pages records newest first within a window and counts them; without a time
# index both scan the whole table (1.2-1.6 s at 1M usage events on SQLite). Declared here,
# created with the rest of the schema, named ix_app_* so their owner is clear.
from store.schema import charges, usage_events  # noqa: E402
from store.schema_metrics import metric_usage_facts  # noqa: E402

Index("ix_app_usage_facts_used", metric_usage_facts.c.used_at, metric_usage_facts.c.capture,
      metric_usage_facts.c.inventory)
Index("ix_app_usage_events_used", usage_events.c.used_at)
Index("ix_app_charges_posted", charges.c.posted_at)
