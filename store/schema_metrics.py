"""Tables the metrics package derives from the canonical ones (issue 5).

Three layers: *facts* (one row per usage event and per charge, with its links stitched
and its status decided), *points* (summable aggregates per hour and day bucket and per
facility / location / item class / channel; percentiles are read from the facts), and the
*exception queue* a steward works. ``metric_state`` keeps the compute watermark.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, String, Table, Text

from store.schema import metadata
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


metric_links = Table(
    "metric_links",
    metadata,
    Column("usage_id", String(64), primary_key=True),
    Column("hop", String(16), primary_key=True),  # message | charge | inventory | replenishment
    Column("target_id", String(130), primary_key=True),
    Column("method", String(24), nullable=False),  # usage_id | control_id | fallback ...
    Column("encounter_id", String(64), nullable=False, server_default=""),
    Column("at", UtcDateTime),
    Index("ix_metric_links_target", "target_id"),
    Index("ix_metric_links_encounter", "encounter_id"),
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
    Column("bucket", UtcDateTime, nullable=False, index=True),
    Column("used_at", UtcDateTime, nullable=False),
    Column("chargeable", Boolean, nullable=False),
    Column("base_qty", Float),
    Column("price", Float),
    Column("expected_usd", Float),
    Column("mapping_reason", String(32), nullable=False, server_default=""),
    Column("mapping_subject", String(64), nullable=False, server_default=""),
    Column("received_s", Float),
    Column("sent_s", Float),
    Column("charge_s", Float),
    Column("inventory_s", Float),
    Column("charged_qty", Float),
    Column("issued_qty", Float),
    Column("capture", String(16), nullable=False),
    Column("inventory", String(16), nullable=False),
    Column("qty_mismatch", Boolean, nullable=False),
    Column("cost_usd", Float),
    Column("procedure_code", String(16), nullable=False, server_default=""),
)

metric_charge_facts = Table(
    "metric_charge_facts",
    metadata,
    Column("charge_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False),
    Column("location_id", String(64), nullable=False, server_default=""),
    Column("item_class", String(16), nullable=False, server_default=""),
    Column("bucket", UtcDateTime, nullable=False, index=True),
    Column("usage_id", String(64), nullable=False, server_default=""),
    Column("link_method", String(24), nullable=False, server_default=""),
    Column("surviving", Boolean, nullable=False),
    Column("dup_of", String(64), nullable=False, server_default=""),
    Column("dup_key", String(16), nullable=False, server_default=""),
    Column("quantity", Float, nullable=False),
    Column("amount", Float, nullable=False),
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
    "usages", "due", "on_time", "late", "late_usd", "missing", "missing_usd",
    "unmapped", "fm_unknown_item", "fm_no_crosswalk", "fm_cdm_without_hcpcs",
    "fm_unit_not_convertible", "fm_unknown_item_usd", "fm_no_crosswalk_usd",
    "fm_cdm_without_hcpcs_usd", "fm_unit_not_convertible_usd", "inv_due", "inv_issued",
    "inv_missing", "charged_not_issued", "issued_not_charged", "qty_mismatch",
    "inv_accurate", "supply_cost_usd",
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
    Column("exception_id", String(200), primary_key=True),  # kind:subject
    Column("kind", String(32), nullable=False, index=True),
    Column("facility_id", String(32), nullable=False, server_default=""),
    Column("subject", String(130), nullable=False),
    Column("usage_ids", Text, nullable=False, server_default=""),
    Column("charge_ids", Text, nullable=False, server_default=""),
    Column("amount", Float, nullable=False, server_default="0"),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("status", String(24), nullable=False, server_default="open"),
    Column("assignee", String(200), nullable=False, server_default=""),
    Column("status_changed_at", UtcDateTime),
    Column("auto_resolved", Boolean, nullable=False, server_default="0"),
)

metric_state = Table(
    "metric_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

metric_dirty_encounters = Table(
    "metric_dirty_encounters",
    metadata,
    Column("encounter_id", String(64), primary_key=True),
)
