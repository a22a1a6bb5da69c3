"""Shaping interface-health rows for display (pure): the Mirth-style system -> channel
tree, NACK rates, queue ages and a health colour per row."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

HEALTH_ORDER = {"down": 0, "degraded": 1, "ok": 2, "idle": 3}


def channel_system(channel: str) -> str:
    """The system a channel feeds, from its name (``FAC01_CHG_OUT`` -> Billing)."""
    name = channel.upper()
    if "_CHG" in name or "DFT" in name:
        return "Billing (charges)"
    if "_ADT" in name:
        return "ADT"
    return "Other"


def channel_rows(health: pd.DataFrame, end: datetime) -> pd.DataFrame:
    """One row per channel with rates, queue age in minutes and a health label."""
    if health.empty:
        return pd.DataFrame(columns=["system", "facility_id", "channel", "received", "filtered",
                                     "queued", "sent", "errored", "nack_rate_pct",
                                     "queue_age_min", "last_received", "health"])
    df = health.copy()
    df["system"] = df["channel"].map(channel_system)
    acked = df["acked"].astype(float)
    df["nack_rate_pct"] = (100.0 * df["nacks"].astype(float) / acked.where(acked > 0)).round(1)
    oldest = pd.to_datetime(df["oldest_queued"], utc=True)
    df["queue_age_min"] = ((pd.Timestamp(end) - oldest).dt.total_seconds() / 60).round(0)
    df["health"] = [
        channel_health_label(int(r.errored), int(r.received), r.nack_rate_pct, r.queue_age_min)
        for r in df.itertuples()
    ]
    cols = ["system", "facility_id", "channel", "received", "filtered", "queued", "sent",
            "errored", "nack_rate_pct", "queue_age_min", "last_received", "health"]
    return df[cols].sort_values(["system", "facility_id", "channel"]).reset_index(drop=True)


def channel_health_label(errored: int, received: int, nack_pct: float | None,
                         queue_age_min: float | None) -> str:
    """``down`` when most traffic errors or the queue is stuck an hour, ``degraded`` on
    any errors, NACKs over 2 % or a 15-minute queue, else ``ok`` (``idle`` = no traffic)."""
    if received == 0:
        return "idle"
    age = 0.0 if queue_age_min is None or pd.isna(queue_age_min) else float(queue_age_min)
    nack = 0.0 if nack_pct is None or pd.isna(nack_pct) else float(nack_pct)
    if errored * 2 > received or age >= 60:
        return "down"
    if errored or nack > 2 or age >= 15:
        return "degraded"
    return "ok"


def api_rows(api: pd.DataFrame) -> pd.DataFrame:
    """Per source/endpoint: calls, error rate %, 429s, p95 ms, last success."""
    if api.empty:
        return pd.DataFrame(columns=["source", "endpoint", "calls", "error_rate_pct",
                                     "throttled", "p95_ms", "last_success"])
    df = api.copy()
    df["error_rate_pct"] = (100.0 * df["errors"] / df["calls"]).round(1)
    return df[["source", "endpoint", "calls", "error_rate_pct", "throttled", "p95_ms",
               "last_success"]]


def freshness_rows(fresh: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Per source: last run status, minutes since success and since the newest record.
    A failing source says ``error`` even when old data is present: "the API failed" is
    not "no data arrived"."""
    if fresh.empty:
        return pd.DataFrame(columns=["source", "last_status", "last_error",
                                     "min_since_success", "min_since_newest_record", "runs",
                                     "failed_runs"])
    df = fresh.copy()
    ts = pd.Timestamp(now)
    for col, out in (("last_success", "min_since_success"),
                     ("newest_record", "min_since_newest_record")):
        df[out] = ((ts - pd.to_datetime(df[col], utc=True)).dt.total_seconds() / 60).round(0)
    return df[["source", "last_status", "last_error", "min_since_success",
               "min_since_newest_record", "runs", "failed_runs"]]
