"""Durations as a person reads them (pure): ``4 min``, ``3.5 h``, ``2.0 d``."""

from __future__ import annotations

from typing import Any

import pandas as pd


def minutes_text(value: Any) -> str:
    """A duration in minutes as a person reads it: ``4 min``, ``3.5 h``, ``2.0 d``; a
    missing one is ``never``."""
    if value is None or pd.isna(value):
        return "never"
    value = float(value)
    if value >= 48 * 60:
        return f"{value / 1440:.1f} d"
    return f"{value / 60:.1f} h" if value >= 120 else f"{value:.0f} min"
