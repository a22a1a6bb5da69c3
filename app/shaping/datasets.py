"""The record sets a dashboard number can drill into, as a page offers them (pure): their
labels, the columns shown — never patient tokens or raw payloads — the ids a search
matches, and the status and channel filters each takes.

Canonical tables give the raw records (usage, messages, charges, issues, API calls); the
metric fact tables give the records behind each KPI, with the status that decided them.
The tables and conditions behind each set are ``app.data.datasets``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordSet:
    """One drillable record set: what the drill-down shows of it and how it filters."""

    name: str
    label: str
    time_column: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]  # exact-match search targets (indexed ids)
    status_column: str = ""  # the column the "status" filter applies to
    status_label: str = "Status"
    status_values: tuple[str, ...] = ()  # offered in a select box when known
    channel_column: str = ""
    channel_label: str = "Channel"


CAPTURE = ("on_time", "late", "missing", "unmapped")
MAPPING_REASONS = (
    "unknown_item", "no_crosswalk", "cdm_without_hcpcs", "unit_not_convertible")


def _facts(name: str, label: str, columns: tuple[str, ...], *, status: str = "",
           status_label: str = "Status", values: tuple[str, ...] = ()) -> RecordSet:
    """A record set over the usage facts (time: the scan; search: usage or encounter)."""
    return RecordSet(name, label, "used_at", columns, ("usage_id", "encounter_id"),
                     status_column=status, status_label=status_label, status_values=values)


_SETS = (
    _facts("capture", "Charge capture (due usage)",
           ("usage_id", "facility_id", "location_id", "item_id", "item_class", "used_at",
            "capture", "charge_s", "expected_usd", "encounter_id"),
           status="capture", status_label="Capture", values=CAPTURE),
    _facts("at_risk", "Revenue at risk",
           ("usage_id", "facility_id", "item_id", "used_at", "capture", "mapping_reason",
            "mapping_subject", "expected_usd", "encounter_id"),
           status="capture", status_label="Capture",
           values=("missing", "unmapped", "unknown", "not_chargeable")),
    _facts("mappings", "Failed mappings",
           ("usage_id", "facility_id", "location_id", "item_id", "uom", "used_at",
            "mapping_reason", "mapping_subject", "expected_usd"),
           status="mapping_reason", status_label="Reason", values=MAPPING_REASONS),
    _facts("inventory", "Inventory reconciliation",
           ("usage_id", "facility_id", "location_id", "item_id", "used_at", "inventory",
            "base_qty", "issued_qty", "qty_mismatch", "inventory_s"),
           status="inventory", status_label="Inventory", values=("issued", "missing")),
    _facts("procedures", "Usage by procedure (margin)",
           ("usage_id", "facility_id", "procedure_code", "item_id", "item_class", "used_at",
            "billed_usd", "cost_usd", "encounter_id"),
           status="procedure_code", status_label="Procedure"),
    RecordSet(
        "duplicates", "Duplicate charges", "posted_at",
        ("charge_id", "dup_of", "dup_key", "facility_id", "posted_at", "quantity", "amount",
         "usage_id", "link_method"),
        ("charge_id", "dup_of", "usage_id"), status_column="dup_key", status_label="Matched by",
        status_values=("usage_id", "control_id", "serial")),
    RecordSet(
        "usage", "Usage events", "used_at",
        ("usage_id", "facility_id", "location_id", "encounter_id", "item_ref", "quantity", "uom",
         "lot", "serial", "expires_on", "used_at", "source"),
        ("usage_id", "encounter_id")),
    RecordSet(
        "messages", "Interface messages", "received_at",
        ("channel", "control_id", "message_type", "facility_id", "encounter_id", "status",
         "ack_code", "received_at", "sent_at", "error", "resend_of"),
        ("control_id", "encounter_id"), status_column="status",
        status_values=("R", "F", "T", "S", "Q", "E"), channel_column="channel"),
    # The messages the receiver acknowledged late (metric messages_held): an outage's.
    RecordSet(
        "held", "Held messages", "received_at",
        ("channel", "control_id", "facility_id", "encounter_id", "status", "ack_code",
         "received_at", "sent_at", "wait_s"),
        ("control_id", "encounter_id"), channel_column="channel"),
    RecordSet(
        "charges", "Charges", "posted_at",
        ("charge_id", "facility_id", "encounter_id", "cdm_code", "quantity", "amount",
         "service_date", "posted_at", "status", "usage_id", "control_id", "reverses_charge_id"),
        ("charge_id", "encounter_id", "usage_id", "control_id"), status_column="status",
        status_values=("posted", "credit", "voided")),
    RecordSet(
        "issues", "Inventory issues", "posted_at",
        ("document_id", "facility_id", "location_id", "item_id", "txn_type", "quantity", "uom",
         "lot", "serial", "usage_id", "unit_cost", "posted_at"),
        ("document_id", "usage_id")),
    RecordSet(
        "replenishment", "Replenishment (received)", "received_at",
        ("document_id", "doc_kind", "facility_id", "location_id", "item_id", "quantity",
         "status", "created_at", "ordered_at", "received_at"),
        ("document_id",), status_column="status"),
    # Claim payments (835 CLP): the records behind the denial metrics; CLP02 4 = denied.
    RecordSet(
        "remittances", "Remittances (claim payments)", "paid_at",
        ("remittance_id", "claim_id", "facility_id", "payer_id", "payer_name", "status_code",
         "charge_amount", "paid_amount", "patient_responsibility", "paid_at"),
        ("claim_id", "remittance_id"), status_column="status_code", status_label="CLP02",
        status_values=("1", "2", "3", "4", "22"), channel_column="payer_id",
        channel_label="Payer"),
    # Service lines of the claim payments (835 SVC): the records behind the underpayment
    # metrics (the Revenue cycle page lists the underpaid ones against their contracts).
    RecordSet(
        "remittance_lines", "Remittance lines (service lines paid)", "paid_at",
        ("remittance_id", "line_no", "claim_id", "facility_id", "payer_id", "procedure_code",
         "revenue_code", "units", "service_on", "charge_amount", "paid_amount", "remark_codes",
         "paid_at"),
        ("claim_id", "remittance_id"), channel_column="payer_id", channel_label="Payer"),
    RecordSet(
        "api_calls", "API calls", "started_at",
        ("source", "endpoint", "started_at", "duration_ms", "status_code", "rows", "error_class",
         "attempt", "run_id"),
        ("run_id", "endpoint"), status_column="error_class", status_label="Error class",
        channel_column="source", channel_label="Source"),
)
RECORD_SETS: dict[str, RecordSet] = {s.name: s for s in _SETS}

# The id each dataset's rows are traced by (Lineage ?trace=), and the $ column it totals.
TRACE_COLUMN = {"capture": "usage_id", "at_risk": "usage_id", "mappings": "usage_id",
                "inventory": "usage_id", "procedures": "usage_id", "usage": "usage_id",
                "duplicates": "charge_id", "charges": "charge_id", "messages": "control_id",
                "held": "control_id", "issues": "usage_id"}
MONEY_COLUMN = {"capture": "expected_usd", "at_risk": "expected_usd",
                "mappings": "expected_usd", "procedures": "billed_usd", "duplicates": "amount",
                "charges": "amount", "remittances": "charge_amount",
                "remittance_lines": "charge_amount"}
# What the $ beside a drill-down's count is, so it never reads as another page's figure
# (the Margin card opens its usage: billed $, less supply cost, is the card's margin).
MONEY_WORDS = {"capture": "at CDM price", "at_risk": "at CDM price",
               "mappings": "at CDM price", "procedures": "billed",
               "duplicates": "charged again", "charges": "charged",
               "remittances": "charged on the claims",
               "remittance_lines": "charged on the lines"}
# Further sums a record set's total line needs: the margin's supply cost.
EXTRA_SUMS = {"procedures": ("cost_usd",)}


def total_text(dataset: str, sums: dict[str, float]) -> str:
    """The $ beside a drill-down's count, saying what it is: ``$1,200.00 at CDM price``;
    for the usage behind the Margin card, billed less supply cost, which is the card."""
    column = MONEY_COLUMN.get(dataset)
    if column is None or column not in sums:
        return ""
    text = f"**${sums[column]:,.2f}** {MONEY_WORDS.get(dataset, '')}".rstrip()
    if dataset == "procedures" and "cost_usd" in sums:
        margin = sums[column] - sums["cost_usd"]
        text += f" − ${sums['cost_usd']:,.2f} supply cost = **${margin:,.2f}** margin"
    return text

# Fact columns in seconds are shown in minutes.
SECONDS_COLUMNS = frozenset({"charge_s", "inventory_s", "received_s", "sent_s", "wait_s"})

# Datasets where "problems only" means something (the drill-down offers the checkbox).
# remittances: the initial remittances that denied their claims (the denial metrics').
PROBLEM_DATASETS = frozenset({"capture", "inventory", "api_calls", "remittances"})


def shown_name(column: str) -> str:
    """The header a column gets in the table and the CSV."""
    return column.removesuffix("_s") + "_min" if column in SECONDS_COLUMNS else column
