"""The dirty-set stage alone (``metrics.compute.dirty``): which encounters and feed hours
one new row marks for an incremental pass, on the real schema.

A small store is ingested at ``INGESTED`` (the watermark); one case adds a row or two a
minute later and ``mark_dirty`` must name exactly the encounters that row can change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from core.config import ChargeSla
from core.model import Item, ItemClass, ItemUom
from metrics.compute.dirty import feed_hours, mark_dirty
from metrics.compute.pass_tables import pass_dirty_encounters
from metrics.compute.stitching import FALLBACK_ISSUE_DAYS
from store.schema_metrics import metric_usage_facts
from tests.metrics.factories import FAC, LOC, T0, at, charge, issue, master_data, message, usage
from tests.metrics.stage_pass import INGESTED, load, open_pass, rows

SLA = ChargeSla()
LATER = INGESTED + timedelta(minutes=1)  # when the new rows arrive
BEYOND = (FALLBACK_ISSUE_DAYS + 1) * 1440  # minutes: out of any issue's reach
BASE = [
    usage("u1", "IMP1", 0, serial="S1"), issue("i1", "IMP1", 20, uid="u1"),  # ENC1, issued
    usage("u2", "CON1", 0, enc="ENC2"),  # no transaction names it
    usage("u3", "CON1", BEYOND, enc="ENC3"),  # the same spot, days later
    usage("u4", "IMP2", 0, enc="ENC4"),
]


def _dirty(conn: Connection, billing: dict[str, datetime] | None = None) -> set[str]:
    mark_dirty(conn, INGESTED, INGESTED, billing or {}, {}, SLA)
    return {e for (e,) in rows(conn, pass_dirty_encounters, "encounter_id")}


@pytest.mark.parametrize(("new", "expected"), [
    pytest.param([], set(), id="nothing new"),
    # a new scan, and the free scan of the same item at its spot (it may take its issue)
    pytest.param([usage("u5", "IMP2", 10, enc="ENC5")], {"ENC5", "ENC4"}, id="scan"),
    # a charge names its own encounter and, through the usage it names, the usage's
    pytest.param([charge("c9", "C2", 30, uid="u2", enc="ENC9")], {"ENC9", "ENC2"},
                 id="charge"),
    # a message with no encounter of its own: the usages it carries name theirs
    pytest.param([message("M1", 5, ("u1",), enc="")], {"ENC1"}, id="message"),
    # an unreferenced issue: the scans of its item at its spot within the window, not u3
    pytest.param([issue("i9", "CON1", 60)], {"ENC2"}, id="unreferenced issue"),
    # an issue naming its usage
    pytest.param([issue("i4", "IMP2", 60, uid="u4")], {"ENC4"}, id="referenced issue"),
    # master data: a unit of IMP2 changes every encounter that scanned it
    pytest.param([ItemUom(item_id="IMP2", uom="BX", factor=Decimal(5))], {"ENC4"},
                 id="master data"),
])
def test_a_new_row_marks_the_encounters_it_can_change(
        engine: Engine, new: list[Any], expected: set[str]) -> None:
    load(engine, master_data() + BASE)
    if new:
        load(engine, new, ingested=LATER)
    with open_pass(engine) as conn:
        assert _dirty(conn) == expected


def _pending(conn: Connection) -> None:
    """u2's fact as the last pass left it: charge pending (consumable SLA: 24 h)."""
    conn.execute(insert(metric_usage_facts).values(
        usage_id="u2", encounter_id="ENC2", facility_id=FAC, location_id=LOC,
        bucket=T0, used_at=at(0), chargeable=True, sla_s=86400.0, capture="pending",
        inventory="issued", qty_mismatch=False))


@pytest.mark.parametrize(("hours", "expected"), [(23, set()), (25, {"ENC2"})])
def test_a_pending_usage_is_marked_once_billing_moved_past_its_deadline(
        engine: Engine, hours: int, expected: set[str]) -> None:
    load(engine, master_data() + BASE)
    with open_pass(engine) as conn:
        _pending(conn)
        assert _dirty(conn, {FAC: at(0) + timedelta(hours=hours)}) == expected


def test_feed_hours_are_the_hours_of_messages_ingested_since_the_watermark(
        engine: Engine) -> None:
    load(engine, [*master_data(), message("M1", 10, ("u1",))])
    load(engine, [message("M2", 70, ("u1",)), message("M3", 75, ("u1",))], ingested=LATER)
    with open_pass(engine) as conn:
        assert feed_hours(conn, INGESTED, 0) == {T0 + timedelta(hours=1)}
        assert feed_hours(conn, INGESTED - timedelta(minutes=1), 0) == {
            T0, T0 + timedelta(hours=1)}


def test_an_unreferenced_issue_marks_the_scans_of_its_item_by_gtin(engine: Engine) -> None:
    """A scan by GTIN (a UDI's (01)) is a scan of the item whose GTIN it is: a new
    unreferenced issue of that item at its spot marks its encounter too."""
    by_gtin = Item(item_id="IMP3", description="IMP3", unit_cost=Decimal(900),
                   item_class=ItemClass.IMPLANT, chargeable=True, gtin="00812345678903")
    load(engine, [*master_data(), by_gtin, *BASE,
                  usage("u7", "00812345678903", 0, enc="ENC7")])
    load(engine, [issue("i7", "IMP3", 20)], ingested=LATER)
    with open_pass(engine) as conn:
        assert _dirty(conn) == {"ENC7"}
