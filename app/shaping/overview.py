"""The executive numbers shaped for display (pure): network totals, a facility x KPI
table, per-bucket series for trends, and the drill-down behind each number."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from app.shaping.drill import DrillFilters
from app.shaping.facilities import facility_label
from app.shaping.kpis import KPIS, SUM_COLUMNS, Kpi
from app.shaping.window import WINDOWS, Window

PROBLEM_DRILLS = frozenset({"capture", "inventory"})  # show the exceptions, not all due rows


def totals(sums: pd.DataFrame) -> dict[str, float]:
    """The network's sums (every facility added up)."""
    if sums.empty:
        return {c: 0.0 for c in SUM_COLUMNS}
    return {c: float(sums[c].sum()) for c in SUM_COLUMNS}


def network_values(sums: pd.DataFrame) -> dict[str, float | None]:
    """Every KPI for the whole network; ``None`` when there is nothing to measure."""
    total = totals(sums)
    if sums.empty:
        return {k.key: None for k in KPIS}
    return {k.key: k.value(total) for k in KPIS}


def facility_table(sums: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """One row per facility (named as everywhere: ``St. Mary Regional (FAC01)``), one
    column per KPI (raw numbers; the page formats them)."""
    rows = []
    for row in sums.sort_values("facility_id").to_dict("records"):
        fac = str(row["facility_id"])
        rows.append({"facility_id": fac, "facility": facility_label(fac, names),
                     **{k.label: k.value(row) for k in KPIS}})
    return pd.DataFrame(rows, columns=["facility_id", "facility", *(k.label for k in KPIS)])


def kpi_series(series: pd.DataFrame, kpi: Kpi) -> pd.DataFrame:
    """Per facility and bucket, the KPI's value (buckets where it is undefined dropped)."""
    if series.empty:
        return pd.DataFrame(columns=["facility_id", "bucket", "value"])
    out = series[["facility_id", "bucket"]].copy()
    out["value"] = [kpi.value(r) for r in series.to_dict("records")]
    out = out.dropna(subset=["value"])
    return out.sort_values(["bucket", "facility_id"]).reset_index(drop=True)


def network_series(series: pd.DataFrame, kpi: Kpi, before: datetime | None = None
                   ) -> list[float]:
    """The network's KPI per bucket, oldest first (a card's sparkline); only the buckets
    that start before ``before`` (the bucket still filling would read as a collapse)."""
    if before is not None and not series.empty:
        series = series[pd.to_datetime(series["bucket"], utc=True) < pd.Timestamp(before)]
    if series.empty:
        return []
    summed = series.groupby("bucket", sort=True)[list(SUM_COLUMNS)].sum()
    values = [kpi.value(r) for r in summed.to_dict("records")]
    return [round(float(v), 2) for v in values if v is not None]


def holds_bucket(series: pd.DataFrame, start: datetime | None) -> bool:
    """Whether ``series`` has a point in the bucket starting at ``start`` (the bucket
    still filling holds none until its first record lands, just after midnight)."""
    if start is None or series.empty:
        return False
    return bool((pd.to_datetime(series["bucket"], utc=True) == pd.Timestamp(start)).any())


# The count a card's records link opens, for a card whose figure is a rate or a mean (a $
# or a count card's link opens records that add up to the card itself).
RECORD_COUNTS = {"capture": (lambda s: s.get("due", 0.0) - s.get("on_time", 0.0),
                             "not charged on time"),
                 "inventory": (lambda s: s.get("inv_due", 0.0) - s.get("inv_accurate", 0.0),
                               "not matched"),
                 "replenishment": (lambda s: s.get("repl_docs", 0.0), "received")}


def records_label(kpi: Kpi, sums: Mapping[str, float]) -> str:
    """The card's link, saying what it opens when the card is not a sum of its records:
    ``Records: 41 not charged on time`` under a charge capture of 79.2 %."""
    counted = RECORD_COUNTS.get(kpi.key)
    if counted is None:
        return "Records"
    count, words = counted
    return f"Records: {count(sums):,.0f} {words}"


def drill_for(kpi: Kpi, window: Window, facilities: tuple[str, ...] = (),
              status: str = "") -> DrillFilters:
    """The records behind ``kpi`` in ``window`` (optionally one facility, one status)."""
    return DrillFilters(dataset=kpi.dataset, facilities=facilities, since=window.start,
                        until=window.end, status=status or kpi.status,
                        problems=kpi.key in PROBLEM_DRILLS and not status)


def comparable(now: pd.DataFrame, before: pd.DataFrame, share: float = 0.5) -> bool:
    """Whether the previous period saw enough usage (``share`` of this one) for trends."""
    current, previous = totals(now)["usages"], totals(before)["usages"]
    return current > 0 and previous >= share * current


def top_procedures(margin: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` procedures with the most billed $ (the chart stays readable)."""
    if margin.empty:
        return margin
    return margin.sort_values("billed_usd", ascending=False).head(n).reset_index(drop=True)


def _length_words(window: Window) -> str:
    """``7 days`` / ``24 h``: the sidebar's name for the window's length."""
    length = window.end - window.start
    named = {v: k for k, v in WINDOWS.items()}
    return named.get(length, f"{length.total_seconds() / 86400:g} days")


def trend_note(now: pd.DataFrame, before: pd.DataFrame, window: Window,
               first: datetime | None) -> str | None:
    """Why the cards show no trend, with what there is to see instead: what the previous
    period holds and since when the store has data. ``None`` when the periods compare."""
    if comparable(now, before):
        return None
    length, prev = _length_words(window), window.previous
    current, previous = totals(now)["usages"], totals(before)["usages"]
    span = f"{prev.start:%d %b %H:%M} – {prev.end:%d %b %H:%M} UTC"
    if previous == 0:
        head = f"No trends yet: the previous {length} ({span}) hold no data"
    else:
        head = (f"No trends: the previous {length} ({span}) hold {previous:,.0f} usage "
                f"events against {current:,.0f} in this period — too few to compare")
    since = f"; data since {first:%d %b %Y %H:%M} UTC" if first is not None else ""
    return (f"{head}{since}. The cards show this period alone; trends appear once the "
            "previous period holds at least half as much activity (or pick a shorter "
            "window in the sidebar).")
