"""The record sets a dashboard number can drill into: the tables, time column, filters and
the columns shown — never patient tokens or raw payloads.

Canonical tables give the raw records (usage, messages, charges, issues, API calls); the
metric fact tables give the records behind each KPI, with the status that decided them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, FromClause, Table, and_, func, or_, true

from metrics.compute.points import ack_wait_s, held
from store.schema import (
    api_calls,
    charges,
    interface_messages,
    inventory_transactions,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_charge_facts, metric_duplicates, metric_usage_facts

uf = metric_usage_facts.c


@dataclass(frozen=True)
class Dataset:
    """One drillable record set over one table (or a join of two)."""

    name: str
    label: str
    tables: tuple[Table, ...]
    time_column: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]  # exact-match search targets (indexed ids)
    status_column: str = ""  # the column the "status" filter applies to
    status_label: str = "Status"
    status_values: tuple[str, ...] = ()  # offered in a select box when known
    channel_column: str = ""
    channel_label: str = "Channel"
    where: ColumnElement[bool] = field(default_factory=true)
    join_on: ColumnElement[bool] | None = None
    computed: dict[str, Callable[[], ColumnElement]] = field(default_factory=dict)

    @property
    def source(self) -> FromClause:
        """What the query selects from."""
        if len(self.tables) == 1:
            return self.tables[0]
        assert self.join_on is not None
        return self.tables[0].join(self.tables[1], self.join_on)

    def col(self, name: str) -> ColumnElement:
        """The column ``name``: a computed one, else that of the first table having it."""
        if name in self.computed:
            return self.computed[name]()
        for table in self.tables:
            if name in table.c:
                return table.c[name]
        raise KeyError(f"dataset {self.name!r} has no column {name!r}")

    def has(self, name: str) -> bool:
        return name in self.computed or any(name in t.c for t in self.tables)

    @property
    def time(self) -> ColumnElement:
        return self.col(self.time_column)


# Dollar figures of a usage fact, from its base quantity and per-unit price and cost.
USAGE_DOLLARS: dict[str, Callable[[], ColumnElement]] = {
    "expected_usd": lambda: func.coalesce(uf.base_qty * uf.price, 0.0),
    "cost_usd": lambda: func.coalesce(uf.base_qty * uf.unit_cost, 0.0),
}


def _facts(name: str, label: str, columns: tuple[str, ...], where: ColumnElement[bool], *,
           status: str = "", status_label: str = "Status",
           values: tuple[str, ...] = ()) -> Dataset:
    return Dataset(name, label, (metric_usage_facts,), "used_at", columns,
                   ("usage_id", "encounter_id"), status_column=status, status_label=status_label,
                   status_values=values, where=where, computed=USAGE_DOLLARS)


CAPTURE = ("on_time", "late", "missing", "unmapped")
MAPPING_REASONS = ("unknown_item", "no_crosswalk", "cdm_without_hcpcs", "unit_not_convertible")

DATASETS: dict[str, Dataset] = {
    "capture": _facts(
        "capture", "Charge capture (due usage)",
        ("usage_id", "facility_id", "location_id", "item_id", "item_class", "used_at",
         "capture", "charge_s", "expected_usd", "encounter_id"),
        uf.capture.in_(CAPTURE), status="capture", status_label="Capture", values=CAPTURE),
    "at_risk": _facts(
        "at_risk", "Revenue at risk",
        ("usage_id", "facility_id", "item_id", "used_at", "capture", "mapping_reason",
         "mapping_subject", "expected_usd", "encounter_id"),
        or_(uf.capture == "missing", uf.mapping_reason != ""), status="capture",
        status_label="Capture", values=("missing", "unmapped", "unknown", "not_chargeable")),
    "mappings": _facts(
        "mappings", "Failed mappings",
        ("usage_id", "facility_id", "location_id", "item_id", "uom", "used_at",
         "mapping_reason", "mapping_subject", "expected_usd"),
        uf.mapping_reason != "", status="mapping_reason", status_label="Reason",
        values=MAPPING_REASONS),
    "inventory": _facts(
        "inventory", "Inventory reconciliation",
        ("usage_id", "facility_id", "location_id", "item_id", "used_at", "inventory",
         "base_qty", "issued_qty", "qty_mismatch", "inventory_s"),
        uf.inventory.in_(("issued", "missing")), status="inventory", status_label="Inventory",
        values=("issued", "missing")),
    "procedures": _facts(
        "procedures", "Usage by procedure (margin)",
        ("usage_id", "facility_id", "procedure_code", "item_id", "item_class", "used_at",
         "billed_usd", "cost_usd", "encounter_id"),
        uf.procedure_code != "", status="procedure_code", status_label="Procedure"),
    "duplicates": Dataset(
        "duplicates", "Duplicate charges", (metric_charge_facts, metric_duplicates),
        "posted_at",
        ("charge_id", "dup_of", "dup_key", "facility_id", "posted_at", "quantity", "amount",
         "usage_id", "link_method"),
        ("charge_id", "dup_of", "usage_id"), status_column="dup_key", status_label="Matched by",
        status_values=("usage_id", "control_id", "serial"),
        join_on=metric_duplicates.c.charge_id == metric_charge_facts.c.charge_id),
    "usage": Dataset(
        "usage", "Usage events", (usage_events,), "used_at",
        ("usage_id", "facility_id", "location_id", "encounter_id", "item_ref", "quantity", "uom",
         "lot", "serial", "used_at", "source"),
        ("usage_id", "encounter_id")),
    "messages": Dataset(
        "messages", "Interface messages", (interface_messages,), "received_at",
        ("channel", "control_id", "message_type", "facility_id", "encounter_id", "status",
         "ack_code", "received_at", "sent_at", "error", "resend_of"),
        ("control_id", "encounter_id"), status_column="status",
        status_values=("R", "F", "T", "S", "Q", "E"), channel_column="channel"),
    # The messages the receiver acknowledged late (metric messages_held): an outage's.
    "held": Dataset(
        "held", "Held messages", (interface_messages,), "received_at",
        ("channel", "control_id", "facility_id", "encounter_id", "status", "ack_code",
         "received_at", "sent_at", "wait_s"),
        ("control_id", "encounter_id"), channel_column="channel",
        where=held(), computed={"wait_s": ack_wait_s}),
    "charges": Dataset(
        "charges", "Charges", (charges,), "posted_at",
        ("charge_id", "facility_id", "encounter_id", "cdm_code", "quantity", "amount",
         "service_date", "posted_at", "status", "usage_id", "control_id", "reverses_charge_id"),
        ("charge_id", "encounter_id", "usage_id", "control_id"), status_column="status",
        status_values=("posted", "credit", "voided")),
    "issues": Dataset(
        "issues", "Inventory issues", (inventory_transactions,), "posted_at",
        ("document_id", "facility_id", "location_id", "item_id", "txn_type", "quantity", "uom",
         "lot", "serial", "usage_id", "unit_cost", "posted_at"),
        ("document_id", "usage_id"), where=inventory_transactions.c.txn_type == "ISSUE"),
    "replenishment": Dataset(
        "replenishment", "Replenishment (received)", (replenishment_documents,), "received_at",
        ("document_id", "doc_kind", "facility_id", "location_id", "item_id", "quantity",
         "status", "created_at", "ordered_at", "received_at"),
        ("document_id",), status_column="status",
        where=replenishment_documents.c.received_at.is_not(None)),
    "api_calls": Dataset(
        "api_calls", "API calls", (api_calls,), "started_at",
        ("source", "endpoint", "started_at", "duration_ms", "status_code", "rows", "error_class",
         "attempt", "run_id"),
        ("run_id", "endpoint"), status_column="error_class", status_label="Error class",
        channel_column="source", channel_label="Source"),
}

# The id each dataset's rows are traced by (Lineage ?trace=), and the $ column it totals.
TRACE_COLUMN = {"capture": "usage_id", "at_risk": "usage_id", "mappings": "usage_id",
                "inventory": "usage_id", "procedures": "usage_id", "usage": "usage_id",
                "duplicates": "charge_id", "charges": "charge_id", "messages": "control_id",
                "held": "control_id", "issues": "usage_id"}
MONEY_COLUMN = {"capture": "expected_usd", "at_risk": "expected_usd",
                "mappings": "expected_usd", "procedures": "billed_usd", "duplicates": "amount",
                "charges": "amount"}

# Fact columns in seconds are shown in minutes.
SECONDS_COLUMNS = frozenset({"charge_s", "inventory_s", "received_s", "sent_s", "wait_s"})


def shown_name(column: str) -> str:
    """The header a column gets in the table and the CSV."""
    return column.removesuffix("_s") + "_min" if column in SECONDS_COLUMNS else column


def api_call_failed() -> ColumnElement[bool]:
    """A failed API call, as the api_calls points and the Interfaces page count it: an
    HTTP error (429 included), a client-side error class, or no answer at all."""
    a = api_calls.c
    return or_(a.status_code >= 400, a.error_class != "", a.status_code.is_(None))


# Datasets where "problems only" means something (the drill-down offers the checkbox).
PROBLEM_DATASETS = frozenset({"capture", "inventory", "api_calls"})


def problem_only(ds: Dataset) -> ColumnElement[bool]:
    """A condition that keeps only problem rows where the dataset knows them."""
    if ds.name == "api_calls":
        return api_call_failed()
    if ds.name == "capture":
        return uf.capture.in_(("late", "missing", "unmapped"))
    if ds.name == "inventory":
        return or_(uf.inventory == "missing", uf.qty_mismatch.is_(True))
    return and_(true())
