"""Paging returns every record exactly once; time filters are exact at the millisecond."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.timefmt import iso, parse_iso_ms
from tests.simulator.walk import bearer, fhir_all, fhir_pages, odata_all


@pytest.fixture(scope="module")
def client(estate_factory) -> Iterator[httpx.Client]:
    running = estate_factory(faults="none")
    with httpx.Client(base_url=running.base_url, headers=bearer(running.base_url)) as c:
        c.truth = running.truth  # type: ignore[attr-defined]
        yield c


def _key(resource: dict) -> tuple[int, str]:
    return parse_iso_ms(resource["meta"]["lastUpdated"]), resource["id"]


@pytest.mark.parametrize("count", [7, 100, 10_000])
def test_fhir_walk_returns_each_record_once_in_order(client: httpx.Client, count: int) -> None:
    pages = fhir_pages(client, "ChargeItem", count=count)
    ids = [e["resource"]["id"] for p in pages for e in p.get("entry", [])]
    total = client.truth["counts"]["charges"]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == total
    assert all(p["total"] == total for p in pages)
    assert all(len(p["entry"]) == count for p in pages[:-1])
    keys = [_key(e["resource"]) for p in pages for e in p["entry"]]
    assert keys == sorted(keys)
    assert not any(link["relation"] == "next" for link in pages[-1]["link"])


@pytest.mark.parametrize(("entity_set", "top"), [("InventoryTransactions", 9),
                                                 ("InventoryTransactions", 1000),
                                                 ("ItemUnits", 1), ("ItemUnits", 50)])
def test_odata_walk_returns_each_row_once_in_order(client: httpx.Client, entity_set: str,
                                                   top: int) -> None:
    rows = odata_all(client, entity_set, top=top)
    key = ("DocumentId",) if entity_set == "InventoryTransactions" else ("ItemId", "Uom")
    ids = [tuple(r[k] for k in key) for r in rows]
    whole = odata_all(client, entity_set, top=10_000)
    assert len(ids) == len(set(ids)) == len(whole) > top
    order = [(r["ModifiedAt"], *(r[k] for k in key)) for r in rows]
    assert order == sorted(order)  # ties on ModifiedAt (ItemUnits) broken by the key


def test_fhir_last_updated_is_exact_at_the_boundary(client: httpx.Client) -> None:
    everything = fhir_all(client, "ChargeItem", count=10_000)
    stamp = everything[len(everything) // 2]["meta"]["lastUpdated"]
    t = parse_iso_ms(stamp)
    times = [parse_iso_ms(r["meta"]["lastUpdated"]) for r in everything]

    def ids(*bounds: str) -> list[int]:
        found = fhir_all(client, "ChargeItem", {"_lastUpdated": list(bounds)}, count=10_000)
        return [parse_iso_ms(r["meta"]["lastUpdated"]) for r in found]

    assert ids(f"gt{stamp}") == [x for x in times if x > t] and t not in ids(f"gt{stamp}")
    assert ids(f"ge{stamp}") == [x for x in times if x >= t] and t in ids(f"ge{stamp}")
    assert ids(f"lt{stamp}") == [x for x in times if x < t]
    assert ids(f"le{stamp}") == [x for x in times if x <= t]
    assert set(ids(f"ge{stamp}", f"le{stamp}")) == {t}
    half = stamp[:-1] + "5Z"  # half a millisecond after the record
    assert t not in ids(f"ge{half}") and t in ids(f"le{half}")
    assert ids(f"ge{iso(t - 3_600_000)}", f"lt{stamp}") == [
        x for x in times if t - 3_600_000 <= x < t]


def test_odata_modified_filter_is_exact_at_the_boundary(client: httpx.Client) -> None:
    rows = odata_all(client, "InventoryTransactions", top=10_000)
    stamp = rows[len(rows) // 3]["ModifiedAt"]
    t = parse_iso_ms(stamp)
    times = [parse_iso_ms(r["ModifiedAt"]) for r in rows]
    for op, keep in (("gt", t.__lt__), ("ge", t.__le__), ("lt", t.__gt__), ("le", t.__ge__)):
        got = odata_all(client, "InventoryTransactions", {"$filter": f"ModifiedAt {op} {stamp}"})
        assert [parse_iso_ms(r["ModifiedAt"]) for r in got] == [x for x in times if keep(x)], op
    both = odata_all(client, "InventoryTransactions",
                     {"$filter": f"ModifiedAt ge {stamp} and ModifiedAt le {stamp}",
                      "$orderby": "ModifiedAt,DocumentId"})
    assert {r["ModifiedAt"] for r in both} == {stamp}


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/billing/fhir/ChargeItem", {"_count": "many"}, "_count"),
    ("/billing/fhir/ChargeItem", {"_count": "20000"}, "_count"),
    ("/billing/fhir/ChargeItem", {"_lastUpdated": "2026-11-18T00:00:00Z"}, "_lastUpdated"),
    ("/billing/fhir/ChargeItem", {"_lastUpdated": "gtyesterday"}, "_lastUpdated"),
    ("/billing/fhir/ChargeItem", {"_sort": "-_lastUpdated"}, "_sort"),
    ("/billing/fhir/ChargeItem", {"patient": "p-1"}, "patient"),
    ("/billing/fhir/ChargeItem", {"_cursor": "not-a-cursor"}, "_cursor"),
    ("/ehr/fhir/SupplyDelivery", {"_count": "-1"}, "_count"),
])
def test_bad_fhir_parameters_get_an_outcome_naming_them(client: httpx.Client, path: str,
                                                        params: dict, parameter: str) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 400
    issue = answer.json()["issue"][0]
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert issue["expression"] == [parameter] and parameter in issue["diagnostics"]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"$top": "-1"}, "$top"),
    ({"$top": "ten"}, "$top"),
    ({"$filter": "Price gt 3"}, "$filter"),
    ({"$filter": "ModifiedAt gt tomorrow"}, "$filter"),
    ({"$filter": "ModifiedAt gt 2026-11-18T00:00:00Z or ModifiedAt lt 2026-11-19"}, "$filter"),
    ({"$orderby": "ModifiedAt desc"}, "$orderby"),
    ({"$orderby": "Quantity"}, "$orderby"),
    ({"$select": "DocumentId"}, "$select"),
    ({"$skiptoken": "zzz"}, "$skiptoken"),
])
def test_bad_odata_options_get_an_error_naming_them(client: httpx.Client, params: dict,
                                                    parameter: str) -> None:
    answer = client.get("/erp/odata/InventoryTransactions", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["target"] == parameter and parameter in error["message"]


def test_unknown_resources_are_404_with_the_served_list(client: httpx.Client) -> None:
    fhir = client.get("/billing/fhir/Patient")
    assert fhir.status_code == 404 and "ChargeItem" in fhir.json()["issue"][0]["diagnostics"]
    odata = client.get("/erp/odata/Suppliers")
    assert odata.status_code == 404 and "InventoryTransactions" in odata.json()["error"]["message"]
    assert {e["name"] for e in client.get("/erp/odata/").json()["value"]} >= {
        "Items", "Crosswalk", "PurchaseRequisitions"}
