"""Every fault and trap in truth.json is really in what the APIs and logs serve."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from collectors.hl7_parse import split_blocks
from simulator.timefmt import parse_iso_ms
from tests.simulator.walk import bearer, ext, fhir_all, log_blocks, odata_all, segments

ALL_KINDS = {"duplicate_charge", "unknown_item", "no_crosswalk", "cdm_without_hcpcs",
             "unit_not_convertible", "late_charge", "missing_charge",
             "missing_inventory_issue", "nack", "malformed_hl7", "out_of_order",
             "trap_reversal_recharge", "trap_distinct_scans", "trap_bx_conversion",
             "trap_charge_after_window", "trap_voided_recharge", "trap_issue_return"}


@dataclass
class Served:
    truth: dict[str, Any]
    charges: dict[str, dict[str, Any]]
    charges_by_usage: dict[str, list[dict[str, Any]]]
    usages: dict[str, dict[str, Any]]
    items: dict[str, dict[str, Any]]
    units: set[tuple[str, str]]
    crosswalk: dict[str, str]
    cdm: dict[str, dict[str, Any]]
    issues_by_usage: dict[str, list[dict[str, Any]]]
    inventory: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, list[list[str]]]]  # control id -> segments
    acks: dict[str, dict[str, list[list[str]]]]  # acknowledged control id -> segments
    blocks: dict[tuple[str, int], bytes]


# The high-fault estate, every HTTP fault off. A charge after the window can only fall in
# the last 8 hours: a higher rate keeps one in the estate whatever the other kinds draw.
ESTATE: dict[str, Any] = {"days": 3, "volume_scale": 0.3, "faults": "high", "http_5xx": 0,
                          "http_429": 0, "truncated_json": 0, "trap_charge_after_window": 0.03}


@pytest.fixture(scope="module")
def served(estate_factory) -> Served:
    running = estate_factory(**ESTATE)
    with httpx.Client(base_url=running.base_url, headers=bearer(running.base_url)) as client:
        return _read(running, client)


def _read(running: Any, client: httpx.Client) -> Served:
    charges = {c["id"]: c for c in fhir_all(client, "ChargeItem")}
    by_usage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in charges.values():
        by_usage[ext(c, "usage-id")].append(c)
    inventory = {t["DocumentId"]: t for t in odata_all(client, "InventoryTransactions")}
    issues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in inventory.values():
        issues[t["UsageRef"]].append(t)
    messages, acks, blocks = {}, {}, {}
    for file, offset, block in log_blocks(running.out_dir / "hl7"):
        blocks[(file, offset)] = block
        try:
            segs = segments(block)
        except UnicodeDecodeError:
            continue
        if "MSA" in segs:
            acks[segs["MSA"][0][2]] = segs
        elif "MSH" in segs:
            messages[segs["MSH"][0][10]] = segs
    return Served(
        running.truth, charges, by_usage,
        {u["id"]: u for u in fhir_all(client, "SupplyDelivery")},
        {i["ItemId"]: i for i in odata_all(client, "Items")},
        {(u["ItemId"], u["Uom"]) for u in odata_all(client, "ItemUnits")},
        {x["ItemId"]: x["CdmCode"] for x in odata_all(client, "Crosswalk")},
        {c["CdmCode"]: c for c in odata_all(client, "ChargeMaster")},
        issues, inventory, messages, acks, blocks)


def _faults(served: Served, kind: str) -> list[dict[str, Any]]:
    found = [f for f in served.truth["faults"] if f["kind"] == kind]
    assert found, f"the high-fault estate has no {kind}"
    return found


def _minutes(charge: dict[str, Any]) -> float:
    return (parse_iso_ms(charge["enteredDate"]) - parse_iso_ms(charge["occurrenceDateTime"])) \
        / 60_000


def test_every_kind_is_injected_and_each_usage_carries_at_most_one(served: Served) -> None:
    assert {f["kind"] for f in served.truth["faults"]} == ALL_KINDS
    assert {f["subtype"] for f in _faults(served, "duplicate_charge")} == {
        "same_usage", "same_message", "serial_repeat"}
    per_usage: Counter[str] = Counter()
    for f in served.truth["faults"]:
        ids = f.get("usage_ids") or ([f["usage_id"]] if "usage_id" in f else [])
        per_usage.update(set(ids))
    assert per_usage and max(per_usage.values()) == 1


def _code(scan: dict[str, Any]) -> str:
    return scan["suppliedItem"]["itemCodeableConcept"]["coding"][0]["code"]


def _scanned_item(served: Served, code: str) -> str:
    """The item a scan names: its id, or the item whose GTIN a printed UDI's (01) is."""
    if not code.startswith("(01)"):
        return code
    gtin = code[4:18]
    (item_id,) = [i for i, item in served.items.items() if item["Gtin"] == gtin]
    return item_id


def test_duplicate_charges_are_served(served: Served) -> None:
    for f in _faults(served, "duplicate_charge"):
        charges = [served.charges[cid] for cid in f["charge_ids"]]
        assert all(c["status"] == "billable" and "partOf" not in c for c in charges)
        usages = [ext(c, "usage-id") for c in charges]
        controls = [ext(c, "hl7-control-id") for c in charges]
        if f["subtype"] == "same_usage":
            assert usages == f["usage_ids"] * 2 and len(set(controls)) == 2
        elif f["subtype"] == "same_message":
            assert usages == f["usage_ids"] * 2 and len(set(controls)) == 1
        else:
            assert usages == f["usage_ids"] and len(set(usages)) == 2
            assert {ext(c, "serial") for c in charges} == {f["serial"]}
            codes = {served.usages[u]["suppliedItem"]["itemCodeableConcept"]["coding"][0]["code"]
                     for u in usages}
            assert len(codes) == 1  # one device: the same item id, or the same printed UDI
            assert served.items[_scanned_item(served, codes.pop())]["Serialised"] is True
        assert f["extra_units"] == sum(c["quantity"]["value"] for c in charges[1:])
        assert f["overcharge"] == pytest.approx(sum(c["priceOverride"]["value"]
                                                    for c in charges[1:]))


def test_unknown_and_unconvertible_scans_post_nothing(served: Served) -> None:
    for f in _faults(served, "unknown_item"):
        scan = served.usages[f["usage_id"]]
        assert scan["suppliedItem"]["itemCodeableConcept"]["coding"][0]["code"] == f["item_ref"]
        assert f["item_ref"] not in served.items
        assert not served.charges_by_usage[f["usage_id"]]
        assert not served.issues_by_usage[f["usage_id"]]
    for f in _faults(served, "unit_not_convertible"):
        scan = served.usages[f["usage_id"]]
        assert scan["suppliedItem"]["quantity"]["unit"] == f["uom"]
        assert (f["item_id"], f["uom"]) not in served.units
        assert not served.charges_by_usage[f["usage_id"]]
        assert not served.issues_by_usage[f["usage_id"]]


def test_master_data_faults_are_served(served: Served) -> None:
    for f in _faults(served, "no_crosswalk"):
        assert f["item_id"] not in served.crosswalk
        assert served.items[f["item_id"]]["Chargeable"] is True
        assert f["amount_at_risk"] == pytest.approx(f["quantity"] * f["price"], abs=0.01)
        for usage_id in f["usage_ids"]:
            code = served.usages[usage_id]["suppliedItem"]["itemCodeableConcept"]["coding"][0]
            assert code["code"] == f["item_id"]
            assert not served.charges_by_usage[usage_id]
    issued = [u for f in _faults(served, "no_crosswalk") for u in f["usage_ids"]
              if served.issues_by_usage[u]]
    assert issued, "no_crosswalk scans are still issued from stock"
    for f in _faults(served, "cdm_without_hcpcs"):
        assert served.cdm[f["cdm_code"]]["Hcpcs"] == ""
        assert all(served.crosswalk[i] == f["cdm_code"] for i in f["item_ids"])
        charges = [c for u in f["usage_ids"] for c in served.charges_by_usage[u]]
        assert sorted(c["id"] for c in charges) == sorted(f["charge_ids"])
        assert {c["code"]["coding"][0]["code"] for c in charges} <= {f["cdm_code"]}
        for usage_id in f["usage_ids"]:  # uncharged only while the charge may still come
            if not served.charges_by_usage[usage_id]:
                used = parse_iso_ms(served.usages[usage_id]["occurrenceDateTime"])
                assert used > parse_iso_ms(served.truth["end"]) - 2 * 3600_000
    assert any(f["charge_ids"] for f in _faults(served, "cdm_without_hcpcs"))


def test_late_and_missing_postings(served: Served) -> None:
    sla = served.truth["sla"]
    for f in _faults(served, "late_charge"):
        charge = served.charges[f["charge_id"]]
        assert ext(charge, "usage-id") == f["usage_id"]
        assert _minutes(charge) - f["sla_minutes"] == pytest.approx(f["minutes_late_over_sla"],
                                                                    abs=1e-3)
        assert f["minutes_late_over_sla"] > 0
    for f in _faults(served, "missing_charge"):
        assert f["usage_id"] in served.usages and not served.charges_by_usage[f["usage_id"]]
        assert served.crosswalk[f["item_id"]] == f["cdm_code"]
        used = parse_iso_ms(served.usages[f["usage_id"]]["occurrenceDateTime"])
        due = sla["consumable_charge_minutes"] if served.items[f["item_id"]]["ItemClass"] != \
            "IMPLANT" else sla["implant_charge_minutes"]
        assert used + due * 60_000 < parse_iso_ms(served.truth["end"])  # overdue at the end
    for f in _faults(served, "missing_inventory_issue"):
        assert f["usage_id"] in served.usages and not served.issues_by_usage[f["usage_id"]]
    counted = [f for f in _faults(served, "missing_inventory_issue")
               if f.get("subtype") == "cycle_count"]
    assert counted
    for f in counted:  # the count's ADJUST: same item and location, after the scan, no usage
        adjust = served.inventory[f["adjust_id"]]
        usage = served.usages[f["usage_id"]]
        assert adjust["TransactionType"] == "ADJUST" and adjust["Quantity"] == f["adjusted"] < 0
        assert adjust["ItemId"] == f["item_id"] and adjust["LocationId"] == f["location_id"]
        assert not adjust["UsageRef"]
        assert parse_iso_ms(adjust["PostedAt"]) > parse_iso_ms(usage["occurrenceDateTime"])
    normal = [u for u in served.usages if u not in {f.get("usage_id") for f in
                                                    served.truth["faults"]}]
    assert sum(bool(served.issues_by_usage[u]) for u in normal) > 0.9 * len(normal)


def test_nacks_have_error_acks_and_a_resend(served: Served) -> None:
    for f in _faults(served, "nack"):
        ack = served.acks[f["control_id"]]
        assert ack["MSA"][0][1] == f["ack_code"] in ("AE", "AR") and ack["MSA"][0][3]
        resend = served.messages[f["resend_control_id"]]
        assert f["resend_control_id"] == f["control_id"] + "-R1"
        assert [ft1[2] for ft1 in resend["FT1"]] == f["usage_ids"]
        assert served.acks[f["resend_control_id"]]["MSA"][0][1] == "AA"
        assert [ft1[2] for ft1 in served.messages[f["control_id"]]["FT1"]] == f["usage_ids"]


def test_malformed_hl7_sits_at_its_offset_and_fails(served: Served, estate_factory) -> None:
    for f in _faults(served, "malformed_hl7"):
        block = served.blocks[(f["file"], f["offset"])]
        assert _unusable(block), (f, block[:80])
    # the collectors' block splitter finds a block at exactly that offset
    f = _faults(served, "malformed_hl7")[0]
    hl7_dir = estate_factory(**ESTATE).out_dir / "hl7"
    blocks, _ = split_blocks((hl7_dir / f["file"]).read_bytes(), final=True)
    assert f["offset"] in {b.offset for b in blocks}
    good = [b for (file, _), b in served.blocks.items() if not _unusable(b)]
    assert len(good) > 20 * len(_faults(served, "malformed_hl7"))


def _unusable(block: bytes) -> bool:
    try:
        text = block.decode()
    except UnicodeDecodeError:
        return True
    if not text.startswith("MSH|^~\\&|"):
        return True
    segs = segments(block)
    required = {"PID", "PV1", "FT1"} if segs["MSH"][0][9].startswith("DFT") else {"PID", "PV1"}
    return not required <= set(segs)


def test_out_of_order_records_are_served_with_their_times(served: Served) -> None:
    for f in _faults(served, "out_of_order"):
        if f["resource"] == "ChargeItem":
            assert served.charges[f["id"]]["meta"]["lastUpdated"] == f["last_updated"]
        else:
            assert served.inventory[f["id"]]["ModifiedAt"] == f["last_updated"]
        delay = parse_iso_ms(f["visible_at"]) - parse_iso_ms(f["last_updated"])
        assert 60_000 <= delay <= 15 * 60_000


def test_traps_are_served_as_described(served: Served) -> None:
    for f in _faults(served, "trap_reversal_recharge"):
        charge, credit, recharge = (served.charges[c] for c in f["charge_ids"])
        assert credit["partOf"] == [{"reference": f"ChargeItem/{charge['id']}"}]
        assert credit["quantity"]["value"] == -charge["quantity"]["value"]
        assert credit["priceOverride"]["value"] == -charge["priceOverride"]["value"]
        assert recharge["quantity"] == charge["quantity"] and "partOf" not in recharge
    for f in _faults(served, "trap_distinct_scans"):
        first, second = (served.usages[u] for u in f["usage_ids"])
        assert ext(first, "encounter") == ext(second, "encounter")
        assert _scanned_item(served, _code(first)) == _scanned_item(served, _code(second))
        assert sorted(ext(served.charges[c], "usage-id") for c in f["charge_ids"]) == \
            sorted(f["usage_ids"])
    for f in _faults(served, "trap_bx_conversion"):
        scan = served.usages[f["usage_id"]]
        assert scan["suppliedItem"]["quantity"] == {"value": 1, "unit": "BX"}
        assert served.charges[f["charge_id"]]["quantity"] == {"value": f["factor"], "unit": "EA"}
    for f in _faults(served, "trap_voided_recharge"):
        voided, charge = served.charges[f["voided_charge_id"]], served.charges[f["charge_id"]]
        assert (voided["status"], charge["status"]) == ("entered-in-error", "billable")
        assert ext(voided, "usage-id") == ext(charge, "usage-id") == f["usage_id"]
        assert voided["quantity"] == charge["quantity"] and "partOf" not in charge
    for f in _faults(served, "trap_issue_return"):
        issue, back = served.inventory[f["issue_id"]], served.inventory[f["return_id"]]
        assert (issue["TransactionType"], back["TransactionType"]) == ("ISSUE", "RETURN")
        assert issue["UsageRef"] == back["UsageRef"] == f["usage_id"]
        used = served.usages[f["usage_id"]]["suppliedItem"]["quantity"]["value"]
        assert issue["Quantity"] - back["Quantity"] == used and back["Quantity"] >= 1
        assert parse_iso_ms(back["PostedAt"]) > parse_iso_ms(issue["PostedAt"])
    end = datetime.fromisoformat(served.truth["end"])
    for f in _faults(served, "trap_charge_after_window"):
        assert f["charge_id"] not in served.charges  # posted after the end: not served yet
        assert datetime.fromisoformat(f["posted_at"]) > end


def test_no_crosswalk_items_have_a_cdm_line_of_their_own_name(served: Served) -> None:
    for f in _faults(served, "no_crosswalk"):
        line = served.cdm[f["intended_cdm_code"]]
        assert line["Description"] == served.items[f["item_id"]]["Description"]
        assert line["Price"] == f["price"]


def test_price_faults_are_served_off_their_masters_and_the_rest_on_them(
        served: Served, estate_factory) -> None:
    """Each drifted charge is served at its posted line total, 5-20 % off its CDM line's
    price; each costed issue above the lowest contract valid on its day; every other
    surviving charge at its CDM price and every other issue at its contract price."""
    pricing = served.truth["pricing"]
    assert pricing["cdm_drift"] and pricing["above_contract"]
    drifted = {r["charge_id"] for r in pricing["cdm_drift"]}
    for r in pricing["cdm_drift"]:
        charge = served.charges[r["charge_id"]]
        assert charge["priceOverride"]["value"] == r["amount"]
        assert charge["quantity"]["value"] == r["quantity"] > 0
        assert served.cdm[r["cdm_code"]]["Price"] == r["cdm_price"]
        assert abs(r["unit_price"] - r["cdm_price"]) >= 0.02
        assert 0.04 <= abs(r["unit_price"] / r["cdm_price"] - 1) <= 0.21
        assert r["usd"] == pytest.approx(r["amount"] - r["quantity"] * r["cdm_price"],
                                         abs=0.005)
    for cid, charge in served.charges.items():
        qty = charge["quantity"]["value"]
        if cid in drifted or qty <= 0 or charge["status"] != "billable":
            continue
        price = served.cdm[charge["code"]["coding"][0]["code"]]["Price"]
        assert charge["priceOverride"]["value"] == pytest.approx(qty * price, abs=0.005), cid
    with httpx.Client(base_url=estate_factory(**ESTATE).base_url,
                      headers=bearer(estate_factory(**ESTATE).base_url)) as client:
        contracts = odata_all(client, "ContractPrices")
    above = {r["document_id"]: r for r in pricing["above_contract"]}
    for doc, txn in served.inventory.items():
        if txn["TransactionType"] != "ISSUE":
            continue
        day = txn["PostedAt"][:10]
        valid = [c["Price"] for c in contracts if c["ItemId"] == txn["ItemId"]
                 and c["ValidFrom"] <= day and (c["ValidTo"] is None or c["ValidTo"] >= day)]
        assert valid, doc  # every item has a contract over the window
        if doc in above:
            assert above[doc]["contract_price"] == min(valid)
            assert txn["UnitCost"] == above[doc]["unit_cost"] >= min(valid) + 0.02
            assert txn["UnitCost"] <= min(valid) * 1.26
        else:
            assert txn["UnitCost"] == min(valid), doc
