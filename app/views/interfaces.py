"""Interfaces: the triage page. A system -> channel / endpoint tree in the spirit of Mirth's
dashboard (the engine's channel state, received, filtered, queued, sent, errored, NACK rate,
queue age; API p95, errors, 429s; freshness) with an hourly trend on every row, worst
first. Refreshes itself every 30 s; every problem links to its records."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import charts, queries
from app.resources import database_url, settings
from app.shaping.drill import DrillFilters, to_query_params
from app.shaping.durations import minutes_text
from app.shaping.interfaces import (
    HEALTH_COLOUR,
    HEALTH_ICON,
    STATE_HEALTH,
    api_rows,
    channel_label,
    channel_rows,
    counted,
    freshness_rows,
    freshness_table,
    worst,
)
from app.tables import column_config, styled_health, with_times
from app.ui import Window, current_window, require_page, window_caption
from metrics.catalog import HELD_AFTER_S
from metrics.lineage.graph import SYSTEMS, system_of

DRILL_PAGE = "views/drilldown.py"
HELD_LATE = f"more than {HELD_AFTER_S / 60:g} minutes"
REFRESH = "30s"

require_page("views/interfaces.py")
url = database_url()
st.title("Interfaces")
kinds = {s.name: s.kind for s in settings().sources}

# Widths that keep every column on a 1440 px screen (the sidebar open, inside the
# engine's expander). The facility is in the channel's name (FAC01_CHG_OUT, FAC1/DFT_OUT)
# and the route follows from it: neither gets a column of its own.
CHANNEL_COLUMNS_SHOWN = ["health", "state", "channel", "received", "filtered", "queued", "sent",
                         "errored", "held", "nack_rate_pct", "queue_age_min", "trend"]
CHANNEL_CONFIG = {
    "health": st.column_config.TextColumn("Health", width=78),
    "state": st.column_config.TextColumn(
        "State", width=72, help="the engine's own word at its newest snapshot (Mirth, "
                                "Rhapsody); blank where no engine API is read"),
    "channel": st.column_config.TextColumn("Channel", width=130),
    "received": st.column_config.NumberColumn("Received", width=74),
    "filtered": st.column_config.NumberColumn("Filtered", width=66),
    "queued": st.column_config.NumberColumn("Queued", width=64),
    "sent": st.column_config.NumberColumn("Sent", width=56),
    "errored": st.column_config.NumberColumn("Errored", width=66),
    "held": st.column_config.NumberColumn(
        "Held", width=52, help=f"acknowledged {HELD_LATE} after the engine received them"),
    "nack_rate_pct": st.column_config.NumberColumn("NACK %", width=66, format="%.1f"),
    "queue_age_min": st.column_config.NumberColumn("Queue age", width=84, format="%.0f min",
                                                   help="the oldest queued message's age"),
    "trend": st.column_config.LineChartColumn("Last 48 h", width=110, y_min=0,
                                              color="#1565c0",
                                              help="messages received per hour"),
}
API_CONFIG = {
    "errors": st.column_config.NumberColumn("Failed calls"),
    "error_rate_pct": st.column_config.NumberColumn("Errors %", format="%.1f"),
    "p95_ms": st.column_config.NumberColumn("p95 ms", format="%.0f"),
    "throttled": st.column_config.NumberColumn("429s"),
    "trend": st.column_config.LineChartColumn("Calls / hour, 48 h", y_min=0,
                                              color="#1565c0"),
}
ORDER = {"down": 0, "degraded": 1, "ok": 2, "idle": 3}


def _title(health: str, title: str, detail: str) -> str:
    return f"**{title}** — :{HEALTH_COLOUR[health]}[{health}] · {detail}"


def _link(label: str, filters: DrillFilters) -> None:
    st.page_link(DRILL_PAGE, label=label, icon=":material/arrow_forward:",
                 query_params=to_query_params(filters))


@st.fragment(run_every=REFRESH)
def live_view() -> None:
    """Everything on the page that moves; reruns alone on the timer."""
    window = current_window()
    now = datetime.now(UTC)
    st.caption(f"{window_caption(window)} · refreshed {now:%H:%M:%S} UTC, "
               f"every {REFRESH}")
    hourly = queries.channel_hourly(url, window.start, window.end)
    held = queries.channel_held(url, window.start, window.end)
    channels = channel_rows(queries.channel_counts(url, window.start, window.end),
                            queries.latest_channel_stats(url), hourly,
                            window.start, window.end, now, held)
    fresh = freshness_rows(queries.source_freshness(url), now)
    apis = api_rows(queries.api_health(url, window.start, window.end),
                    queries.api_hourly(url, window.start, window.end), fresh,
                    window.start, window.end)

    health = list(channels["health"]) + list(apis["health"]) + list(fresh["health"])
    counts = {h: health.count(h) for h in ("down", "degraded", "ok")}
    cols = st.columns(4)
    cols[0].metric("Down", counts["down"], border=True)
    cols[1].metric("Degraded", counts["degraded"], border=True)
    cols[2].metric("Healthy", counts["ok"], border=True)
    cols[3].metric("Messages received", f"{int(channels['received'].sum()):,}", border=True)

    by_system: dict[str, list[str]] = {"engine": []}
    for source in sorted(set(apis["source"]) | set(fresh["source"])):
        by_system.setdefault(system_of(source, kinds.get(source, "")), []).append(source)
    # The engine first (its channels are the tree), then the other systems by name.
    for system in ["engine", *sorted(s for s in by_system if s != "engine")]:
        sources = by_system[system]
        part = with_times(apis[apis["source"].isin(sources)])
        fpart = fresh[fresh["source"].isin(sources)]
        engine_rows = channels if system == "engine" else channels.iloc[0:0]
        label = worst(list(engine_rows["health"]) + list(part["health"])
                      + list(fpart["health"]))
        title = SYSTEMS.get(system, (system, 0))[0]
        detail = ", ".join(([f"{len(engine_rows)} channels"] if system == "engine" else [])
                           + sources) or "no collector"
        with st.expander(_title(label, title, detail), icon=HEALTH_ICON[label],
                         expanded=system == "engine" or label in ("down", "degraded")):
            for f in fpart.itertuples():
                if f.last_status == "error":
                    st.error(f"{f.source}: last run failed ({f.last_error}); last success "
                             f"{minutes_text(f.min_since_success)} ago, newest record "
                             f"{minutes_text(f.min_since_newest_record)} old. The API failed — "
                             "this is not \"no data\".", icon=":material/error:")
            if system == "engine":
                _channel_tree(channels, window)
            if not part.empty:
                st.dataframe(styled_health(part), hide_index=True,
                             placeholder="–", key=f"if_api_{system}",
                             column_config=column_config(part, **API_CONFIG))
            for row in part.itertuples():
                if row.errors:
                    _link(f"{row.source} {row.endpoint}: {counted(row.errors, 'failed call')}",
                          DrillFilters(dataset="api_calls", channel=row.source,
                                       search=row.endpoint, problems=True,
                                       since=window.start, until=window.end))

    st.subheader("Collector freshness")
    shown = freshness_table(fresh)
    st.dataframe(styled_health(shown), hide_index=True, placeholder="–", key="if_fresh",
                 column_config=column_config(shown))
    st.subheader("Messages per hour")
    st.plotly_chart(charts.channel_trend(hourly, "Received per channel, NACKs in red"),
                    key="if_hourly")
    st.subheader("Held messages per hour")
    if held.empty:
        st.caption(f"No message waited {HELD_LATE} for its acknowledgement in this window.")
    else:
        st.caption(f"{int(held['held'].sum()):,} messages waited {HELD_LATE} for the "
                   "receiver's acknowledgement: it was down or slow. Hours of them in a row "
                   "are an outage.")
        st.plotly_chart(charts.held_trend(held, f"Acknowledged {HELD_LATE} late, per hour "
                                                "received", window.start, window.end),
                        key="if_held")


def _channel_tree(channels: pd.DataFrame, window: Window) -> None:
    """The engine's channels, worst first, with a link to each one's failing messages."""
    if channels.empty:
        st.info("No interface messages in this window.")
        return
    ordered = channels.sort_values("health", key=lambda s: s.map(ORDER), kind="stable")
    for row in ordered.itertuples():
        if row.state in STATE_HEALTH:
            # a stopped channel sends nothing: say it above the table, not only in a column
            say = st.error if STATE_HEALTH[row.state] == "down" else st.warning
            say(f"{channel_label(row.facility_id, row.channel)} is {row.state} in the "
                "interface engine (its newest snapshot): "
                + ("nothing flows through it." if row.state != "paused" else
                   "it accepts no new messages."),
                icon=HEALTH_ICON[STATE_HEALTH[row.state]])
    shown = ordered.assign(channel=[channel_label(f, c) for f, c in
                                    zip(ordered["facility_id"], ordered["channel"], strict=True)])
    st.dataframe(styled_health(shown), hide_index=True, placeholder="–", key="if_channels",
                 column_config=column_config(shown, **CHANNEL_CONFIG),
                 column_order=[c for c in CHANNEL_COLUMNS_SHOWN if c in shown.columns])
    for row in ordered.itertuples():
        # a channel is (facility, name): the link narrows to both
        name = channel_label(row.facility_id, row.channel)
        facilities = (row.facility_id,) if row.facility_id else ()
        # One link per status, each opening exactly the messages its number counts.
        for count, words, status in ((row.errored, "errored", "E"), (row.queued, "queued", "Q")):
            if count:
                _link(f"{name}: {count:,} {words}",
                      DrillFilters(dataset="messages", facilities=facilities,
                                   channel=row.channel, status=status,
                                   since=window.start, until=window.end))
        if row.held:
            _link(f"{name}: {row.held:,} held {HELD_LATE}",
                  DrillFilters(dataset="held", facilities=facilities, channel=row.channel,
                               since=window.start, until=window.end))


live_view()
