"""The Overview's trends on first view: a demo estate long enough for the default window
and its previous period, and, where the previous period is thin, what there is instead of
a bare "No trends"."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pandas as pd

from app.shaping.kpis import SUM_COLUMNS
from app.shaping.overview import trend_note
from app.shaping.window import window_ending
from tests.app.conftest import signed_in

END = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
WEEK = window_ending(END, timedelta(days=7))


def _sums(usages: float) -> pd.DataFrame:
    if not usages:
        return pd.DataFrame(columns=["facility_id", *SUM_COLUMNS])
    return pd.DataFrame([{"facility_id": "FAC01", **dict.fromkeys(SUM_COLUMNS, 1.0),
                          "usages": usages}])


def test_a_thin_or_empty_previous_period_says_what_there_is() -> None:
    first = datetime(2026, 11, 13, 9, 0, tzinfo=UTC)
    empty = trend_note(_sums(500), _sums(0), WEEK, first)
    assert empty is not None
    assert empty.startswith("No trends yet: the previous 7 days (04 Nov 11:00 – 11 Nov 11:00 "
                            "UTC) hold no data; data since 13 Nov 2026 09:00 UTC.")
    thin = trend_note(_sums(500), _sums(40), WEEK, first)
    assert thin is not None and "hold 40 usage events against 500 in this period" in thin
    assert trend_note(_sums(500), _sums(400), WEEK, first) is None  # trends shown
    day = trend_note(_sums(50), _sums(0), window_ending(END, timedelta(hours=24)), None)
    assert day is not None and "previous 24 h" in day and "data since" not in day


def test_the_default_window_of_a_young_store_says_why_no_trends(seeded_sqlite) -> None:
    at = signed_in("executive").run()
    assert not at.exception, at.exception
    notes = [i.value for i in at.info]
    assert any("previous 7 days" in n and "data since" in n for n in notes), notes
    assert not any(m.delta for m in at.metric)  # no meaningless +9,000 %


def test_the_demo_estate_covers_the_default_window_and_its_previous_period() -> None:
    """``make demo``'s estate is two default windows long, so the CFO's first view has a
    trend on every card; at half the volume it is as many records as one week was."""
    from app.shaping.window import WINDOWS
    from chargeline.demo import DEMO_DAYS, DEMO_VOLUME_SCALE, demo

    assert timedelta(days=DEMO_DAYS) >= 2 * WINDOWS["7 days"]
    assert DEMO_DAYS * DEMO_VOLUME_SCALE <= 7  # the first pass stays about a minute
    defaults = inspect.signature(demo).parameters
    assert (defaults["days"].default, defaults["volume_scale"].default) == (
        DEMO_DAYS, DEMO_VOLUME_SCALE)
