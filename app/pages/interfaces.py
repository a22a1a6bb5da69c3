"""Interfaces page."""

from __future__ import annotations

import streamlit as st

from app.ui import require_page

require_page("pages/interfaces.py")
st.title("Interfaces")
