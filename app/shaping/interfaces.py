"""Shaping interface and API health for display (pure): the Mirth-style system -> channel
/ endpoint tree with rates, queue ages, hourly trends and a health label per row."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd

from app.shaping.durations import minutes_text
from metrics.lineage.graph import Thresholds

THRESHOLDS = Thresholds()

HEALTH_ORDER = ("down", "degraded", "ok", "idle")
HEALTH_ICON = {"down": ":material/error:", "degraded": ":material/warning:",
               "ok": ":material/check_circle:", "idle": ":material/radio_button_unchecked:"}
HEALTH_COLOUR = {"down": "red", "degraded": "orange", "ok": "green", "idle": "gray"}
CHANNEL_COLUMNS = ["health", "state", "facility_id", "channel", "route", "received", "filtered",
                   "queued", "sent", "errored", "held", "nack_rate_pct", "queue_age_min",
                   "trend"]
# a channel the engine reports not running is down (stopped, in error) or degraded (paused)
# whatever its traffic says ('' = its engine's API does not say: no engine source)
STATE_HEALTH = {"stopped": "down", "error": "down", "paused": "degraded"}
API_COLUMNS = ["health", "source", "endpoint", "calls", "errors", "error_rate_pct", "throttled",
               "p95_ms", "last_success", "trend"]
FRESH_COLUMNS = ["health", "source", "last_status", "last_error", "min_since_success",
                 "min_since_newest_record", "runs", "failed_runs"]
TREND_HOURS = 48


def channel_label(facility: str, channel: str) -> str:
    """How a channel is named on the page: ``FAC1/DFT_OUT``, or the name alone when it
    already starts with its facility (``FAC01_CHG_OUT``) or its messages name none.
    Channel names repeat across facilities' engines; the page keys rows by both."""
    if not facility or re.match(rf"{re.escape(facility)}[_\-.]", channel):
        return channel
    return f"{facility}/{channel}"


def channel_route(channel: str) -> str:
    """Where a channel carries messages, from its name (``FAC01_CHG_OUT`` -> charges)."""
    name = channel.upper()
    if "_CHG" in name or "DFT" in name:
        return "EHR → Billing (DFT^P03)"
    if "_ADT" in name:
        return "EHR → Engine (ADT)"
    return "Other"


def worst(labels: list[str]) -> str:
    """The worst health among ``labels`` (``idle`` for none)."""
    return min(labels, key=HEALTH_ORDER.index) if labels else "idle"


def counted(n: int, noun: str) -> str:
    """``1 failed call``, ``6 failed calls``: a count with its noun in the right number."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def channel_health_label(errored: int, received: int, nack_pct: float | None,
                         queue_age_min: float | None, th: Thresholds = THRESHOLDS) -> str:
    """By the lineage graph's thresholds: ``down`` when half the traffic errors, half the
    acknowledgements are NACKs or the queue is stuck an hour; ``degraded`` from 5 %
    errored, 2 % NACKs or a 15-minute queue; else ``ok`` (``idle`` = no traffic)."""
    if received == 0:
        return "idle"
    age = timedelta(minutes=0.0 if queue_age_min is None or pd.isna(queue_age_min)
                    else float(queue_age_min))
    nack = 0.0 if nack_pct is None or pd.isna(nack_pct) else float(nack_pct) / 100.0
    share = errored / received
    if share >= th.errored_down or nack >= th.nack_down or age >= th.queue_down:
        return "down"
    if share >= th.errored_degraded or nack >= th.nack_degraded or age >= th.queue_degraded:
        return "degraded"
    return "ok"


def _trend(hourly: pd.DataFrame, keys: list[str], value: str, hours: list[datetime]
           ) -> dict[tuple[str, ...], list[int]]:
    """Per key, the hourly series of ``value`` with zeros where nothing happened."""
    if hourly.empty:
        return {}
    out: dict[tuple[str, ...], list[int]] = {}
    frame = hourly.assign(hour=pd.to_datetime(hourly["hour"], utc=True))
    index = pd.DatetimeIndex(pd.to_datetime(hours, utc=True))
    for key, part in frame.groupby(keys, sort=False):
        series = part.groupby("hour")[value].sum().reindex(index, fill_value=0)
        out[key if isinstance(key, tuple) else (key,)] = [int(v) for v in series]
    return out


def hours_of(start: datetime, end: datetime, limit: int = TREND_HOURS) -> list[datetime]:
    """The last ``limit`` hour starts of the window (the sparkline's x axis)."""
    n = min(limit, int((end - start) / timedelta(hours=1)))
    return [end - timedelta(hours=n - i) for i in range(n)]


def channel_rows(counts: pd.DataFrame, engine_now: pd.DataFrame, hourly: pd.DataFrame,
                 start: datetime, end: datetime, now: datetime | None = None,
                 held: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per channel, a channel being (facility, channel name): Mirth's counters,
    messages held (``held``: per channel and hour, as ``app.data.aggregates.channel_held``),
    NACK %, queue age in minutes at ``now`` (at most the window's end), hourly trend, and
    the state of its newest engine snapshot (``engine_now``). A channel the engine reports
    in the window but whose messages are not in the log has a row too (its queue that of
    the snapshot): a stopped channel sends nothing, so it must not vanish."""
    quiet = _engine_only(counts, engine_now, start)
    if counts.empty and not quiet:
        return pd.DataFrame(columns=CHANNEL_COLUMNS)
    if not quiet:
        df = counts.copy()
    elif counts.empty:
        df = pd.DataFrame(quiet)
    else:
        df = pd.concat([counts, pd.DataFrame(quiet)], ignore_index=True)
    keys = list(zip(df["facility_id"], df["channel"], strict=True))
    per_channel = {} if held is None or held.empty else held.groupby(
        ["facility_id", "channel"])["held"].sum().to_dict()
    df["held"] = [per_channel.get(k) for k in keys]
    for col in ("received", "errored", "queued", "filtered", "sent", "held", "nacks", "acked"):
        df[col] = df[col].fillna(0).astype(int)
    acked = df["acked"].astype(float)
    df["nack_rate_pct"] = (100.0 * df["nacks"].astype(float) / acked.where(acked > 0)).round(1)
    oldest = pd.to_datetime(df["oldest_queued_hour"], utc=True)
    # The engine's own snapshot knows the exact oldest queued message; points know the hour.
    if not engine_now.empty and "oldest_queued_at" in engine_now:
        exact = dict(zip(zip(engine_now["facility_id"], engine_now["channel"], strict=True),
                         engine_now["oldest_queued_at"], strict=True))
        snap = pd.to_datetime(pd.Series([exact.get(k) for k in keys], index=df.index,
                                        dtype=object), utc=True)
        oldest = snap.where(snap.notna() | oldest.isna(), oldest)
    # An empty queue has age 0 (the catalog's definition), not "unknown".
    at = min(now, end) if now is not None else end
    age = ((pd.Timestamp(at) - oldest).dt.total_seconds() / 60).round(0)
    df["queue_age_min"] = age.where(df["queued"] > 0, 0.0).clip(lower=0)
    trends = _trend(hourly, ["facility_id", "channel"], "received", hours_of(start, end))
    df["trend"] = [trends.get(k, []) for k in keys]
    df["route"] = df["channel"].map(channel_route)
    states = {} if engine_now.empty or "state" not in engine_now else dict(zip(
        zip(engine_now["facility_id"], engine_now["channel"], strict=True),
        engine_now["state"].fillna(""), strict=True))
    df["state"] = [states.get(k, "") for k in keys]
    df["health"] = [
        worst([channel_health_label(int(r.errored), int(r.received), r.nack_rate_pct,
                                    r.queue_age_min), STATE_HEALTH.get(r.state, "idle")])
        for r in df.itertuples()
    ]
    return df[CHANNEL_COLUMNS].sort_values(["facility_id", "channel"]).reset_index(drop=True)


def _engine_only(counts: pd.DataFrame, engine_now: pd.DataFrame, start: datetime
                 ) -> list[dict[str, object]]:
    """Rows for the channels whose newest engine snapshot is in the window but which have
    no messages in it: nothing received, the snapshot's queue."""
    if engine_now.empty or "observed_at" not in engine_now:
        return []
    known = set() if counts.empty else set(zip(counts["facility_id"], counts["channel"],
                                               strict=True))
    observed = pd.to_datetime(engine_now["observed_at"], utc=True)
    out: list[dict[str, object]] = []
    for row, at in zip(engine_now.to_dict("records"), observed, strict=True):
        if (row["facility_id"], row["channel"]) in known or at < pd.Timestamp(start):
            continue
        out.append({"facility_id": row["facility_id"], "channel": row["channel"],
                    "received": 0, "acked": 0, "nacks": 0, "filtered": 0, "sent": 0,
                    "errored": 0, "queued": int(row.get("queued") or 0),
                    "oldest_queued_hour": None})
    return out


def api_health_label(error_rate: float, p95_ms: float | None, failing: bool,
                     th: Thresholds = THRESHOLDS) -> str:
    """``down`` when the source's last run failed, ``degraded`` from 5 % errors or a p95
    over 2 s (the lineage graph's thresholds), else ``ok``."""
    if failing:
        return "down"
    slow = p95_ms is not None and not pd.isna(p95_ms) and p95_ms > th.api_p95_degraded_ms
    if error_rate / 100.0 >= th.api_error_degraded or slow:
        return "degraded"
    return "ok"


def api_rows(api: pd.DataFrame, hourly: pd.DataFrame, fresh: pd.DataFrame, start: datetime,
             end: datetime) -> pd.DataFrame:
    """Per source/endpoint: calls, error rate %, 429s, p95 ms, last success, hourly calls."""
    if api.empty:
        return pd.DataFrame(columns=API_COLUMNS)
    df = api.copy()
    df["error_rate_pct"] = (100.0 * df["errors"] / df["calls"]).round(1)
    failing = set() if fresh.empty else set(fresh.loc[fresh["last_status"] == "error", "source"])
    trends = _trend(hourly, ["source", "endpoint"], "calls", hours_of(start, end))
    df["trend"] = [trends.get((s, e), []) for s, e in zip(df["source"], df["endpoint"],
                                                          strict=True)]
    df["health"] = [api_health_label(float(r.error_rate_pct), r.p95_ms, r.source in failing)
                    for r in df.itertuples()]
    return df[API_COLUMNS]


def freshness_rows(fresh: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Per source: last run status, minutes since success and since the newest record.
    A failing source says ``error`` even when old data is present: "the API failed" is
    not "no data arrived"."""
    if fresh.empty:
        return pd.DataFrame(columns=FRESH_COLUMNS)
    df = fresh.copy()
    ts = pd.Timestamp(now)
    for col, out in (("last_success", "min_since_success"),
                     ("newest_record", "min_since_newest_record")):
        minutes = (ts - pd.to_datetime(df[col], utc=True)).dt.total_seconds() / 60
        df[out] = minutes.round(0).astype("Int64")
    df["health"] = ["down" if s == "error" else "ok" for s in df["last_status"]]
    return df[FRESH_COLUMNS]


def freshness_table(fresh: pd.DataFrame) -> pd.DataFrame:
    """``freshness_rows`` as a person reads it: the last run in words (``no data``), no
    empty error shown as ``None``, minutes as ``4 min`` / ``3.5 h`` / ``never``."""
    out = fresh.copy()
    out["last_status"] = [str(s).replace("nodata", "no data").replace("_", " ") if s else ""
                          for s in out["last_status"]]
    out["last_error"] = [str(e) if e is not None and not pd.isna(e) else ""
                         for e in out["last_error"]]
    for col in ("min_since_success", "min_since_newest_record"):
        out[col] = [minutes_text(v) for v in out[col]]
    return out


def badge(health: str) -> str:
    """A coloured Markdown label for a health value (no emoji: they do not render
    everywhere)."""
    return f":{HEALTH_COLOUR[health]}[{HEALTH_ICON[health]} {health}]"
