"""Scratch tables of one compute pass, created for it and dropped after it.

- the dirty encounters of an incremental pass;
- the change an incremental pass makes to the hour points;
- the problems found now, before they are merged into the exception queue;
- the stitching work sets: the charges and issues the shared usage id does not link, and
  the usages they may belong to (small, so the pairing joins stay cheap);
- the stages of the per-usage facts, each a narrow table keyed by usage id: the usage with
  its item resolved (the mapping stage), and one row per usage for its messages, its
  charges and its inventory transactions. The last stage joins them by key, one probe
  each, where a single statement would aggregate and re-index every hop table inside
  itself.

They cost no log writes and are gone with the transaction if it fails; each database
gets the kind it joins fastest:

- SQLite: ``TEMPORARY`` (in a temporary file the OS caches, not in the process's
  memory: the engine sets ``temp_store``) and, where they are probed by key,
  ``WITHOUT ROWID``: clustered on the key, so each probe is one descent;
- PostgreSQL: ``UNLOGGED`` (a temporary table would live in the small per-session
  ``temp_buffers`` and shut out parallel scans), and the usage stages without a key:
  they are hash-joined, and a key index filled in hash order costs more than the
  aggregate that fills it. Their text columns take the store's byte order
  (``store.types.byte_ordered``).

They live in their own ``MetaData``, outside the migrated schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from store.schema_metrics import metric_points, metric_usage_points
from store.types import UtcDateTime, byte_ordered

pass_metadata = MetaData()


def _table(name: str, *columns: Column | Index, clustered: bool = True) -> Table:
    if not clustered:
        return Table(name, pass_metadata, *columns, prefixes=["TEMPORARY"])
    return Table(name, pass_metadata, *columns, prefixes=["TEMPORARY"],
                 sqlite_with_rowid=False)


def _usage_table(name: str, *columns: Column) -> Table:
    table = _table(name, Column("usage_id", String(64), primary_key=True), *columns)
    table.info["keyless_on_postgresql"] = True  # filled once by an aggregate: no conflicts
    return table


pass_dirty_encounters = _table(
    "metric_pass_dirty_encounters",
    Column("encounter_id", String(64), primary_key=True),
)

# The claims an incremental pass redoes (their answers, ``metrics.compute.claim_answers``,
# then the encounters they bill, ``metrics.compute.encounter_billing``) and the encounters
# whose billing inputs it redoes: one statement per step over these, not IN lists of 500
# sent from Python.
pass_touched_claims = _table(
    "metric_pass_touched_claims",
    Column("claim_id", String(64), primary_key=True),
)
pass_billing_encounters = _table(
    "metric_pass_billing_encounters",
    Column("encounter_id", String(64), primary_key=True),
)

# The surviving charges of an incremental pass's dirty encounters with their duplicate
# keys: the three key statements read these few rows, not the charge facts and charges.
pass_live_charges = _table(
    "metric_pass_live_charges",
    Column("charge_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False),
    Column("usage_id", String(64), nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("facility_id", String(32), nullable=False),
    Column("bucket", UtcDateTime, nullable=False),
    Column("quantity", Float),
    Column("amount", Float),
    Column("control_id", String(64), nullable=False),
    Column("cdm_code", String(32), nullable=False),
    Column("carried_usage", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
)

# Charges the usage id did not link, and the usages (and issues) they may pair with.
pass_work_charges = _table(
    "metric_pass_work_charges",
    Column("charge_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False),
    Column("cdm_code", String(32), nullable=False),
    Column("control_id", String(64), nullable=False),
    Column("service_date", Date, nullable=False),
    Column("service_at", UtcDateTime),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("quantity", Float, nullable=False),
    Index("ix_metric_pass_work_charges_encounter", "encounter_id"),
    Index("ix_metric_pass_work_charges_control", "control_id"),
)

pass_work_issues = _table(
    "metric_pass_work_issues",
    Column("document_id", String(64), primary_key=True),
    Column("txn_type", String(16), nullable=False),  # ISSUE | RETURN
    Column("location_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("lot", String(64), nullable=False),
    Column("quantity", Float, nullable=False),  # ISSUE quantity in base units
    Column("posted_at", UtcDateTime, nullable=False),
    # when the stock moved (the ERP's transaction time, else its posting time)
    Column("moved_at", UtcDateTime, nullable=False),
    Index("ix_metric_pass_work_issues_spot", "location_id", "item_id"),
)

pass_work_usages = _table(
    "metric_pass_work_usages",
    Column("hop", String(16), primary_key=True),  # charge | inventory
    Column("usage_id", String(64), primary_key=True),
    Column("encounter_id", String(64), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("cdm_code", String(32), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("lot", String(64), nullable=False, server_default=""),
    Column("quantity", Float),  # scanned quantity in base units (NULL: not convertible)
    Column("used_at", UtcDateTime, nullable=False),
    Column("used_on", Date),  # the facility's local date of the scan
    Column("claimed", Integer, nullable=False, server_default="0"),  # a charge names it
    Index("ix_metric_pass_work_usages_encounter", "hop", "encounter_id", "cdm_code"),
    Index("ix_metric_pass_work_usages_spot", "hop", "location_id", "item_id"),
)


def _like(table: Table) -> Table:
    """A scratch table with ``table``'s columns and key."""
    return _table(f"metric_pass_{table.name.removeprefix('metric_')}",
                  *(Column(c.name, c.type, primary_key=c.primary_key) for c in table.c))


# An incremental pass's change to the hour points (before it is added to the hours and,
# summed by day, to the days).
pass_usage_points = _like(metric_usage_points)
pass_points = _like(metric_points)

# The problems found now, of one kind group, as exception rows (``metrics.compute.exceptions``).
pass_problems = _table(
    "metric_pass_problems",
    Column("exception_id", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("facility_id", String(32)),
    Column("subject", String(130)),
    Column("encounter_id", String(64)),
    Column("usage_ids", Text),
    Column("charge_ids", Text),
    Column("usage_count", Integer),
    Column("amount", Float),
    Column("detail", Text),
)

# The failed-mapping exception rows an incremental pass regroups: those its dirty
# encounters' usages name, before their facts are rebuilt or after.
pass_mapping_subjects = _table(
    "metric_pass_mapping_subjects",
    Column("exception_id", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("facility_id", String(32), nullable=False),
    Column("subject", String(80), nullable=False),
)

# The mapping stage: each usage in scope with its item resolved and what follows from it.
# Only ever scanned (the facts stage drives from it), so a plain heap on both databases:
# filled in scan order, with no key to keep sorted.
pass_usages = _table(
    "metric_pass_usages",
    Column("usage_id", String(64), nullable=False),
    Column("encounter_id", String(64), nullable=False),
    Column("facility_id", String(32), nullable=False),
    Column("location_id", String(64), nullable=False),
    Column("item_ref", String(64), nullable=False),
    Column("uom", String(8), nullable=False),
    Column("used_at", UtcDateTime, nullable=False),
    Column("used_day", Float),  # sqlfn.day_number(used_at): SQLite's julianday, parsed once
    Column("item_id", String(64)),  # NULL: the reference names no item
    Column("item_class", String(16)),
    Column("chargeable", Boolean),
    Column("cdm_code", String(32)),
    Column("base_qty", Float),
    Column("price", Float),
    Column("unit_cost", Float),
    Column("unknown", Integer, nullable=False),
    Column("no_unit", Integer, nullable=False),
    Column("no_xwalk", Integer, nullable=False),
    Column("no_hcpcs", Integer, nullable=False),
    Column("sla_s", Float),
    clustered=False,
)
pass_usages.info["keyless_on_postgresql"] = True
# Joined by these alone: statistics on its twenty columns cost more than the joins save.
pass_usages.info["analyze_columns"] = ("usage_id", "encounter_id")

# First received and first accepted (sent) message, and the channel, per usage.
pass_messages = _usage_table(
    "metric_pass_messages",
    Column("received_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("channel", String(64)),
)

# First charge posted, whether one survives, charged quantity and billed $, per usage.
pass_charges = _usage_table(
    "metric_pass_charges",
    Column("first", UtcDateTime),
    Column("survives", Integer),
    Column("qty", Float),
    Column("billed", Float),
)

# First ISSUE posted, net issued base quantity and link method, per usage.
pass_issues = _usage_table(
    "metric_pass_issues",
    Column("at", UtcDateTime),
    Column("qty", Float),
    Column("method", String(24)),
)


def _for_dialect(table: Table, dialect: str) -> Table:
    """``table`` as this database should hold it (see the module docstring)."""
    if dialect != "postgresql":
        return table
    keyed = not table.info.get("keyless_on_postgresql")
    copy = Table(table.name, MetaData(),
                 *(Column(c.name, byte_ordered(c.type), primary_key=keyed and c.primary_key)
                   for c in table.c),
                 prefixes=["UNLOGGED"])
    for index in table.indexes:  # the stitching sets are probed by these
        Index(index.name, *(copy.c[c.name] for c in index.columns))
    return copy


@contextmanager
def pass_tables(conn: Connection, only: Sequence[Table] = ()) -> Iterator[None]:
    """Create the scratch tables for this pass (``only`` these, when given: retention
    needs three of them) and drop them after it (a failed pass rolls their creation back
    with everything else)."""
    chosen = [t for t in pass_metadata.sorted_tables if not only or t in only]
    tables = [_for_dialect(t, conn.dialect.name) for t in chosen]
    for table in tables:
        conn.execute(CreateTable(table))
        for index in table.indexes:
            conn.execute(CreateIndex(index))
    yield
    for table in tables:
        conn.execute(DropTable(table))
