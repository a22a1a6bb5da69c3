"""The Recall page: a lot's usages from the store with their charge and inventory status,
the expired device counted and listed apart, a CSV, the look-up kept in the URL."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import Engine, select

from app import queries
from core.model import UsageEvent
from store.schema import usage_events
from store.upsert import upsert_records
from tests.app.conftest import page_text, signed_in

LOT = "LOT-RECALL-7"
GTIN = "09506000134352"


def _give_a_lot(engine: Engine, count: int = 3) -> list[str]:
    """Mark ``count`` seeded usages (their facts are computed) as scans of ``LOT``, the
    first one a device used two days after its expiry; return their ids."""
    u = usage_events
    with engine.connect() as conn:
        rows = conn.execute(select(u.c.usage_id, u.c.facility_id, u.c.location_id,
                                   u.c.encounter_id, u.c.patient_token, u.c.item_ref,
                                   u.c.quantity, u.c.used_at, u.c.used_on)
                            .order_by(u.c.usage_id).limit(count)).mappings().all()
    marked = []
    for n, row in enumerate(rows):
        used_on: date = row["used_on"] or row["used_at"].date()
        expiry = used_on - timedelta(days=2) if n == 0 else used_on + timedelta(days=400)
        marked.append(UsageEvent(**row, lot=LOT, serial=f"SN-R{n}", udi_di=GTIN,
                                 expires_on=expiry, source="ehr"))
    with engine.begin() as conn:
        upsert_records(conn, marked, source="ehr")
    return [r.usage_id for r in marked]


def test_a_lot_lists_its_usages_counts_the_expired_one_and_downloads(seeded) -> None:
    ids = _give_a_lot(seeded.engine)
    at = signed_in("steward")
    at.query_params["by"] = ["lot"]
    at.query_params["value"] = [LOT]
    at.switch_page("views/recall.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Recall"
    table = at.dataframe[0].value
    assert sorted(table["usage_id"]) == ids
    assert set(table["lot"]) == {LOT} and (table["charge_status"] != "").all()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Usages"] == "3" and cards["Used after expiry"] == "1"
    expired = at.dataframe[1].value
    assert list(expired["usage_id"]) == [ids[0]]
    assert "MRN" not in page_text(at)
    rows = list(csv.DictReader(io.StringIO(
        queries.recall_csv(seeded.url, "lot", LOT).decode())))
    assert sorted(r["usage_id"] for r in rows) == ids
    assert [r["expired"] for r in sorted(rows, key=lambda r: r["usage_id"])] == ["yes", "", ""]


def test_the_page_keeps_the_look_up_in_the_url_and_says_when_nothing_matches(
        seeded_sqlite) -> None:
    at = signed_in("executive")
    at.switch_page("views/recall.py").run()
    assert not at.exception, at.exception
    assert "Enter a lot" in at.info[0].value
    at.selectbox(key="recall_by").set_value("serial")
    at.text_input(key="recall_value").set_value("SN-NOT-THERE").run()
    assert (at.query_params["by"], at.query_params["value"]) == ("serial", "SN-NOT-THERE")
    assert "No usage of serial SN-NOT-THERE" in at.info[0].value
    assert {m.label: m.value for m in at.metric}["Usages"] == "0"
