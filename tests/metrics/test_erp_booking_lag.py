"""The ERP's booking lag (``erp_booking_lag_p95_minutes``): minutes from the stock moving
to the ERP posting the ISSUE, read from the documents alone, on SQLite and PostgreSQL.
Issues without a movement time, receipts and documents posted outside the window do not
count; the scan-to-stock latency is not changed by a slow booking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from core.metric_values import ValueStatus
from core.model import InventoryTransaction, InventoryTxnType
from metrics.read.reader import StoreMetricReader
from store.upsert import upsert_records

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _txn(doc: str, loc: str, moved_min_before_post: float | None, posted: datetime,
         kind: InventoryTxnType = InventoryTxnType.ISSUE) -> InventoryTransaction:
    moved = None if moved_min_before_post is None else posted - timedelta(
        minutes=moved_min_before_post)
    return InventoryTransaction(document_id=doc, facility_id="FAC01", location_id=loc,
                                item_id="IMP1", txn_type=kind, quantity=Decimal(-1),
                                posted_at=posted, moved_at=moved, modified_at=posted)


def test_booking_lag_is_the_p95_of_movement_to_posting(engine: Engine) -> None:
    at = NOW - timedelta(hours=3)
    # OR1: 20 issues booked 1..20 minutes after they moved -> p95 = the 19th = 19 min
    rows = [_txn(f"I{n}", "OR1", float(n), at + timedelta(seconds=n)) for n in range(1, 21)]
    rows += [
        _txn("CATH1", "CATH", 480.0, at),  # booked the next shift: 8 h
        _txn("NOMOVE", "OR1", None, at),  # the ERP sends only a posting time
        _txn("RCPT", "OR1", 9999.0, at, InventoryTxnType.RECEIPT),  # not an issue
        _txn("OLD", "OR1", 9999.0, NOW - 3 * DAY),  # posted before the window
    ]
    with engine.begin() as conn:
        upsert_records(conn, rows, source="erp", now=NOW)
    reader = StoreMetricReader(engine)
    by_loc = {v.scope["location"]: v for v in reader.values(
        "erp_booking_lag_p95_minutes", window=DAY, scope_keys=("location",), now=NOW)}
    assert by_loc["OR1"].value == 19.0 and by_loc["OR1"].detail["denominator"] == 20
    assert by_loc["CATH"].value == 480.0
    [net] = reader.values("erp_booking_lag_p95_minutes", window=DAY, scope_keys=(), now=NOW)
    assert net.detail["denominator"] == 21
    assert net.value == 20.0  # nearest rank: ceil(0.95 x 21) = the 20th of 21
    assert net.status is ValueStatus.OK
    # no issue posted with a movement time in a window: nothing to measure
    [quiet] = reader.values("erp_booking_lag_p95_minutes", window=DAY, scope_keys=(),
                            now=NOW - 5 * DAY)
    assert (quiet.status, quiet.value) == (ValueStatus.NODATA, None)
