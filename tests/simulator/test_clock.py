"""What is visible when: out-of-order records, after-window charges, versions, live mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.files import LiveLogs, write_estate_files
from simulator.server import serve_in_thread
from simulator.timefmt import HOUR, parse_iso_ms
from tests.simulator.walk import bearer, fhir_all, odata_all


class Clock:
    """A settable clock for the server (epoch ms)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def estate() -> Estate:
    rates = FaultRates.preset("none", out_of_order=0.05, trap_charge_after_window=0.3)
    return build_estate(EstateConfig(seed=5, facilities=1, days=2, volume_scale=0.3,
                                     end=datetime(2026, 11, 20, tzinfo=UTC), faults=rates,
                                     live_horizon_days=1), progress=False)


def _faults(estate: Estate, kind: str) -> list[dict]:
    found = [f for f in estate.truth["faults"] if f["kind"] == kind]
    assert found, kind
    return found


def test_out_of_order_records_appear_minutes_after_their_last_updated(estate: Estate) -> None:
    clock = Clock(0)
    with serve_in_thread(estate, live=True, clock=clock) as server, \
            httpx.Client(base_url=server.base_url, headers=bearer(server.base_url)) as client:
        for f in _faults(estate, "out_of_order")[:6]:
            updated, visible = parse_iso_ms(f["last_updated"]), parse_iso_ms(f["visible_at"])
            assert visible > updated
            for now, expected in ((visible - 1, False), (visible, True)):
                clock.now = now
                if f["resource"] == "ChargeItem":
                    ids = {r["id"] for r in fhir_all(client, "ChargeItem",
                                                     {"_lastUpdated": f"ge{f['last_updated']}"})}
                else:
                    ids = {r["DocumentId"] for r in odata_all(
                        client, "InventoryTransactions",
                        {"$filter": f"ModifiedAt ge {f['last_updated']}"})}
                assert (f["id"] in ids) is expected, (f, now)


def test_after_window_charges_and_later_activity_appear_as_the_clock_passes(
        estate: Estate) -> None:
    clock = Clock(estate.end_ms)
    with serve_in_thread(estate, live=True, clock=clock) as server, \
            httpx.Client(base_url=server.base_url, headers=bearer(server.base_url)) as client:
        at_end = {r["id"] for r in fhir_all(client, "ChargeItem")}
        channels_then = client.get("/engine/api/channels").json()
        trap = _faults(estate, "trap_charge_after_window")[0]
        assert trap["charge_id"] not in at_end
        clock.now = parse_iso_ms(trap["posted_at"])
        later = {r["id"] for r in fhir_all(client, "ChargeItem")}
        assert trap["charge_id"] in later and at_end < later
        channels_now = client.get("/engine/api/channels").json()
        for old, new in zip(channels_then["channels"], channels_now["channels"], strict=True):
            assert new["statistics"]["received"] >= old["statistics"]["received"]
        assert sum(c["statistics"]["received"] for c in channels_now["channels"]) > sum(
            c["statistics"]["received"] for c in channels_then["channels"])


def test_versioned_records_show_their_current_version_only(estate: Estate) -> None:
    clock = Clock(estate.end_ms)
    with serve_in_thread(estate, clock=clock) as server, \
            httpx.Client(base_url=server.base_url, headers=bearer(server.base_url)) as client:
        encounters = fhir_all(client, "Encounter")
        ids = [e["id"] for e in encounters]
        assert len(ids) == len(set(ids))
        assert {e["status"] for e in encounters} == {"in-progress", "finished"}
        for e in encounters:
            assert ("end" in e["period"]) == (e["status"] == "finished")
        requisitions = odata_all(client, "PurchaseRequisitions")
        assert len({r["RequisitionId"] for r in requisitions}) == len(requisitions) > 0
        clock.now = estate.horizon_ms
        statuses = {r["RequisitionId"]: r["Status"] for r in
                    odata_all(client, "PurchaseRequisitions")}
        moved = [r for r in requisitions if statuses[r["RequisitionId"]] != r["Status"]]
        assert moved and all(r["Status"] in ("OPEN", "ORDERED") for r in moved)


def test_engine_counters_add_up_and_match_the_logs(estate: Estate, tmp_path: Path) -> None:
    write_estate_files(estate, tmp_path, estate.end_ms)
    with serve_in_thread(estate, clock=lambda: estate.end_ms) as server:
        channels = httpx.get(f"{server.base_url}/engine/api/channels").json()
    assert channels["generatedAt"] == "2026-11-20T00:00:00.000Z"
    for ch in channels["channels"]:
        s = ch["statistics"]
        assert s["received"] == s["filtered"] + s["queued"] + s["sent"] + s["errored"]
        log = b"".join(p.read_bytes() for p in (tmp_path / "hl7" / ch["channelId"]).glob("*"))
        inbound = log.count(b"MSH|^~\\&|EHR|") + log.count(b"MSH|^~\\&|REG|")
        acks = log.count(b"|ACK^")
        # no malformed messages here; in live mode a message is logged once its ACK is in
        assert inbound == s["received"] - s["filtered"] - s["queued"]
        assert acks == s["sent"] + s["errored"]
    chg = next(c for c in channels["channels"] if c["channelId"].endswith("CHG_OUT"))
    assert chg["statistics"]["filtered"] > 0  # non-chargeable scans stop at the engine


def test_live_logs_grow_by_appending(estate: Estate, tmp_path: Path) -> None:
    writer = write_estate_files(estate, tmp_path, estate.end_ms)
    before = {p: p.read_bytes() for p in (tmp_path / "hl7").rglob("*.hl7")}
    clock = Clock(estate.end_ms + 2 * HOUR)
    with LiveLogs(writer, interval_seconds=0.05, clock=clock):
        pass
    after = {p: p.read_bytes() for p in (tmp_path / "hl7").rglob("*.hl7")}
    assert sum(map(len, after.values())) > sum(map(len, before.values()))
    assert all(after[p].startswith(data) for p, data in before.items())
    assert len(after) > len(before)  # the new day's files after the rotation at midnight
    clock.now = estate.horizon_ms
    writer.write_until(clock.now)
    final = {p.relative_to(tmp_path / "hl7").as_posix(): p.stat().st_size
             for p in (tmp_path / "hl7").rglob("*.hl7")}
    layout = {name: sum(len(e.data) for e in entries)
              for name, entries in estate.hl7.files().items()}
    assert final == layout  # appended piecewise, the files equal the one-shot layout
