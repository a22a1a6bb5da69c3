"""Implant recall: every usage of one lot, serial, device (UDI-DI) or item, with where and
when it was used, on whose encounter (patient token, never a name or MRN), and how far
its charge and inventory issue got (the usage facts' verdicts, "" before a compute).

A device used after its expiry (the facility's local date of use after the UDI's (17)
date) is an exception of its own: each row says so and the recall counts them.
``chargeline recall`` and the dashboard's Recall page call ``recall``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, or_, select

from core.errors import ConfigError
from core.metric_values import MetricValue
from metrics.read.common import Read, scope_columns, scope_of, value
from store.schema import usage_events
from store.schema_metrics import metric_usage_facts

# selector -> the usage column it matches; "item" also matches the resolved item id
SELECTORS: Mapping[str, str] = {"lot": "lot", "serial": "serial", "udi_di": "udi_di",
                                "item": "item_ref"}
OPTION = {"lot": "--lot", "serial": "--serial", "udi_di": "--udi-di", "item": "--item"}
MAX_ROWS = 100_000  # a recall is one lot's or device's usages: far fewer in practice


@dataclass(frozen=True, slots=True)
class RecallRow:
    """One usage of the recalled lot, serial, device or item."""

    usage_id: str
    facility_id: str
    location_id: str
    encounter_id: str
    used_at: datetime
    used_on: date | None
    patient_token: str
    item_ref: str
    item_id: str  # the item master's id the reference resolved to, "" if unknown
    udi_di: str
    lot: str
    serial: str
    expires_on: date | None
    expired: bool  # used after its expiry date
    charge_status: str  # capture verdict: on_time, late, missing, pending, ...
    inventory_status: str


COLUMNS = tuple(f.name for f in fields(RecallRow))


@dataclass(frozen=True, slots=True)
class Recall:
    """What one recall look-up found."""

    selector: str  # lot | serial | udi_di | item
    value: str
    rows: tuple[RecallRow, ...]

    @property
    def expired(self) -> int:
        """How many of the usages used a device after its expiry."""
        return sum(row.expired for row in self.rows)

    @property
    def usage_ids(self) -> list[str]:
        return [row.usage_id for row in self.rows]


def choose_selector(**given: str) -> tuple[str, str]:
    """The one selector given (lot, serial, udi_di, item) and its value; ``ConfigError``
    naming the options unless exactly one is non-empty."""
    unknown = set(given) - set(SELECTORS)
    if unknown:
        raise ConfigError(f"unknown recall selector(s) {sorted(unknown)}; "
                          f"use one of {', '.join(SELECTORS)}")
    chosen = [(k, v.strip()) for k, v in given.items() if v and v.strip()]
    if len(chosen) != 1:
        named = ", ".join(OPTION[k] for k, _ in chosen) or "none"
        raise ConfigError(f"give exactly one of {', '.join(OPTION.values())} (given: {named})"
                          " — e.g. chargeline recall --lot LOT2311A")
    return chosen[0]


def _where(selector: str, value: str) -> ColumnElement[bool]:
    u, f = usage_events, metric_usage_facts
    column = u.c[SELECTORS[selector]]
    if selector == "item":
        return or_(column == value, f.c.item_id == value)
    # the literal ``<> ''`` lets the store use its partial recall index on the column
    return and_(column == value, column != "")


def recall_rows(conn: Connection, selector: str, value: str) -> tuple[RecallRow, ...]:
    """Every usage matching the selector, by time of use (``recall``'s query)."""
    return _rows(conn, _where(selector, value))


def _rows(conn: Connection, where: ColumnElement[bool], *, newest_first: bool = False,
          limit: int = MAX_ROWS) -> tuple[RecallRow, ...]:
    u, f = usage_events, metric_usage_facts
    order = (u.c.used_at.desc(), u.c.usage_id) if newest_first else (u.c.used_at, u.c.usage_id)
    query = (select(u.c.usage_id, u.c.facility_id, u.c.location_id, u.c.encounter_id,
                    u.c.used_at, u.c.used_on, u.c.patient_token, u.c.item_ref, f.c.item_id,
                    u.c.udi_di, u.c.lot, u.c.serial, u.c.expires_on, f.c.capture,
                    f.c.inventory)
             .select_from(u.outerjoin(f, f.c.usage_id == u.c.usage_id))
             .where(where).order_by(*order).limit(limit))
    out = []
    for r in conn.execute(query):
        expired = r.expires_on is not None and r.used_on is not None and r.used_on > r.expires_on
        out.append(RecallRow(r.usage_id, r.facility_id, r.location_id, r.encounter_id,
                             r.used_at, r.used_on, r.patient_token, r.item_ref,
                             r.item_id or "", r.udi_di, r.lot, r.serial, r.expires_on,
                             expired, r.capture or "", r.inventory or ""))
    return tuple(out)


def expired_used(conn: Connection, *, facility: str = "", limit: int = MAX_ROWS
                 ) -> tuple[RecallRow, ...]:
    """Every usage of a device after its expiry date (the exception of its own), newest
    first; ``facility`` narrows it to one."""
    u = usage_events
    cond = [u.c.expires_on.is_not(None), u.c.used_on > u.c.expires_on]
    if facility:
        cond.append(u.c.facility_id == facility)
    return _rows(conn, and_(*cond), newest_first=True, limit=limit)


EXPIRED_SCOPE = {"facility": "facility_id", "location": "location_id"}


def read_expired(conn: Connection, read: Read) -> list[MetricValue]:
    """``expired_devices_used``: usages scanned in the window whose device's expiry date
    (UDI (17)) is before the facility's local date of use, per scope."""
    u = usage_events
    scope = scope_columns(read, u, EXPIRED_SCOPE)
    rows = conn.execute(select(*scope, func.count()).where(
        u.c.used_at >= read.start, u.c.used_at < read.now, u.c.expires_on.is_not(None),
        u.c.used_on > u.c.expires_on).group_by(*scope)).all()
    n = len(scope)
    return [value(read, scope_of(read, r), r[n], feeds=("usage_event",)) for r in rows]


READERS = {"expired_devices_used": read_expired}


def recall(engine: Engine, *, lot: str = "", serial: str = "", udi_di: str = "",
           item: str = "") -> Recall:
    """Every usage of the one lot, serial, UDI-DI or item given (``ConfigError`` unless
    exactly one is)."""
    selector, value = choose_selector(lot=lot, serial=serial, udi_di=udi_di, item=item)
    with engine.connect() as conn:
        return Recall(selector, value, recall_rows(conn, selector, value))


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else ""
    text = "" if value is None else str(value)
    # a scanned value is untrusted: a spreadsheet must not run it as a formula
    return "'" + text if text.startswith(_FORMULA) else text


def as_table(rows: Sequence[RecallRow]) -> list[list[str]]:
    """The rows as text cells in ``COLUMNS`` order (CSV, the terminal)."""
    return [[_cell(v) for v in astuple(row)] for row in rows]


def to_csv(rows: Sequence[RecallRow]) -> str:
    """The recall as CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(as_table(rows))
    return buffer.getvalue()
