"""Notification group logs (``notification_groups``): when each (owner, recipient) group
last got a digest, and what it was told."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import Connection, select

from alerting.digest import GroupKey, GroupLog
from store.schema_alerting import notification_groups
from store.upsert import upsert_rows


def load_group_logs(conn: Connection) -> dict[GroupKey, GroupLog]:
    """Every group's log, by (owner, recipient)."""
    return {(r.owner, r.recipient): GroupLog(r.last_sent_at, json.loads(r.notified_json))
            for r in conn.execute(select(notification_groups))}


def save_group_logs(conn: Connection, logs: Mapping[GroupKey, GroupLog]) -> None:
    """Insert or replace the logs of these groups."""
    rows = [{"owner": owner, "recipient": recipient, "last_sent_at": log.last_sent_at,
             "notified_json": json.dumps(log.notified, sort_keys=True)}
            for (owner, recipient), log in logs.items()]
    if rows:
        upsert_rows(conn, notification_groups, rows)
