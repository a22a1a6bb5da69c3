"""The benchmark store generator (``bench/datagen.py``, shared by the metrics and dashboard
benchmarks): rows the store's own types read back, and the faults it says it injected are
in the rows (SQLite and PostgreSQL). Named ``test_lineage_*`` after its owner's area."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, func, select, text

from bench.datagen import append, generate
from store.schema import charges, interface_messages, items, message_usages, usage_events

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
