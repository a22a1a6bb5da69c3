"""Shared pieces of the metric reader: the request, bucket windows, scopes and values.

Windows over stored points are rounded out to whole buckets: every hour bucket that
overlaps ``[now - window, now)`` counts, so a one-hour rule read at 10:05 sees 09:00-10:05,
never five minutes. Windows of two days or more read whole days from the day rows and
only their ragged ends from the hour rows. Windows over facts and raw rows are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Row,
    Subquery,
    Table,
    and_,
    cast,
    func,
    or_,
    select,
)

from core.config import ChargeSla
from core.metric_values import MetricValue, ValueStatus
from core.payer_contracts import PayerContract
from metrics.read.health import SourceHealth
from store.sqlfn import ceil_int

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
T = TypeVar("T")


@dataclass(frozen=True)
class Read:
    """One ``values()`` call."""

    metric: str
    window: timedelta
    scope_keys: tuple[str, ...]
    now: datetime
    params: Mapping[str, str] = field(default_factory=dict)
    health: SourceHealth = field(default_factory=SourceHealth)
    sla: ChargeSla = field(default_factory=ChargeSla)
    # per source, the minutes between its deliveries by nature (SourceConfig's
    # expected_every_minutes); freshness counts the minutes beyond them
    cadence: Mapping[str, float] = field(default_factory=dict)
    # the payers' contract terms (settings.payer_contracts): the underpayment metrics
    contracts: tuple[PayerContract, ...] = ()

    @property
    def start(self) -> datetime:
        return self.now - self.window

    def param(self, name: str, default: str = "") -> str:
        return str(self.params.get(name, default))


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_window(table: Table, start: datetime, now: datetime) -> ColumnElement[bool]:
    """Rows of a points table (``grain``, ``bucket``) that cover ``[start, now)``."""
    lo = floor_hour(start)
    hours = and_(table.c.grain == "hour", table.c.bucket >= lo, table.c.bucket < now)
    if now - lo < 2 * DAY:
        return hours
    day_lo = floor_day(lo) + (DAY if floor_day(lo) < lo else timedelta(0))
    day_hi = floor_day(now)
    return or_(
        and_(table.c.grain == "day", table.c.bucket >= day_lo, table.c.bucket < day_hi),
        and_(table.c.grain == "hour", table.c.bucket >= lo, table.c.bucket < day_lo),
        and_(table.c.grain == "hour", table.c.bucket >= day_hi, table.c.bucket < now),
    )


def channel_identity(scope_keys: Sequence[str]) -> tuple[str, ...]:
    """The scope keys with ``facility`` before ``channel`` whenever ``channel`` is asked
    for: a channel is named per engine, so two facilities' ``DFT_OUT`` are two channels
    and a per-channel value always says whose it is."""
    keys = tuple(scope_keys)
    if "channel" not in keys or "facility" in keys:
        return keys
    at = keys.index("channel")
    return (*keys[:at], "facility", *keys[at:])


def scope_columns(read: Read, table: Table, mapping: Mapping[str, str]
                  ) -> list[ColumnElement[str]]:
    """The table columns for the requested scope keys; refuse keys the metric lacks."""
    unknown = [k for k in read.scope_keys if k not in mapping]
    if unknown:
        raise ValueError(f"metric {read.metric} cannot be split by {unknown[0]!r}; "
                         f"use {', '.join(sorted(mapping)) or 'no scope keys'}")
    return [table.c[mapping[k]].label(k) for k in read.scope_keys]


def scope_of(read: Read, row: Sequence[object]) -> dict[str, str]:
    """The scope dict of a result row whose first columns are the scope keys."""
    return {k: str(row[i]) for i, k in enumerate(read.scope_keys)}


def value(read: Read, scope: dict[str, str], number: float | None, *,
          amount: float | None = None, numerator: float | None = None,
          denominator: float | None = None, feeds: Sequence[str] = (),
          nodata: bool = False, extra: Mapping[str, float] | None = None,
          error: str = "") -> MetricValue:
    """A metric value for one scope: ERROR when ``error`` is given or a source behind
    ``feeds`` is failing, NODATA when there was nothing to measure, else OK."""
    detail: dict[str, float] = dict(extra or {})
    if numerator is not None:
        detail["numerator"] = float(numerator)
    if denominator is not None:
        detail["denominator"] = float(denominator)
    rounded = None if number is None else round(float(number), 4)
    money = None if amount is None else round(float(amount), 2)
    problem = error or (read.health.problem(feeds, scope.get("facility")) if feeds else "")
    if problem:
        return MetricValue(read.metric, scope, rounded, ValueStatus.ERROR, read.now, money,
                           detail, problem)
    if nodata or number is None:
        return MetricValue(read.metric, scope, None, ValueStatus.NODATA, read.now, money,
                           detail)
    return MetricValue(read.metric, scope, rounded, ValueStatus.OK, read.now, money, detail)


def pct(numerator: float, denominator: float) -> float | None:
    return None if not denominator else 100.0 * numerator / denominator


def nearest_rank(conn: Connection, read: Read, base: Subquery, p: float) -> list[Row]:
    """Nearest-rank ``p`` (0..1) of ``base.v`` per scope: the smallest value with at least
    ``p`` of the scope's rows at or below it. ``base`` holds the scope keys (labelled as
    ``read.scope_keys``) and ``v``; each row is the scope values, the value and the count."""
    keys = [base.c[k] for k in read.scope_keys]
    ranked = select(*keys, base.c.v,
                    func.row_number().over(partition_by=keys or None, order_by=base.c.v)
                    .label("rn"),
                    func.count().over(partition_by=keys or None).label("n")).subquery("ranked")
    rkeys = [ranked.c[k] for k in read.scope_keys]
    return list(conn.execute(select(*rkeys, func.min(ranked.c.v), func.max(ranked.c.n)).where(
        ranked.c.rn >= ceil_int(cast(ranked.c.n, Float) * p)).group_by(*rkeys)).all())


CHUNK = 500  # ids per IN list: well under every database's bound on bound parameters


def chunks(values: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """The distinct non-empty ``values``, sorted, in lists of at most ``size`` (IN lists)."""
    ordered = sorted({v for v in values if v})
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def per_transaction(conn: Connection, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per transaction of ``conn`` (``key`` names the answer): the reads
    of one page ask the same store-wide question per facility and metric."""
    transaction = conn.get_transaction()
    cached = conn.info.get(key)
    if cached is not None and transaction is not None and cached[0] is transaction:
        answer: T = cached[1]
        return answer
    found = compute()
    if transaction is not None:
        conn.info[key] = (transaction, found)
    return found
