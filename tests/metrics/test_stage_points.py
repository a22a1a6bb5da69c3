"""The points stage alone (``metrics.compute.points``): hour and day sums of a handful of
hand-written usage facts and of a few messages, on the real schema.

The facts are written straight into ``metric_usage_facts`` (the stage reads nothing
else), so each expected sum below follows from the four rows by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from metrics.compute.points import feed_points, usage_points_full
from store.schema_metrics import metric_points, metric_usage_facts, metric_usage_points
from store.upsert import upsert_records
from tests.metrics.factories import FAC, LOC, T0, at, message
from tests.metrics.stage_pass import load, open_pass, rows

DAY1 = T0.replace(hour=0)  # 2026-11-18, the day of T0 (08:00 UTC)
DAY2 = DAY1 + timedelta(days=1)
HOUR = timedelta(hours=1)


def _fact(uid: str, enc: str, minute: float, item_class: str, *, base_qty: float = 1.0,
          price: float | None = 1250.0, unit_cost: float | None = 500.0, capture: str,
          inventory: str, billed: float | None = None, mismatch: bool = False,
          chargeable: bool = True, reason: str = "", procedure: str = "27447"
          ) -> dict[str, Any]:
    used = at(minute)
    return {"usage_id": uid, "encounter_id": enc, "facility_id": FAC, "location_id": LOC,
            "item_class": item_class, "bucket": used.replace(minute=0), "used_at": used,
            "chargeable": chargeable, "base_qty": base_qty, "price": price,
            "unit_cost": unit_cost, "capture": capture, "inventory": inventory,
            "billed_usd": billed, "qty_mismatch": mismatch, "mapping_reason": reason,
            "procedure_code": procedure}


FACTS = [
    # 08:00 an implant charged on time and issued
    _fact("u1", "ENC1", 10, "IMPLANT", capture="on_time", inventory="issued", billed=1250.0),
    # 10:00 an implant issued (a quantity off) but never charged
    _fact("u2", "ENC1", 130, "IMPLANT", capture="missing", inventory="issued",
          mismatch=True),
    # 09:00 two consumables charged late and never issued
    _fact("u3", "ENC2", 70, "CONSUMABLE", base_qty=2.0, price=5.0, unit_cost=2.0,
          capture="late", inventory="missing", billed=10.0, procedure="27130"),
    # the next day, a scan of an unknown item
    _fact("u4", "ENC2", 1440 + 5, "", price=None, unit_cost=None, capture="unknown",
          inventory="n/a", chargeable=False, reason="unknown_item", procedure="27130"),
]
MEASURES = ("usages", "chargeable", "due", "on_time", "late", "late_usd", "missing",
            "missing_usd", "fm_unknown_item", "inv_due", "inv_issued", "inv_missing",
            "charged_not_issued", "issued_not_charged", "qty_mismatch", "inv_accurate",
            "supply_cost_usd", "billed_usd")
U1 = (1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 500, 1250)
U2 = (1, 1, 1, 0, 0, 0, 1, 1250, 0, 1, 1, 0, 0, 1, 1, 0, 500, 0)
U3 = (1, 1, 1, 0, 1, 10, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 4, 10)
U4 = (1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _utc(value: Any) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=T0.tzinfo)


def test_usage_points_are_hour_sums_of_the_facts_and_day_sums_of_the_hours(
        engine: Engine) -> None:
    with open_pass(engine) as conn:
        conn.execute(insert(metric_usage_facts), FACTS)
        usage_points_full(conn)
        found = rows(conn, metric_usage_points, "grain", "bucket", "facility_id",
                     "location_id", "item_class", *MEASURES)
        points = {(grain, _utc(bucket), cls): tuple(values)
                  for grain, bucket, _fac, _loc, cls, *values in found}
        margin = {(grain, _utc(bucket), procedure): (num, den, amount)
                  for grain, bucket, procedure, num, den, amount in rows(
                      conn, metric_points, "grain", "bucket", "detail", "num", "den",
                      "amount", metric="margin")}
    assert {(fac, loc) for _g, _b, fac, loc, *_ in found} == {(FAC, LOC)}
    assert len(points) == len(found)
    assert points == {
        ("hour", T0, "IMPLANT"): U1,
        ("hour", T0 + HOUR, "CONSUMABLE"): U3,
        ("hour", T0 + 2 * HOUR, "IMPLANT"): U2,
        ("hour", T0 + 24 * HOUR, ""): U4,
        ("day", DAY1, "IMPLANT"): tuple(a + b for a, b in zip(U1, U2, strict=True)),
        ("day", DAY1, "CONSUMABLE"): U3,
        ("day", DAY2, ""): U4,
    }
    # margin by procedure: billed, supply cost, billed less cost
    assert margin == {
        ("hour", T0, "27447"): (1250, 500, 750),
        ("hour", T0 + HOUR, "27130"): (10, 4, 6),
        ("hour", T0 + 2 * HOUR, "27447"): (0, 500, -500),
        ("hour", T0 + 24 * HOUR, "27130"): (0, 0, 0),
        ("day", DAY1, "27447"): (1250, 1000, 250),
        ("day", DAY1, "27130"): (10, 4, 6),
        ("day", DAY2, "27130"): (0, 0, 0),
    }


def _messages(conn: Any) -> dict[tuple[str, datetime], tuple]:
    return {(grain, _utc(bucket)): (num, den, amount)
            for grain, bucket, num, den, amount in rows(
                conn, metric_points, "grain", "bucket", "num", "den", "amount",
                metric="messages", facility_id=FAC, channel="FAC01_CHG_OUT")}


def test_feed_points_count_messages_per_hour_and_recount_only_the_hours_named(
        engine: Engine) -> None:
    load(engine, [message("M1", 5, ()), message("M2", 20, (), ack="AE"),
                  message("M3", 70, ())])
    with open_pass(engine) as conn:
        feed_points(conn, None)
        # received, acknowledged, AE/AR per hour; the day is their sum
        assert _messages(conn) == {("hour", T0): (2, 2, 1), ("hour", T0 + HOUR): (1, 1, 0),
                                   ("day", DAY1): (3, 3, 1)}
        status = rows(conn, metric_points, "grain", "detail", "num", metric="msg_status")
        assert status == [("day", "S", 3), ("hour", "S", 1), ("hour", "S", 2)]
        # two more messages, one at 09:00 and one at 08:00; only 09:00 is recounted
        upsert_records(conn, [message("M4", 75, ()), message("M5", 6, ())], source="test",
                       now=T0 + timedelta(days=2))
        feed_points(conn, [(T0 + HOUR, T0 + 2 * HOUR)])
        assert _messages(conn) == {("hour", T0): (2, 2, 1), ("hour", T0 + HOUR): (2, 2, 0),
                                   ("day", DAY1): (4, 4, 1)}
