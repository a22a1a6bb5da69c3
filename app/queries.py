"""The cached query layer every page reads through.

Each function takes the store URL first (so caches are per store) and plain values (so
widget values key the cache), opens a pooled connection, and returns a small DataFrame.
TTLs are short where data moves (interfaces) and longer for heavy aggregates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from app import aggregates, records
from app.drill import DrillFilters
from app.resources import engine_for
from app.users import audit_entries, list_users, roles_of

FAST_TTL = timedelta(seconds=30)
SLOW_TTL = timedelta(minutes=5)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def latest_activity(url: str) -> datetime | None:
    """The newest usage time: where windows end by default."""
    with engine_for(url).connect() as conn:
        return aggregates.latest_activity(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def facility_counts(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per-facility counts of each dataset in the window (long form)."""
    with engine_for(url).connect() as conn:
        rows = aggregates.facility_counts(conn, start, end)
    return pd.DataFrame(rows, columns=["dataset", "facility_id", "n"])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def hourly_counts(url: str, dataset: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly counts per facility of one dataset in the window."""
    with engine_for(url).connect() as conn:
        rows = aggregates.hourly_counts(conn, dataset, start, end)
    return pd.DataFrame(rows, columns=["facility_id", "hour", "n"])


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def channel_health(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return pd.DataFrame(aggregates.channel_health(conn, start, end))


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def latest_channel_stats(url: str) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return pd.DataFrame(aggregates.latest_channel_stats(conn))


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def api_health(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return pd.DataFrame(aggregates.api_health(conn, start, end))


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def source_freshness(url: str) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return pd.DataFrame(aggregates.source_freshness(conn))


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def record_count(url: str, filters: DrillFilters) -> int:
    with engine_for(url).connect() as conn:
        return records.count_records(conn, filters)


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def record_page(url: str, filters: DrillFilters, page: int, page_size: int) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        rows = records.page_of_records(conn, filters, page=page, page_size=page_size)
    from app.datasets import DATASETS

    return pd.DataFrame(rows, columns=list(DATASETS[filters.dataset].columns))


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def facilities(url: str) -> list[str]:
    with engine_for(url).connect() as conn:
        return records.facilities(conn)


@st.cache_data(ttl=timedelta(seconds=60), show_spinner=False)
def roles_for(url: str, email: str) -> list[str]:
    """The store's roles of one user (re-read each minute, so revocation takes effect)."""
    with engine_for(url).connect() as conn:
        return sorted(roles_of(conn, email))


def users(url: str) -> pd.DataFrame:
    """Users and roles, uncached: the admin page must show its own changes at once."""
    with engine_for(url).connect() as conn:
        return pd.DataFrame(list_users(conn))


def audit_log(url: str, limit: int = 200) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return pd.DataFrame(audit_entries(conn, limit=limit))
