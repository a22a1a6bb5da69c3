"""The shared resources of every page: settings and the store engine (one per process)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from core.config import Settings, load_settings
from store.engine import make_engine


@st.cache_resource(show_spinner=False, ttl=300)
def settings() -> Settings:
    """The settings (env over config file), read once per five minutes."""
    return load_settings()


def database_url() -> str:
    """The store URL the dashboard reads (CHARGELINE_DATABASE_URL)."""
    return settings().database_url


def _dispose(engine: Engine) -> None:
    engine.dispose()


@st.cache_resource(show_spinner=False, on_release=_dispose)
def engine_for(url: str) -> Engine:
    """One pooled engine per store URL, shared by every session (reads never wait on the
    collector's writes)."""
    return make_engine(url, read_mostly=True)


def engine() -> Engine:
    """The engine of the configured store."""
    return engine_for(database_url())
