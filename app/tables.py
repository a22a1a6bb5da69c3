"""How tables look: readable times and dollars, and a coloured health cell (pure apart
from Streamlit's column-config objects)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

HEALTH_BACKGROUND = {"down": "#fde0dc", "degraded": "#fff1d6", "ok": "#e3f4e4", "idle": "#eeeeee",
                     "unknown": "#eeeeee",
                     "error": "#fde0dc", "firing": "#fde0dc", "pending": "#fff1d6",
                     "resolved": "#e3f4e4"}
MONEY = ("amount", "amount_usd", "expected_usd", "billed_usd", "cost_usd", "margin_usd",
         "supply_cost_usd")
TIME_FORMAT = "D MMM YYYY, HH:mm"


DURATION_SUFFIXES = ("_min", "_ms", "_s", "_h", "_pct", "_hours", "_minutes")


# Headers that read better than their column's name spelled out.
LABELS = {"facility_id": "Facility", "last_status": "Last run", "last_error": "Last error",
          "min_since_success": "Since success", "min_since_newest_record": "Since newest record",
          "url_or_path": "URL or path", "nack_rate_pct": "NACK %", "error_rate_pct": "Errors %",
          "queue_age_min": "Queue age", "p95_ms": "p95 ms", "throttled": "429s",
          "amount_usd": "Amount"}
ACRONYMS = {"id": "ID", "url": "URL", "api": "API", "hl7": "HL7", "cpt": "CPT", "ms": "ms"}


def header(name: str) -> str:
    """A column's header in words, sentence case: ``usage_id`` -> ``Usage ID``,
    ``amount_usd`` -> ``Amount``, ``last_status`` -> ``Last run``."""
    if str(name) in LABELS:
        return LABELS[str(name)]
    words = [ACRONYMS.get(w.lower(), w) for w in str(name).removesuffix("_usd").split("_") if w]
    if not words:
        return str(name)
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def column_config(df: pd.DataFrame, **overrides: Any) -> dict[str, Any]:
    """Column settings for ``df``: headers in words, dates as ``18 Nov 2026, 10:15``,
    dollars with a sign and thousands separators, durations and rates to one decimal;
    ``overrides`` win."""
    config: dict[str, Any] = {}
    for name in df.columns:
        dtype = df[name].dtype
        label = header(name)
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            config[name] = st.column_config.DatetimeColumn(label, format=TIME_FORMAT)
        elif name in MONEY:
            config[name] = st.column_config.NumberColumn(label, format="$%,.2f")
        elif pd.api.types.is_float_dtype(dtype) and str(name).endswith(DURATION_SUFFIXES):
            config[name] = st.column_config.NumberColumn(label, format="%.1f")
        else:
            config[name] = st.column_config.Column(label)
    return {**config, **overrides}


def no_none(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns with their missing values as empty cells, not ``None``."""
    out = df.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].where(out[name].notna(), "")
    return out


def with_times(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding datetimes turned into real datetime columns (UTC)."""
    out = df.copy()
    for name in out.columns:
        if out[name].dtype == object and len(out) and any(
                hasattr(v, "tzinfo") and hasattr(v, "hour") for v in out[name].head(5)):
            out[name] = pd.to_datetime(out[name], utc=True, errors="coerce")
    return out


def styled_health(df: pd.DataFrame, column: str = "health") -> Any:
    """``df`` with its health (or state) cells tinted by value (small tables only:
    pandas styling is cell by cell)."""
    if df.empty or column not in df.columns:
        return df

    def tint(value: Any) -> str:
        word = str(value).split()[-1] if value else ""
        colour = HEALTH_BACKGROUND.get(word)
        return f"background-color: {colour}" if colour else ""

    return df.style.map(tint, subset=[column]).format(precision=1, na_rep="", thousands=",")
