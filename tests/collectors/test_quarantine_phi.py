"""No PHI in clear in the store or the logs, quarantined HL7 included (issue 17 item 9).

HL7 messages whose PID carries a distinctive name, MRN, SSN (PID-19) and birth date go
through the hl7_log collector, good ones and broken ones; then the raw bytes of the
SQLite file (after a WAL checkpoint), every row of every table (on both backends) and
the captured logs are searched for those canaries. The admin's audited reveal decrypts a
quarantined payload back to its original bytes; keys rotate without losing old rows.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from alerting.outbox import dispatch
from alerting.service import evaluate_and_notify, notify, policy_for
from app.data.quarantine import masked_page, reveal_payload, reveal_raw
from app.data.users import User
from collectors.base import CollectContext, Reject
from collectors.runner import run_source
from core.config import Settings, SourceConfig, load_settings
from core.errors import ConfigError
from core.sealing import SealError, make_sealer, sealer_for
from metrics.compute.run import compute
from metrics.lineage.data import live_lineage
from metrics.read.reader import StoreMetricReader
from rules.loader import load_rules
from store.engine import checkpoint_wal
from store.schema import interface_messages, metadata, quarantined_records
from store.schema_app import app_audit_log
from store.upsert import quarantine_key
from tests.collectors import payloads as p

CHANNEL = "FAC01_CHG_OUT"
FAMILY, GIVEN, MRN, SSN, DOB = "QUILLFEATHER", "ZEPHYRINA", "MRN7Q3X91K", "987-65-4329", "19230417"
CANARIES = (FAMILY, GIVEN, MRN, SSN, SSN.replace("-", ""), DOB)
ADMIN = User("admin@test", frozenset({"admin"}))
PID = "|".join(["PID", "1", "", f"{MRN}^^^FAC01^MR", "", f"{FAMILY}^{GIVEN}", "", DOB, "F",
                *[""] * 10, SSN])
assert PID.split("|")[19] == SSN


def dft(n: int, control: str = "MSG") -> str:
    """The recorded DFT with the canary patient in its PID."""
    text = p.dft(n).replace(f"MSG-FAC01-{n:07d}", f"{control}-FAC01-{n:07d}")
    start = text.index("PID|")
    return text[:start] + PID + text[text.index("\r", start):]


def canary_log() -> tuple[bytes, dict[str, bytes]]:
    """Good canary DFTs with ACKs and, between them, broken ones that carry the canaries:
    the log's bytes and each broken message's bytes by name."""
    bad = {
        "cut_in_pv1": dft(101, "BAD")[: dft(101).index("PV1|") + 5].encode(),
        "bad_encoding": dft(102, "BAD").replace("MSH|^~\\&|", "MSH|^^^^|", 1).encode(),
        "no_msh": dft(103, "BAD").split("\r", 1)[1].encode(),
        "starts_with_pid": (PID + "\r").encode(),
        # a stray CR inside PID: the name starts a "segment"
        "split_pid": dft(104, "BAD").replace(f"||{FAMILY}", f"||\r{FAMILY}", 1).encode(),
        # fields shifted: the name where MSH-7 should be
        "name_as_time": dft(105, "BAD").replace("20261118101532.123+0000", FAMILY, 1).encode(),
        "garbage": b"\xff\xfe" + f"{FAMILY} {MRN} {SSN} {DOB}".encode() + b"\x80",
    }
    out = b""
    for n, raw in enumerate(bad.values(), 1):
        out += (dft(n) + "\n" + p.ack(n) + "\n").encode()
        out += raw + b"\n"
    # the next message starts inside the FT1 of a broken one
    cut = dft(120, "BAD")
    bad["cut_by_next"] = cut[: cut.index("FT1|") + 12].encode()
    out += bad["cut_by_next"] + (dft(20) + "\n" + p.ack(20) + "\n").encode()
    return out, bad


def everything_stored(engine: Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(str(tuple(row)) for table in metadata.sorted_tables
                         for row in conn.execute(select(table)))


def test_no_canary_in_clear_in_the_store_or_the_logs_and_the_reveal_opens_it(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data, bad = canary_log()
    folder = tmp_path / "logs" / CHANNEL
    folder.mkdir(parents=True)
    (folder / f"{CHANNEL}-20261118.hl7").write_bytes(data)
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(tmp_path / "logs"))
    result = run_source(Settings(database_url=str(engine.url), sources=[source]), engine, source)
    assert result.quarantined == len(bad)

    with engine.connect() as conn:
        controls = set(conn.execute(select(interface_messages.c.control_id)).scalars())
        rows = conn.execute(select(quarantined_records)).all()
    assert controls == {f"MSG-FAC01-{n:07d}" for n in (*range(1, len(bad)), 20)}
    assert all(r.raw_payload.startswith("fernet:") for r in rows)
    stored_text = everything_stored(engine)
    assert "MSG-FAC01-0000001" in stored_text and "truncated" in stored_text  # it sees rows
    assert [c for c in CANARIES if c in stored_text] == []
    if engine.dialect.name == "sqlite":
        checkpoint_wal(engine)
        engine.dispose()
        db = Path(make_url(str(engine.url)).database or "")
        raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes()
                                 if db.with_name(db.name + "-wal").exists() else b"")
        assert b"MSG-FAC01-0000001" in raw  # the search sees what was stored
        assert [c for c in CANARIES if c.encode() in raw] == []
    assert [c for c in CANARIES if c in caplog.text] == []

    # the admin's audited reveal gives the original bytes back (a message's bytes as
    # the log holds them, without the line's terminator)
    bad = {name: raw.strip(b"\r\n\t \x00") for name, raw in bad.items()}
    sealer = sealer_for(Settings())
    by_raw = {sealer.open(r.raw_payload): r for r in rows}
    assert set(by_raw) == set(bad.values())
    with engine.connect() as conn:
        listed = {r["quarantine_id"]: r for r in masked_page(conn, limit=100)}
    for original, row in by_raw.items():
        assert listed[row.quarantine_id]["payload_bytes"] == len(original)
    cut_row, garbage_row = by_raw[bad["cut_in_pv1"]], by_raw[bad["garbage"]]
    with engine.begin() as conn:
        text = reveal_payload(conn, ADMIN, cut_row.quarantine_id, "INC-17 canary check",
                              sealer)
        garbage = reveal_raw(conn, ADMIN, garbage_row.quarantine_id, "INC-17 canary check",
                             sealer)
    assert text == bad["cut_in_pv1"].decode() and MRN in text
    assert garbage == bad["garbage"]
    with engine.connect() as conn:
        audits = conn.execute(select(app_audit_log.c.actor, app_audit_log.c.target,
                                     app_audit_log.c.reason)
                              .where(app_audit_log.c.action == "reveal_phi")).all()
    assert sorted(audits) == sorted(
        ("admin@test", f"quarantined_records/{row.quarantine_id}", "INC-17 canary check")
        for row in (cut_row, garbage_row))


def _key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


def test_a_payload_sealed_under_an_old_key_opens_once_a_new_key_is_first(
        engine: Engine) -> None:
    old, new = _key(), _key()
    payload = f"MSH|^~\\&|EHR|FAC01\r{PID}".encode()
    before = Settings(database_url=str(engine.url), quarantine_keys=[old])
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=".")
    ctx = CollectContext(source, before, engine, None, str(uuid.uuid4()))
    ctx.commit_page("f", [], None, [Reject("f@0", "truncated: test", payload)])
    with engine.connect() as conn:
        (row,) = conn.execute(select(quarantined_records)).all()

    rotated = sealer_for(Settings(quarantine_keys=[new, old]))
    with engine.begin() as conn:
        assert reveal_raw(conn, ADMIN, row.quarantine_id, "INC-18 after rotation",
                          rotated) == payload
    # what the rotated keys seal, the new key alone opens, the old alone does not
    resealed = rotated.seal(payload)
    assert sealer_for(Settings(quarantine_keys=[new])).open(resealed) == payload
    with pytest.raises(SealError, match="CHARGELINE_QUARANTINE_KEYS"):
        sealer_for(Settings(quarantine_keys=[old])).open(resealed)
    # the dedup hash does not change with the keys: a payload read again is kept once
    assert rotated.digest(payload) == sealer_for(before).digest(payload)
    assert quarantine_key("f@0", rotated.digest(payload)) == row.payload_hash
    # with the old key dropped, the reveal fails and leaves no audit row behind
    with pytest.raises(SealError), engine.begin() as conn:
        reveal_raw(conn, ADMIN, row.quarantine_id, "INC-19 key dropped",
                   sealer_for(Settings(quarantine_keys=[new])))
    with engine.connect() as conn:
        reasons = conn.execute(select(app_audit_log.c.reason)).scalars().all()
    assert reasons == ["INC-18 after rotation"]


def test_keys_come_comma_separated_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _key(), _key()
    monkeypatch.setenv("CHARGELINE_QUARANTINE_KEYS", f"{new}, {old}")
    keys = load_settings().quarantine_keys
    assert [k.get_secret_value() for k in keys] == [new, old]
    monkeypatch.setenv("CHARGELINE_QUARANTINE_KEYS", f"{new},not-a-fernet-key")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "CHARGELINE_QUARANTINE_KEYS" in message and "key 2 of 2" in message
    assert "not-a-fernet-key" not in message and new not in message


def test_without_keys_one_is_derived_from_phi_secret_and_a_log_line_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chargeline.sealing")
    make_sealer.cache_clear()
    derived = sealer_for(Settings(phi_secret="site-secret-one"))
    assert "derived from phi_secret" in caplog.text
    sealed = derived.seal(b"PID|1")
    assert sealer_for(Settings(phi_secret="site-secret-one")).open(sealed) == b"PID|1"
    with pytest.raises(SealError):
        sealer_for(Settings(phi_secret="site-secret-two")).open(sealed)
    # a row quarantined before encryption (no prefix) reads back as it is
    assert derived.open("MSH|^~\\&|legacy clear row") == b"MSH|^~\\&|legacy clear row"


RULE = """rules:
  - id: canary-channel-volume
    name: Messages per channel
    metric: messages_received
    scope: {by: [facility, channel]}
    window: 2d
    warn: 1
    fail: 100000
    owner: integration
    stewards: [interfaces@hospital.example]
    severity: warning
    unit: count
    description: Messages the channel received.
"""


def test_no_canary_in_the_mail_sent_after_the_broken_messages(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The stewards' digests built from a store that quarantined the broken canary
    messages name the channel and its figures, never the patient."""
    caplog.set_level(logging.DEBUG)
    data, _bad = canary_log()
    folder = tmp_path / "logs" / CHANNEL
    folder.mkdir(parents=True)
    (folder / f"{CHANNEL}-20261118.hl7").write_bytes(data)
    source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(tmp_path / "logs"))
    settings = Settings(database_url=str(engine.url), sources=[source],
                        dashboard_url="http://chargeline.example:8501",
                        smtp={"host": "127.0.0.1", "port": 2525,
                              "sender": "chargeline@hospital.example"})
    assert run_source(settings, engine, source).quarantined > 0
    with engine.connect() as conn:
        newest = max(conn.execute(select(interface_messages.c.received_at)).scalars())
    now = newest + timedelta(hours=1)
    compute(engine, settings.sla, full=True, now=now)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "canary.yaml").write_text(RULE)
    rules = load_rules([tmp_path / "rules"])
    policy = policy_for(settings).model_copy(update={"stewards": {}})
    evaluate_and_notify(engine, settings, StoreMetricReader(engine, settings), now,
                        rules=rules, policy=policy, lineage=live_lineage)
    later = now + policy.group_wait
    notify(engine, settings, later, rules=rules, policy=policy, lineage=live_lineage)
    mails: list[EmailMessage] = []
    assert dispatch(engine, settings, later, sender=mails.append).sent == len(mails) > 0
    sent = b"\n".join(m.as_bytes() for m in mails)
    text = "\n".join(part.get_content() for m in mails for part in m.walk()
                     if part.get_content_maintype() == "text")
    assert CHANNEL in text  # the search reads what the digest says
    assert [c for c in CANARIES if c.encode() in sent or c in text] == []
    assert [c for c in CANARIES if c in caplog.text] == []
