"""The record sets a dashboard number can drill into: table, time column, facility column,
the columns shown (never patient tokens or raw payloads) and the filters they accept."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, true

from store.schema import charges, interface_messages, inventory_transactions, usage_events


@dataclass(frozen=True)
class Dataset:
    """One drillable record set."""

    name: str
    label: str
    table: Table
    time_column: str
    columns: tuple[str, ...]
    status_column: str = ""  # the column the "status" filter applies to
    channel_column: str = ""
    where: ColumnElement[bool] = field(default_factory=true)

    @property
    def time(self) -> ColumnElement:
        return self.table.c[self.time_column]


DATASETS: dict[str, Dataset] = {
    "usage": Dataset(
        "usage", "Usage events", usage_events, "used_at",
        ("usage_id", "facility_id", "location_id", "encounter_id", "item_ref", "quantity", "uom",
         "lot", "serial", "used_at", "source"),
    ),
    "messages": Dataset(
        "messages", "Interface messages", interface_messages, "received_at",
        ("channel", "control_id", "message_type", "facility_id", "encounter_id", "status",
         "ack_code", "received_at", "sent_at", "error", "resend_of"),
        status_column="status", channel_column="channel",
    ),
    "charges": Dataset(
        "charges", "Charges", charges, "posted_at",
        ("charge_id", "facility_id", "encounter_id", "cdm_code", "quantity", "amount",
         "service_date", "posted_at", "status", "usage_id", "control_id", "reverses_charge_id"),
        status_column="status",
    ),
    "issues": Dataset(
        "issues", "Inventory issues", inventory_transactions, "posted_at",
        ("document_id", "facility_id", "location_id", "item_id", "txn_type", "quantity", "uom",
         "lot", "serial", "usage_id", "unit_cost", "posted_at"),
        where=inventory_transactions.c.txn_type == "ISSUE",
    ),
}
