"""Overview: the executive page. The KPIs for the network with their trend versus the
previous period, the revenue cycle's (denial rate, charge lag, late charges, DNFB days,
encounter reconciliation),
per facility, over time and by procedure; every number opens the records behind it
(links, a facility row, or a box-selection on a chart) or the Revenue cycle page."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import charts, queries
from app.access import may_open
from app.resources import database_url, settings
from app.shaping import overview as overview_view
from app.shaping.drill import selection_to_filters, to_query_params
from app.shaping.kpis import KPI_BY_KEY, KPIS
from app.shaping.revenue import revenue_cards
from app.shaping.revenue import total_row as denial_row
from app.shaping.window import partial_bucket
from app.ui import (
    current_window,
    delta_style,
    delta_text,
    grain_of,
    require_page,
    selected_rows,
    window_caption,
)

DRILL_PAGE = "views/drilldown.py"

user = require_page("views/overview.py")
url = database_url()
window = current_window()
grain, bucket = grain_of(window)
filling = partial_bucket(window, bucket, datetime.now(UTC))
st.title("Overview")
st.caption(f"{window_caption(window)} · trends versus the previous period of the same length")

now = queries.kpi_sums(url, window.start, window.end)
before = queries.kpi_sums(url, window.previous.start, window.previous.end)
series = queries.kpi_series(url, window.start, window.end, grain)
if now.empty:
    st.info("No metrics in this window yet. Run a collection pass (`chargeline collect`), "
            "or widen the window in the sidebar.")
    st.stop()

values = overview_view.network_values(now)
network_sums = overview_view.totals(now)
previous = overview_view.network_values(before)
note = overview_view.trend_note(now, before, window, queries.first_activity(url))
if note is not None:
    # A previous period with a fraction of the activity (a new estate, a collector that
    # just started) would give meaningless +9,000 % trends: say what there is instead.
    previous = {k: None for k in previous}
    st.info(note, icon=":material/info:")
for row in (KPIS[:4], KPIS[4:]):
    for col, kpi in zip(st.columns(4), row, strict=False):
        with col:
            change = delta_text(values[kpi.key], previous[kpi.key], kpi.unit)
            st.metric(kpi.label, kpi.format(values[kpi.key]), change,
                      **delta_style(change, kpi.good_high), help=kpi.help,
                      border=True,
                      chart_data=overview_view.network_series(series, kpi, filling) or None,
                      chart_type="bar" if kpi.unit == "$" else "line")
            st.page_link(DRILL_PAGE, label=overview_view.records_label(kpi, network_sums),
                         icon=":material/arrow_forward:",
                         query_params=to_query_params(overview_view.drill_for(kpi, window)))

st.subheader("Revenue cycle")
hold = settings().sla.dnfb_hold_days
denials = queries.has_remittances(url)
denial_now = denial_before = None
if denials:
    denial_now = denial_row(
        queries.denial_rates(url, window.start, window.end, ()).to_dict("records"))
    denial_before = denial_row(queries.denial_rates(
        url, window.previous.start, window.previous.end, ()).to_dict("records"))
cards = revenue_cards(
    queries.billing_figures(url, window.start, window.end, tail=False),
    queries.billing_figures(url, window.previous.start, window.previous.end, tail=False),
    denial_now, denial_before, hold)
for col, card in zip(st.columns(max(4, len(cards))), cards, strict=False):
    with col:
        change = delta_text(card.now, None if note is not None else card.before, card.unit)
        st.metric(card.label, card.text, change, **delta_style(change, card.good_high),
                  help=card.help, border=True)
if may_open(user.roles, "views/revenue.py"):  # a page link to a page not in the menu fails
    st.page_link("views/revenue.py", label="Revenue cycle: denials by reason and payer, the "
                 "encounters not final billed, the reconciliation gaps",
                 icon=":material/arrow_forward:")

st.subheader("By facility")
names = queries.facility_names(url)
table = overview_view.facility_table(now, names)
NUMBER_FORMAT = {"%": "%.1f %%", "$": "$%,.0f", "h": "%.1f h", "#": "%,.0f"}
# Eight KPIs and a facility on a 1440 px screen: short headers, the card's name and its
# definition on hover.
SHORT = {"capture": "Capture", "at_risk": "At risk", "duplicates": "Duplicates",
         "failed_mapping": "Unmapped", "inventory": "Inventory", "replenishment": "Replenish",
         "margin": "Margin", "volume": "Usage"}
formats = {k.label: st.column_config.NumberColumn(
    SHORT.get(k.key, k.label), format=NUMBER_FORMAT[k.unit], width=88,
    help=f"{k.label}: {k.help}") for k in KPIS}
formats["facility"] = st.column_config.TextColumn("Facility", width=210)
picked = st.dataframe(table.drop(columns=["facility_id"]), hide_index=True,
                      placeholder="–", key="ov_facilities",
                      on_select="rerun", selection_mode="single-row", column_config=formats)
for r in selected_rows(picked):
    facility = str(table.iloc[r]["facility_id"])
    st.markdown(f"**{table.iloc[r]['facility']}** — open the records behind each number:")
    for col, kpi in zip(st.columns(4) * 2, KPIS, strict=True):
        col.page_link(DRILL_PAGE, label=kpi.label,
                      query_params=to_query_params(overview_view.drill_for(
                          kpi, window, facilities=(facility,))))

st.subheader("Trend")
key = st.segmented_control("KPI", [k.key for k in KPIS], default="capture", key="ov_kpi",
                           format_func=lambda k: KPI_BY_KEY[k].label) or "capture"
kpi = KPI_BY_KEY[key]
trend = overview_view.kpi_series(series, kpi)
label = "hour" if grain == "hour" else "day"
event = st.plotly_chart(
    charts.kpi_trend(trend, "value", kpi.unit,
                     f"{kpi.label} per {label} and facility — box-select to see the records",
                     partial=filling, names=names),
    key="ov_trend", on_select="rerun", selection_mode=("box", "points"))
if overview_view.holds_bucket(trend, filling):
    st.caption(f"The {label} from {filling:%d %b %H:00} is not over: its points are hollow "
               "(its bars faded) and the cards' sparklines leave it out.")
drill = selection_to_filters(event.selection.points, bucket=bucket,
                             base=overview_view.drill_for(kpi, window))
if drill is not None:
    st.switch_page(DRILL_PAGE, query_params=to_query_params(drill))

st.subheader("Margin by procedure")
margin = overview_view.top_procedures(queries.margin_by_procedure(url, window.start, window.end))
if margin.empty:
    st.caption("No procedures recorded on the encounters in this window.")
else:
    picked_margin = st.plotly_chart(
        charts.margin_bars(margin, f"Top {len(margin)} procedures by billed $: supply cost and "
                           "margin — click a bar for its usage"),
        key="ov_margin", on_select="rerun", selection_mode=("points", "box"))
    chosen = {str(p["customdata"][0]) for p in picked_margin.selection.points
              if p.get("customdata")}
    if len(chosen) == 1:
        st.switch_page(DRILL_PAGE, query_params=to_query_params(overview_view.drill_for(
            KPI_BY_KEY["margin"], window, status=chosen.pop())))
