"""``record_hash`` is the digest of the record's canonical JSON (sorted keys, compact,
ASCII-escaped), whichever encoder wrote it: stored hashes never change under a store,
or every row would be rewritten on its next read."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import (
    CanonicalRecord,
    ChannelStats,
    Charge,
    InterfaceMessage,
    MessageStatus,
)
from store.upsert import record_hash

TEXT = st.text(max_size=20)
IDS = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != "")
TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC))
AMOUNTS = st.decimals(min_value=-10**9, max_value=10**9, places=4, allow_nan=False)


def reference_hash(record: CanonicalRecord) -> str:
    payload = json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


@settings(max_examples=400, deadline=None)
@given(IDS, TEXT, TEXT, AMOUNTS, AMOUNTS, TIMES)
def test_charge_hash_is_the_canonical_json_digest(charge_id: str, lot: str, serial: str,
                                                  quantity: Decimal, amount: Decimal,
                                                  posted: datetime) -> None:
    charge = Charge(charge_id=charge_id, facility_id="FAC01", encounter_id="ENC-1",
                    cdm_code="2780001713", quantity=quantity, amount=amount,
                    service_date=date(2026, 11, 18), posted_at=posted, lot=lot, serial=serial,
                    last_updated=posted)
    assert record_hash(charge) == reference_hash(charge)


@settings(max_examples=300, deadline=None)
@given(IDS, st.lists(TEXT, max_size=4), TEXT, TIMES)
def test_message_hash_is_the_canonical_json_digest(control_id: str, usage_ids: list[str],
                                                   error: str, received: datetime) -> None:
    message = InterfaceMessage(channel="CH", control_id=control_id, message_type="DFT^P03",
                               usage_ids=tuple(usage_ids), received_at=received,
                               status=MessageStatus.SENT, error=error)
    assert record_hash(message) == reference_hash(message)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**30), TIMES)
def test_big_counters_hash_like_the_canonical_json(count: int, observed: datetime) -> None:
    stats = ChannelStats(channel="CH", observed_at=observed, received=count, filtered=0,
                         queued=0, sent=count, errored=0)
    assert record_hash(stats) == reference_hash(stats)


def test_known_digest_is_stable() -> None:
    charge = Charge(charge_id="CHG-1", facility_id="FAC01", encounter_id="ENC-1",
                    cdm_code="2780001713", quantity=Decimal("1"), amount=Decimal("125.00"),
                    service_date=date(2026, 11, 18),
                    posted_at=datetime(2026, 11, 18, 10, tzinfo=UTC), lot="LOT-é",
                    last_updated=datetime(2026, 11, 18, 10, tzinfo=UTC))
    assert record_hash(charge) == reference_hash(charge)
