"""Rules page."""

from __future__ import annotations

import streamlit as st

from app.ui import require_page

require_page("pages/rules.py")
st.title("Rules")
