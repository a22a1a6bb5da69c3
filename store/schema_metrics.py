"""Tables the metrics package derives from the canonical ones (issue 5).

Three layers: *facts* (one row per usage event and per charge, with its links stitched
and its status decided), *points* (summable aggregates per hour and day bucket and per
facility / location / item class / channel; percentiles are read from the facts), and the
*exception queue* a steward works. ``metric_state`` keeps the compute watermark.

Everything but ``metric_exceptions`` (which carries steward work) is derived and can be
rebuilt with ``compute(full=True)``. The scratch sets of one pass are temporary tables
(``metrics.compute.pass_tables``), not part of this schema. Links by the shared usage id are
implied by the key and recorded as ``link_method = 'usage_id'`` in the facts;
``metric_links`` holds only the links that needed another key or the fallback match.

The indexes on canonical tables at the bottom serve the metric queries (reversal lookup,
hour-range scans of feeds, the inventory fallback match).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from store.schema import (
    Money,
    api_calls,
    charges,
    interface_messages,
    inventory_transactions,
    message_usages,
    metadata,
    replenishment_documents,
    usage_events,
)
from store.types import UtcDateTime

_DIMS = (
    ("facility_id", 32),
    ("location_id", 64),
    ("item_class", 16),
    ("channel", 64),  # interface channel, or collector source for API metrics
    ("detail", 200),  # failure reason, endpoint, procedure code, ...
)


def _dim_columns() -> list[Column]:
    return [
        Column(name, String(width), primary_key=True, server_default="")
        for name, width in _DIMS
    ]


# Links found by something other than the shared usage id: a target belongs to one usage.
metric_links = Table(
    "metric_links",
    metadata,
    Column("hop", String(16), primary_key=True),  # charge | inventory
    Column("target_id", String(130), primary_key=True),
    Column("usage_id", String(64), nullable=False),
    Column("method", String(24), nullable=False),  # control_id | fallback | reversal | serial
    Column("encounter_id", String(64), nullable=False, server_default=""),
    Column("at", UtcDateTime),
    Index("ix_metric_links_usage", "usage_id"),
    Index("ix_metric_links_encounter", "encounter_id"),
)

metric_charge_facts = Table(
    "metric_charge_facts",
    metadata,
    Column("charge_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False),
    Column("bucket", UtcDateTime, nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("usage_id", String(64), nullable=False, server_default=""),  # linked usage
    Column("link_method", String(24), nullable=False, server_default=""),
    Column("kind", String(8), nullable=False),  # charge | credit | voided
    Column("surviving", Boolean, nullable=False),  # a charge not voided and not reversed
    Column("quantity", Float, nullable=False),
    Column("amount", Float, nullable=False),
    Index("ix_metric_charge_facts_usage", "usage_id"),
)

# One row per extra charge of a duplicate group; the group is named by its original.
# The extra carries what the duplicate points and the exception queue count it by (its
# charge's bucket, quantity and $, its usage's location and item class), copied when it is
# found: they then read these few rows alone, not a probe into the charge and usage facts
# per extra on every pass.
metric_duplicates = Table(
    "metric_duplicates",
    metadata,
    Column("charge_id", String(64), primary_key=True),
    Column("dup_of", String(64), nullable=False, index=True),
    Column("dup_key", String(16), nullable=False),  # usage_id | control_id | serial
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("usage_id", String(64), nullable=False, server_default=""),  # linked usage
    Column("facility_id", String(32), nullable=False, server_default=""),
    Column("location_id", String(64), nullable=False, server_default=""),
    Column("item_class", String(16), nullable=False, server_default=""),
    Column("bucket", UtcDateTime, nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("quantity", Float, nullable=False),
    Column("amount", Float, nullable=False),
)

PARTIAL_INDEXES = (
    # Covers the exception queue's regrouping of every failed mapping on each pass (no
    # visit to the fact rows, which lie scattered over the whole table).
    ("mapping", ("mapping_reason", "facility_id", "mapping_subject", "usage_id", "base_qty",
                 "price"), "mapping_reason != ''"),
    ("capture_pending", ("facility_id", "used_at"), "capture = 'pending'"),
    ("inventory_pending", ("facility_id", "used_at"), "inventory = 'pending'"),
)

metric_usage_facts = Table(
    "metric_usage_facts",
    metadata,
    Column("usage_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False, server_default=""),
    Column("item_class", String(16), nullable=False, server_default=""),
    Column("channel", String(64), nullable=False, server_default=""),
    Column("bucket", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=False),
    Column("chargeable", Boolean, nullable=False),
    Column("uom", String(8), nullable=False, server_default=""),
    Column("base_qty", Float),
    Column("price", Float),  # CDM price per base unit (item cost when no CDM line is known)
    Column("unit_cost", Float),  # contract price per base unit at the usage date, else cost
    Column("mapping_reason", String(32), nullable=False, server_default=""),
    Column("mapping_subject", String(80), nullable=False, server_default=""),
    Column("sla_s", Float),
    Column("received_s", Float),
    Column("sent_s", Float),
    Column("charge_s", Float),
    Column("inventory_s", Float),
    Column("charged_qty", Float),
    Column("issued_qty", Float),
    Column("capture", String(16), nullable=False),
    Column("inventory", String(16), nullable=False),
    Column("inv_method", String(24), nullable=False, server_default=""),
    Column("qty_mismatch", Boolean, nullable=False),
    Column("billed_usd", Float),
    Column("procedure_code", String(16), nullable=False, server_default=""),
    Index("ix_metric_usage_facts_facility_used", "facility_id", "used_at"),
    # Partial indexes: only the few rows with a failed mapping or a pending status (whose
    # SLA deadline a later pass must check) are indexed; queries repeat the literal WHERE.
    *(Index(f"ix_metric_usage_facts_{name}", *cols, sqlite_where=text(where),
            postgresql_where=text(where)) for name, cols, where in PARTIAL_INDEXES),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("metric", String(48), primary_key=True),
    Column("grain", String(8), primary_key=True),  # hour | day
    Column("bucket", UtcDateTime, primary_key=True),
    *_dim_columns(),
    Column("num", Float, nullable=False),
    Column("den", Float, nullable=False, server_default="0"),
    Column("amount", Float, nullable=False, server_default="0"),
    Index("ix_metric_points_metric_bucket", "metric", "grain", "bucket"),
)

# One wide row per hour/day, facility, location and item class: every usage-derived
# count in one INSERT ... SELECT (a long table would need a scan per metric).
USAGE_POINT_COLUMNS = (
    "usages", "chargeable", "due", "on_time", "late", "late_usd", "missing", "missing_usd",
    "pending", "unmapped", "fm_unknown_item", "fm_no_crosswalk", "fm_cdm_without_hcpcs",
    "fm_unit_not_convertible", "fm_unknown_item_usd", "fm_no_crosswalk_usd",
    "fm_cdm_without_hcpcs_usd", "fm_unit_not_convertible_usd", "inv_due", "inv_issued",
    "inv_missing", "charged_not_issued", "issued_not_charged", "qty_mismatch",
    "inv_accurate", "supply_cost_usd", "billed_usd", "charged", "charge_s_sum",
)
metric_usage_points = Table(
    "metric_usage_points",
    metadata,
    Column("grain", String(8), primary_key=True),
    Column("bucket", UtcDateTime, primary_key=True),
    Column("facility_id", String(32), primary_key=True),
    Column("location_id", String(64), primary_key=True),
    Column("item_class", String(16), primary_key=True),
    *(Column(name, Float, nullable=False, server_default="0") for name in USAGE_POINT_COLUMNS),
)

metric_exceptions = Table(
    "metric_exceptions",
    metadata,
    Column("exception_id", String(200), primary_key=True),  # kind:facility:subject
    Column("kind", String(32), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False, server_default=""),
    Column("subject", String(130), nullable=False),
    Column("encounter_id", String(64), nullable=False, server_default=""),
    Column("usage_ids", Text, nullable=False, server_default=""),
    Column("charge_ids", Text, nullable=False, server_default=""),
    Column("usage_count", Integer, nullable=False, server_default="0"),
    Column("amount", Float, nullable=False, server_default="0"),
    Column("detail", Text, nullable=False, server_default=""),  # e.g. the suggested fix
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("status", String(24), nullable=False, server_default="open"),
    Column("assignee", String(200), nullable=False, server_default=""),
    Column("status_changed_at", UtcDateTime),
    Column("auto_resolved", Boolean, nullable=False, server_default="0"),
)

# Which collector source delivered which record kind for which facility: lets the reader
# say ERROR (the source behind this number is failing) instead of a stale value.
metric_feed_sources = Table(
    "metric_feed_sources",
    metadata,
    Column("feed", String(32), primary_key=True),  # usage_event | charge | ...
    Column("facility_id", String(32), primary_key=True),
    Column("source", String(64), primary_key=True),
)

metric_state = Table(
    "metric_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Per claim (and the facility its remittances name): its initial remittance (the earliest
# that is not a reversal, by paid_at then id) and its latest one, as the denial metrics take
# them (metrics.read.denials), over every remittance stored whatever its paid_at; a read
# as of ``now`` takes the initial one when it was paid before ``now`` and looks past the
# latest only when that was paid at or after ``now``. Kept by the pass for the claims whose
# remittances or adjustments were ingested since the watermark (issue 23): the window's
# claims are then an index range here, not a ranking of every remittance of them.
metric_claim_answers = Table(
    "metric_claim_answers",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("facility_id", String(32), primary_key=True),
    Column("payer_id", String(64), nullable=False),  # of the initial remittance
    Column("remittance_id", String(128), nullable=False),  # the initial remittance
    Column("charge_amount", Money, nullable=False),  # its CLP03
    Column("paid_at", UtcDateTime, nullable=False),  # its paid_at
    Column("denied", Integer, nullable=False),  # 1: it denied the claim
    Column("last_remittance_id", String(128), nullable=False),
    Column("last_paid_at", UtcDateTime, nullable=False),
    Column("last_denied", Integer, nullable=False),
    Index("ix_metric_claim_answers_paid", "paid_at"),
)

# Per encounter, the inputs of DNFB and of encounter reconciliation's cohort as times (issue
# 23): its discharge, when a billing claim of its facility first billed it (by name, or a
# line's charge), and its surviving charges' gross $ and first and last posting. Reads cut
# them at their claims horizon; the (facility, billed_at) index finds the unbilled
# encounters without visiting the billed ones (metrics.compute.encounter_billing).
metric_encounter_billing = Table(
    "metric_encounter_billing",
    metadata,
    Column("encounter_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("discharged_at", UtcDateTime),  # NULL: not discharged
    Column("billed_at", UtcDateTime),  # NULL: no billing claim bills it
    Column("gross_usd", Float, nullable=False),
    Column("first_posted_at", UtcDateTime),  # NULL: no surviving charge
    Column("last_posted_at", UtcDateTime),
    # a chargeable scan whose charge is expected (reconciliation judges the encounter), and
    # those with no charge posted (missing, unmapped or pending): count and $ at the price
    Column("expected", Boolean, nullable=False),
    Column("charge_gaps", Integer, nullable=False),
    Column("charge_gap_usd", Float, nullable=False),
    Index("ix_metric_encounter_billing_billed", "facility_id", "billed_at"),
    Index("ix_metric_encounter_billing_discharged", "facility_id", "discharged_at"),
)

# Each encounter a claim bills: named by the claim, or owning a charge one of its lines
# names (its charge id, else its line item control number), with the claim's facility,
# creation and whether it bills (not draft, cancelled or entered in error):
# metrics.read.dnfb.claim_encounters kept by the pass, cut at a claims horizon by the reads.
metric_claim_encounters = Table(
    "metric_claim_encounters",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("encounter_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("billing", Boolean, nullable=False),
    Index("ix_metric_claim_encounters_encounter", "encounter_id"),
)

# Each billing claim (not draft, cancelled or entered in error) with its facility and
# creation: a facility's claims horizon at ``now`` is one probe of the (facility, created_at)
# index (metrics.read.dnfb.horizons), where the claims table has no such index and every
# read grouped all of its claims.
metric_billing_claims = Table(
    "metric_billing_claims",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("facility_id", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_metric_billing_claims_created", "facility_id", "created_at"),
)

# Scanned reference -> everything the facts need about its item, one probe per usage.
metric_work_items = Table(
    "metric_work_items",
    metadata,
    Column("ref", String(64), primary_key=True),  # an item id, or a GTIN naming one item
    Column("item_id", String(64), nullable=False),
    Column("item_class", String(16), nullable=False),
    Column("chargeable", Boolean, nullable=False),
    Column("uom", String(8), nullable=False),
    Column("unit_cost", Float, nullable=False),
    Column("cdm_code", String(32)),  # NULL: no crosswalk (or it names no CDM line)
    # Without a crosswalk: the one CDM line with the item's exact description, if any.
    Column("suggested_cdm", String(32)),
    Column("price", Float),  # of the crosswalked line, else of the suggested one
    Column("coded", Boolean, nullable=False),  # the CDM line has HCPCS and revenue code
    # No contract starts or ends inside the data's period: one price for every usage date.
    Column("contract_stable", Boolean, nullable=False),
    Column("contract_price", Float),  # that price (NULL: no contract covers the period)
)

# --- indexes on canonical tables that the metric queries need ----------------------------
Index("ix_metric_charges_reverses", charges.c.reverses_charge_id)
Index("ix_metric_charges_serial", charges.c.serial)
Index("ix_metric_messages_received", interface_messages.c.received_at)
Index("ix_metric_message_usages_control", message_usages.c.control_id)
Index("ix_metric_api_calls_started", api_calls.c.started_at)
Index("ix_metric_replenishment_received", replenishment_documents.c.received_at)
Index("ix_metric_inventory_spot", inventory_transactions.c.location_id,
      inventory_transactions.c.item_id, inventory_transactions.c.posted_at)
# the issues near a scan by when the stock moved, where the ERP records it (stitching's
# work issues; those without read ix_metric_inventory_spot by posting time)
Index("ix_metric_inventory_moved", inventory_transactions.c.location_id,
      inventory_transactions.c.item_id, inventory_transactions.c.moved_at)
Index("ix_metric_usage_events_spot", usage_events.c.location_id, usage_events.c.item_ref,
      usage_events.c.used_at)
