"""The canonical schema: one table per record kind of ``core.model`` plus the
collector's own bookkeeping (runs, API calls, quarantine, watermarks, leases).

Fact tables carry ``source`` (the configured source that delivered the row),
``record_hash`` (so re-ingesting an unchanged record touches nothing) and ``ingested_at``
(so metrics recompute only what changed). Other packages add their tables to the same
``metadata`` in modules of their own (``store.schema_*``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from store.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

Money = Numeric(14, 2)
Qty = Numeric(14, 4)


def _lineage_columns() -> list[Column]:
    return [
        Column("source", String(64), nullable=False, server_default=""),
        Column("record_hash", String(32), nullable=False),
        Column("ingested_at", UtcDateTime, nullable=False, index=True),
    ]


facilities = Table(
    "facilities",
    metadata,
    Column("facility_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    *_lineage_columns(),
)

locations = Table(
    "locations",
    metadata,
    Column("location_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("cost_centre", String(32), nullable=False, server_default=""),
    *_lineage_columns(),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("description", String(300), nullable=False),
    Column("uom", String(8), nullable=False),
    Column("unit_cost", Money, nullable=False),
    Column("item_class", String(16), nullable=False),
    Column("chargeable", Boolean, nullable=False),
    Column("serialised", Boolean, nullable=False, server_default="0"),
    Column("gtin", String(20), nullable=False, server_default="", index=True),
    Column("modified_at", UtcDateTime),
    *_lineage_columns(),
)

item_uoms = Table(
    "item_uoms",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("uom", String(8), primary_key=True),
    Column("factor", Qty, nullable=False),
    *_lineage_columns(),
)

reorder_points = Table(
    "reorder_points",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("location_id", String(64), primary_key=True),
    Column("reorder_point", Qty, nullable=False),
    Column("par_level", Qty, nullable=False),
    *_lineage_columns(),
)

cdm_entries = Table(
    "cdm_entries",
    metadata,
    Column("cdm_code", String(32), primary_key=True),
    Column("description", String(300), nullable=False),
    Column("hcpcs", String(16), nullable=False, server_default=""),
    Column("revenue_code", String(8), nullable=False, server_default=""),
    Column("price", Money, nullable=False),
    *_lineage_columns(),
)

crosswalks = Table(
    "crosswalks",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("cdm_code", String(32), nullable=False, index=True),
    *_lineage_columns(),
)

contract_prices = Table(
    "contract_prices",
    metadata,
    Column("contract_id", String(64), primary_key=True),
    Column("item_id", String(64), nullable=False, index=True),
    Column("supplier", String(200), nullable=False),
    Column("price", Money, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("modified_at", UtcDateTime),
    *_lineage_columns(),
)

encounters = Table(
    "encounters",
    metadata,
    Column("encounter_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False, index=True),
    Column("patient_token", String(32), nullable=False, server_default=""),
    Column("encounter_class", String(32), nullable=False, server_default=""),
    Column("procedure_code", String(16), nullable=False, server_default=""),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("last_updated", UtcDateTime),
    *_lineage_columns(),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("usage_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("patient_token", String(32), nullable=False, server_default=""),
    Column("item_ref", String(64), nullable=False, index=True),
    Column("quantity", Qty, nullable=False),
    Column("uom", String(8), nullable=False),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("serial", String(64), nullable=False, server_default=""),
    Column("clinician_id", String(64), nullable=False, server_default=""),
    Column("used_at", UtcDateTime, nullable=False),
    # the facility's local calendar date of the scan (the day a charge's service date
    # names): its configured time zone, else the offset the source wrote
    Column("used_on", Date),
    Column("recorded_at", UtcDateTime),
    *_lineage_columns(),
    # a device's identity from its UDI (GS1 (01) and (17)), for recalls and expiry
    Column("udi_di", String(14), nullable=False, server_default=""),
    Column("expires_on", Date),
    Index("ix_usage_events_facility_used", "facility_id", "used_at"),
    # recall look-ups; partial, since most scans carry no lot, serial or UDI
    *[Index(f"ix_usage_events_{col}", col, sqlite_where=text(f"{col} <> ''"),
            postgresql_where=text(f"{col} <> ''")) for col in ("lot", "serial", "udi_di")],
)

# A channel is (facility, channel name): two facilities' engines may both have a DFT_OUT,
# and their MSH-10 control ids may repeat. An unknown facility (MSH-4 empty) is "".
interface_messages = Table(
    "interface_messages",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("control_id", String(64), primary_key=True),
    Column("message_type", String(16), nullable=False),
    Column("facility_id", String(32), primary_key=True, server_default=""),
    Column("encounter_id", String(64), nullable=False, server_default=""),
    Column("patient_token", String(32), nullable=False, server_default=""),
    Column("received_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("status", String(1), nullable=False),
    Column("ack_code", String(2)),
    Column("error", Text, nullable=False, server_default=""),
    Column("resend_of", String(64), nullable=False, server_default=""),
    *_lineage_columns(),
    Index("ix_interface_messages_channel_received", "channel", "received_at"),
    Index("ix_interface_messages_control_id", "control_id"),
)

# FT1-2 usage references of each message: the key that stitches usage -> message.
# facility_id is the message's (its key is facility, channel and control id).
message_usages = Table(
    "message_usages",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("control_id", String(64), primary_key=True),
    Column("usage_id", String(64), primary_key=True),
    Column("facility_id", String(32), primary_key=True, server_default=""),
    Index("ix_message_usages_usage_id", "usage_id"),
)

charges = Table(
    "charges",
    metadata,
    Column("charge_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("patient_token", String(32), nullable=False, server_default=""),
    Column("cdm_code", String(32), nullable=False),
    Column("quantity", Qty, nullable=False),
    Column("amount", Money, nullable=False),
    Column("service_date", Date, nullable=False),  # the facility's local date
    # the service instant, where the billing system sends one (FHIR occurrenceDateTime)
    Column("service_at", UtcDateTime),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reverses_charge_id", String(64), nullable=False, server_default=""),
    Column("usage_id", String(64), nullable=False, server_default="", index=True),
    Column("control_id", String(64), nullable=False, server_default="", index=True),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("serial", String(64), nullable=False, server_default=""),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
    # status and amount too: DNFB days' daily gross revenue (30 days of a facility's
    # charges, metrics.read.dnfb.gross_per_day) is read from the index alone
    Index("ix_charges_facility_posted", "facility_id", "posted_at", "status", "amount"),
)

inventory_transactions = Table(
    "inventory_transactions",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("txn_type", String(16), nullable=False),
    Column("quantity", Qty, nullable=False),
    Column("uom", String(8), nullable=False),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("serial", String(64), nullable=False, server_default=""),
    Column("usage_id", String(64), nullable=False, server_default="", index=True),
    Column("unit_cost", Money),
    Column("posted_at", UtcDateTime, nullable=False),
    # when the stock moved, where the ERP records it apart from the (later) posting time
    Column("moved_at", UtcDateTime),
    Column("modified_at", UtcDateTime, nullable=False),
    *_lineage_columns(),
    Index("ix_inventory_transactions_facility_posted", "facility_id", "posted_at"),
)

replenishment_documents = Table(
    "replenishment_documents",
    metadata,
    Column("document_id", String(64), primary_key=True),
    Column("doc_kind", String(16), nullable=False),
    Column("facility_id", String(32), nullable=False, index=True),
    Column("location_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("quantity", Qty, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ordered_at", UtcDateTime),
    Column("received_at", UtcDateTime),
    Column("modified_at", UtcDateTime, nullable=False),
    *_lineage_columns(),
)

claims = Table(
    "claims",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("patient_token", String(32), nullable=False, server_default=""),
    Column("total", Money, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("outcome", String(32), nullable=False, server_default=""),
    Column("paid_amount", Money),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
)

# A claim's service lines (FHIR Claim.item, X12 837 loop 2400): the charge each bills
# (``charge_id`` when the source says) and the line item control number (REF*6R) the 835
# echoes back; stitched to charges and remittance lines at read time (metrics.read.claims).
claim_lines = Table(
    "claim_lines",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("line_control", String(64), nullable=False, server_default=""),
    Column("revenue_code", String(8), nullable=False, server_default=""),
    Column("procedure_code", String(64), nullable=False, server_default=""),
    Column("modifiers", String(64), nullable=False, server_default=""),
    Column("units", Numeric(12, 3), nullable=False),
    Column("charge_amount", Money),  # NULL: the source gave no amount (FHIR item.net)
    Column("service_on", Date),
    Column("charge_id", String(64), nullable=False, server_default=""),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
    Index("ix_claim_lines_line_control", "line_control"),
    Index("ix_claim_lines_charge_id", "charge_id"),
)

# Remittance advice (X12 835, FHIR ClaimResponse/EOB): per claim, per service line, and
# each adjustment (CARC) at claim (line_no 0) or line level.
remittances = Table(
    "remittances",
    metadata,
    Column("remittance_id", String(128), primary_key=True),
    Column("claim_id", String(64), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False, server_default=""),
    Column("payer_id", String(64), nullable=False, server_default=""),
    Column("payer_name", String(200), nullable=False, server_default=""),
    Column("status_code", String(4), nullable=False),
    Column("charge_amount", Money, nullable=False),
    Column("paid_amount", Money, nullable=False),
    Column("patient_responsibility", Money, nullable=False),
    Column("payer_claim_id", String(64), nullable=False, server_default=""),
    Column("paid_at", UtcDateTime, nullable=False, index=True),
    Column("received_at", UtcDateTime),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
    # each payer's newest name (app.data.revenue.payer_names)
    Index("ix_remittances_payer_paid", "payer_id", "paid_at"),
)

remittance_lines = Table(
    "remittance_lines",
    metadata,
    Column("remittance_id", String(128), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("claim_id", String(64), nullable=False, index=True),
    Column("line_control", String(64), nullable=False, server_default=""),
    Column("procedure_code", String(64), nullable=False, server_default=""),
    Column("revenue_code", String(8), nullable=False, server_default=""),
    Column("charge_amount", Money, nullable=False),
    Column("paid_amount", Money, nullable=False),
    Column("units", Numeric(12, 3), nullable=False),
    Column("service_on", Date),
    Column("remark_codes", String(200), nullable=False, server_default=""),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
)

remittance_adjustments = Table(
    "remittance_adjustments",
    metadata,
    Column("remittance_id", String(128), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("claim_id", String(64), nullable=False, index=True),
    Column("group_code", String(4), nullable=False),
    Column("reason_code", String(8), nullable=False),
    Column("amount", Money, nullable=False),
    Column("quantity", Numeric(12, 3)),
    Column("last_updated", UtcDateTime, nullable=False),
    *_lineage_columns(),
)

channel_stats = Table(
    "channel_stats",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("observed_at", UtcDateTime, primary_key=True),
    Column("facility_id", String(32), primary_key=True, server_default=""),  # see above
    Column("received", BigInteger, nullable=False),
    Column("filtered", BigInteger, nullable=False),
    Column("queued", BigInteger, nullable=False),
    Column("sent", BigInteger, nullable=False),
    Column("errored", BigInteger, nullable=False),
    Column("oldest_queued_at", UtcDateTime),
    # the engine's word for the channel, normalised (core.model.CHANNEL_STATES; ''
    # where the source does not say) and its connectors with messages waiting
    Column("state", String(16), nullable=False, server_default=""),
    Column("waiting_connectors", Integer, nullable=False, server_default="0"),
    *_lineage_columns(),
)

# --- collector bookkeeping -------------------------------------------------------------

collector_runs = Table(
    "collector_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("collector_id", String(128), nullable=False, server_default=""),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("status", String(16), nullable=False),
    Column("records", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("error_class", String(64), nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("newest_record_at", UtcDateTime),
    Index("ix_collector_runs_source_started", "source", "started_at"),
)

api_calls = Table(
    "api_calls",
    metadata,
    Column("call_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("collector_runs.run_id"), index=True),
    Column("source", String(64), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", Integer),
    Column("rows", Integer, nullable=False, server_default="0"),
    Column("error_class", String(64), nullable=False, server_default=""),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Index("ix_api_calls_source_started", "source", "started_at"),
)

# Raw payloads may hold PHI: only the admin role may reveal them, and each reveal is
# written to the audit log (issue 7).
quarantined_records = Table(
    "quarantined_records",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("record_kind", String(32), nullable=False, server_default=""),
    Column("position", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw_payload", Text, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("quarantined_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    UniqueConstraint("source", "payload_hash"),
)

source_watermarks = Table(
    "source_watermarks",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),  # e.g. ChargeItem, or a log file
    Column("cursor", String(400), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# An ACK read before the message it acknowledges (an engine's ACK log beside its message
# log, read first): kept until that message arrives, then applied to it and deleted.
hl7_early_acks = Table(
    "hl7_early_acks",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("facility_id", String(32), primary_key=True),  # the ACK's MSH-6 ("" if none)
    Column("control_id", String(64), primary_key=True),  # MSA-2: the message acknowledged
    Column("channel", String(64), nullable=False),  # where the ACK was read
    Column("sent_at", UtcDateTime, nullable=False),
    Column("ack_code", String(2), nullable=False),
    Column("error", Text, nullable=False, server_default=""),
    Column("received_at", UtcDateTime, nullable=False),  # when Chargeline read it
    Index("ix_hl7_early_acks_control", "control_id"),
)

source_leases = Table(
    "source_leases",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
)

FACT_TABLES: dict[str, Table] = {
    "facility": facilities,
    "location": locations,
    "item": items,
    "item_uom": item_uoms,
    "reorder_point": reorder_points,
    "cdm_entry": cdm_entries,
    "crosswalk": crosswalks,
    "contract_price": contract_prices,
    "encounter": encounters,
    "usage_event": usage_events,
    "interface_message": interface_messages,
    "charge": charges,
    "inventory_transaction": inventory_transactions,
    "replenishment_document": replenishment_documents,
    "claim": claims,
    "claim_line": claim_lines,
    "remittance": remittances,
    "remittance_line": remittance_lines,
    "remittance_adjustment": remittance_adjustments,
    "channel_stats": channel_stats,
}
