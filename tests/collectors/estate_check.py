"""What the demo estate served, and what the store holds, as comparable key sets.

``served(estate)`` reads the simulator's own collections and HL7 layout (its ground truth
of what it serves at its clock's end); ``stored(engine)`` reads the same keys back from
the store. Equal sets with equal row counts mean 0 lost and 0 duplicated.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, func, select

from core.config import SourceConfig
from simulator.estate import Estate
from simulator.odata import KEYS
from store import schema as s
from store.schema_collectors import claim_outcomes

FHIR_TABLES: dict[str, tuple[Table, tuple[str, ...]]] = {
    "billing/ChargeItem": (s.charges, ("charge_id",)),
    "billing/Encounter": (s.encounters, ("encounter_id",)),
    "billing/Claim": (s.claims, ("claim_id",)),
    "billing/ClaimResponse": (claim_outcomes, ("response_id",)),
    "ehr/SupplyDelivery": (s.usage_events, ("usage_id",)),
}
ODATA_TABLES: dict[str, Table] = {
    "Facilities": s.facilities, "Locations": s.locations, "Items": s.items,
    "ItemUnits": s.item_uoms, "ReorderPoints": s.reorder_points, "ChargeMaster": s.cdm_entries,
    "Crosswalk": s.crosswalks, "ContractPrices": s.contract_prices,
    "InventoryTransactions": s.inventory_transactions,
    "PurchaseRequisitions": s.replenishment_documents,
}


def served(estate: Estate, as_of: int | None = None) -> dict[str, set[tuple[Any, ...]]]:
    """Key sets of everything the estate serves at ``as_of`` (default: its end)."""
    as_of = estate.hl7.as_of if as_of is None else as_of
    out: dict[str, set[tuple[Any, ...]]] = {}
    for name, (table, _key) in FHIR_TABLES.items():
        col = estate.collections[name]
        out[table.name] = {(col.render(r)["id"],) for r in col.visible_records(as_of)}
    for name, table in ODATA_TABLES.items():
        col = estate.collections[f"erp/{name}"]
        out[table.name] = {tuple(str(col.render(r)[k]) for k in KEYS[name])
                           for r in col.visible_records(as_of)}
    messages, malformed = set(), set()
    for entries in estate.hl7.channels.values():
        for e in entries:
            if e.ready_ms > as_of:
                continue
            if e.message is not None:
                # the store's key: channel, control id and facility (MSH-4)
                messages.add((e.file.split("/")[0], e.message.control_id,
                              e.message.facility_id))
            else:
                malformed.add(f"{e.file}@{e.offset}")
    out["interface_messages"] = messages
    out["quarantined_hl7"] = malformed
    return out


def stored(engine: Engine) -> tuple[dict[str, set[tuple[Any, ...]]], dict[str, int]]:
    """The same key sets read from the store, and each table's row count."""
    keys: dict[str, set[tuple[Any, ...]]] = {}
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        tables = [t for t, _ in FHIR_TABLES.values()] + list(ODATA_TABLES.values())
        for table in [*tables, s.interface_messages]:
            key = [c for c in table.primary_key.columns]
            keys[table.name] = {tuple(str(v) for v in r) for r in conn.execute(select(*key))}
            rows[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
        keys["quarantined_hl7"] = {r.position for r in conn.execute(
            select(s.quarantined_records.c.position)
            .where(s.quarantined_records.c.record_kind == "interface_message"))}
    return keys, rows


def assert_exactly_once(engine: Engine, estate: Estate, as_of: int | None = None) -> None:
    """The store holds every served record once: equal key sets, no extra rows."""
    expected = served(estate, as_of)
    keys, rows = stored(engine)
    for name, want in expected.items():
        got = keys[name]
        lost, extra = want - got, got - want
        assert not lost and not extra, (
            f"{name}: {len(lost)} lost (e.g. {sorted(lost)[:3]}), "
            f"{len(extra)} not served (e.g. {sorted(extra)[:3]})")
        if name in rows:
            assert rows[name] == len(want), f"{name}: {rows[name]} rows for {len(want)} records"


def sources_for(running: Any, timeout_seconds: float, **overrides: Any) -> list[SourceConfig]:
    """The estate's five demo sources with a client timeout (and other overrides)."""
    out = []
    for raw in running.sources:
        extra = dict(overrides)
        if raw["kind"] != "hl7_log":
            extra["timeout_seconds"] = timeout_seconds
        else:
            extra.pop("page_size", None)
        out.append(SourceConfig(**{**raw, **extra}))
    return out
