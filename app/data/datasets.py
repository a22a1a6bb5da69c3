"""The tables and conditions behind each drill-down record set (``app.shaping.datasets``
says what a page shows of them): the table (or join of two) a set reads, the rows it
keeps, its computed columns, and what "problems only" means in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from sqlalchemy import ColumnElement, FromClause, Table, and_, func, or_, true

from app.data.revenue import initial_denial
from app.shaping.datasets import CAPTURE, RECORD_SETS, RecordSet
from metrics.compute.points import ack_wait_s, held
from store.schema import (
    api_calls,
    charges,
    interface_messages,
    inventory_transactions,
    remittance_lines,
    remittances,
    replenishment_documents,
    usage_events,
)
from store.schema_metrics import metric_charge_facts, metric_duplicates, metric_usage_facts

uf = metric_usage_facts.c


@dataclass(frozen=True, kw_only=True)
class Dataset(RecordSet):
    """One drillable record set over one table (or a join of two)."""

    tables: tuple[Table, ...]
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


def _over(name: str, *tables: Table, **sql: object) -> Dataset:
    """The record set ``name`` read from ``tables`` (``sql``: where, join_on, computed)."""
    shown = RECORD_SETS[name]
    return Dataset(**{f.name: getattr(shown, f.name) for f in fields(RecordSet)},
                   tables=tables, **sql)  # type: ignore[arg-type]


def _facts(name: str, where: ColumnElement[bool]) -> Dataset:
    return _over(name, metric_usage_facts, where=where, computed=USAGE_DOLLARS)


DATASETS: dict[str, Dataset] = {
    "capture": _facts("capture", uf.capture.in_(CAPTURE)),
    "at_risk": _facts("at_risk", or_(uf.capture == "missing", uf.mapping_reason != "")),
    "mappings": _facts("mappings", uf.mapping_reason != ""),
    "inventory": _facts("inventory", uf.inventory.in_(("issued", "missing"))),
    "procedures": _facts("procedures", uf.procedure_code != ""),
    "duplicates": _over(
        "duplicates", metric_charge_facts, metric_duplicates,
        join_on=metric_duplicates.c.charge_id == metric_charge_facts.c.charge_id),
    "usage": _over("usage", usage_events),
    "messages": _over("messages", interface_messages),
    "held": _over("held", interface_messages, where=held(), computed={"wait_s": ack_wait_s}),
    "charges": _over("charges", charges),
    "issues": _over("issues", inventory_transactions,
                    where=inventory_transactions.c.txn_type == "ISSUE"),
    "replenishment": _over("replenishment", replenishment_documents,
                           where=replenishment_documents.c.received_at.is_not(None)),
    "remittances": _over("remittances", remittances),
    "remittance_lines": _over(
        "remittance_lines", remittance_lines, remittances,
        join_on=remittances.c.remittance_id == remittance_lines.c.remittance_id),
    "api_calls": _over("api_calls", api_calls),
}


def api_call_failed() -> ColumnElement[bool]:
    """A failed API call, as the api_calls points and the Interfaces page count it: an
    HTTP error (429 included), a client-side error class, or no answer at all."""
    a = api_calls.c
    return or_(a.status_code >= 400, a.error_class != "", a.status_code.is_(None))


def problem_only(ds: Dataset) -> ColumnElement[bool]:
    """A condition that keeps only problem rows where the dataset knows them."""
    if ds.name == "api_calls":
        return api_call_failed()
    if ds.name == "capture":
        return uf.capture.in_(("late", "missing", "unmapped"))
    if ds.name == "inventory":
        return or_(uf.inventory == "missing", uf.qty_mismatch.is_(True))
    if ds.name == "remittances":
        return initial_denial()
    if ds.name == "usage":  # a device used after its UDI expiry (the facility's local date)
        u = usage_events.c
        return and_(u.expires_on.is_not(None), u.used_on > u.expires_on)
    return and_(true())
