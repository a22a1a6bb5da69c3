"""Rule file versions (``rule_file_versions``): each distinct content of a rule file once,
and which of them a pass last ran."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from rules.loader import RuleSet
from store.schema_alerting import rule_file_versions
from store.upsert import insert_ignore

# The set of files in force is kept as one more row of rule_file_versions under this
# path (its content the files' paths and hashes), so a restart that meets a broken rule
# file runs the last good set instead of nothing.
IN_FORCE_PATH = "(rules in force)"


def record_rule_versions(conn: Connection, ruleset: RuleSet, now: datetime) -> None:
    """Keep each distinct rule file content once (rules are versioned by their files), and
    which of them are in force."""
    if not ruleset.sources:
        return  # a rule set built in memory (tests, the dashboard's preview)
    insert_ignore(conn, rule_file_versions, [
        {"path": s.path, "sha256": s.sha256, "rule_ids": ",".join(s.rule_ids),
         "content": s.text, "loaded_at": now} for s in ruleset.sources])
    manifest = json.dumps([[s.path, s.sha256] for s in ruleset.sources])
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    v = rule_file_versions.c
    if conn.execute(select(v.id).where(v.path == IN_FORCE_PATH, v.sha256 == digest)).first():
        return  # the same set as the last pass
    conn.execute(delete(rule_file_versions).where(v.path == IN_FORCE_PATH))
    conn.execute(insert(rule_file_versions).values(
        path=IN_FORCE_PATH, sha256=digest, content=manifest, loaded_at=now,
        rule_ids=",".join(r.id for r in ruleset.rules)[:100_000]))


def rules_in_force(conn: Connection) -> list[tuple[str, str]]:
    """(path, content) of each file of the last rule set a pass ran, or [] before any."""
    v = rule_file_versions.c
    manifest = conn.execute(select(v.content).where(v.path == IN_FORCE_PATH)).scalar()
    if manifest is None:
        return []
    out = []
    for path, sha in json.loads(manifest):
        text = conn.execute(select(v.content).where(v.path == path, v.sha256 == sha)).scalar()
        if text is not None:
            out.append((path, text))
    return out
