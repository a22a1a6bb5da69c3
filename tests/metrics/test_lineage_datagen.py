"""The benchmark store generator (``bench/datagen.py``, shared by the metrics and dashboard
benchmarks): rows the store's own types read back, and the faults it says it injected are
in the rows (SQLite and PostgreSQL). Named ``test_lineage_*`` after its owner's area."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, func, select, text

from bench.datagen import append, generate
from metrics.read.claims import claim_line_links, remittance_links
from store.schema import (
    charges,
    claim_lines,
    claims,
    interface_messages,
    items,
    message_usages,
    remittance_lines,
    remittances,
    usage_events,
)

START = datetime(2026, 11, 1, tzinfo=UTC)

LIVE_DUPS = """
SELECT count(*) FROM (SELECT {key} FROM charges
  WHERE status = 'posted' AND reverses_charge_id = '' AND {first} != ''
    AND charge_id NOT IN (SELECT reverses_charge_id FROM charges WHERE reverses_charge_id != '')
  GROUP BY {key} HAVING count(*) > 1) AS groups
"""


def test_generated_rows_read_back_and_hold_the_injected_faults(engine: Engine) -> None:
    info = generate(engine, 4000, seed=7, start=START, facilities=2, days=2)
    with engine.connect() as conn:
        for table in (usage_events, interface_messages, message_usages, charges, items):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == \
                info["rows"][table.name]
        usage = conn.execute(select(usage_events).limit(1)).one()
        assert usage.used_at.tzinfo is UTC and usage.used_at >= START
        assert isinstance(usage.quantity, Decimal) and usage.source == "ehr-usage"
        assert len(usage.record_hash) == 32 and usage.ingested_at.tzinfo is UTC
        assert usage.used_at <= info["end"]
        unknown = conn.execute(select(func.count()).select_from(usage_events).where(
            usage_events.c.item_ref.not_in(select(items.c.item_id)))).scalar_one()
        assert unknown == info["faults"]["unknown_item"] > 0
        by_usage = conn.execute(text(LIVE_DUPS.format(key="usage_id", first="usage_id")))
        by_control = conn.execute(text(LIVE_DUPS.format(
            key="control_id, cdm_code, usage_id", first="control_id")))
        assert by_usage.scalar_one() == info["faults"]["dup_same_usage"] > 0
        assert by_control.scalar_one() == info["faults"]["dup_same_message"] > 0
        nacks = conn.execute(select(func.count()).select_from(interface_messages).where(
            interface_messages.c.ack_code == "AE")).scalar_one()
        assert nacks == info["faults"]["nack"]

    more = append(engine, 500, base=info)
    assert more["n_usage"] == 4500 and more["end"] > info["end"]
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(usage_events.c.ingested_at))).scalar_one()
        fresh = conn.execute(select(func.count()).select_from(usage_events).where(
            usage_events.c.ingested_at == newest)).scalar_one()
        assert fresh == 500  # an incremental pass sees exactly the appended usage events
        assert conn.execute(select(func.count()).select_from(usage_events)).scalar_one() == 4500


def test_generated_claims_bill_the_charges_and_remittances_pay_the_claim_lines(
        engine: Engine) -> None:
    """The money side (bench/datagen_revenue.py): each claim line bills a first charge of
    its claim's encounter, each 835 line pays a claim line, and a claim is denied whole or
    paid with CO-45 balancing every line to the cent."""
    info = generate(engine, 4000, seed=7, start=START, facilities=2, days=6)
    with engine.connect() as conn:
        for table in (claims, claim_lines, remittances, remittance_lines):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == \
                info["rows"][table.name] > 0
        ids = conn.execute(select(claims.c.claim_id)).scalars().all()
        links = claim_line_links(conn, ids)
        assert len(links) == info["rows"]["claim_lines"]
        assert {link.method for link in links.values()} == {"charge_id"}
        billed = dict(conn.execute(select(charges.c.charge_id, charges.c.encounter_id)).all())
        encounter = dict(conn.execute(select(claims.c.claim_id, claims.c.encounter_id)).all())
        assert all(billed[link.charge_id] == encounter[claim]
                   for (claim, _), link in links.items())
        paid = remittance_links(conn, ids)
        assert len(paid) == info["rows"]["remittance_lines"]
        assert {link.method for link in paid} == {"line_control"}
        unbalanced = conn.execute(text(
            "SELECT count(*) FROM remittance_lines l JOIN remittance_adjustments a"
            " ON a.remittance_id = l.remittance_id AND a.line_no = l.line_no"
            " WHERE abs(l.charge_amount - l.paid_amount - a.amount) > 0.001")).scalar_one()
        assert unbalanced == 0
        denied = conn.execute(select(func.count()).select_from(remittances).where(
            remittances.c.status_code == "4", remittances.c.paid_amount == 0)).scalar_one()
        assert 0 < denied < info["rows"]["remittances"] * 0.2
