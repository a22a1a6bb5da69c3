"""Lineage: the system graph coloured by live health (click a node for its records), and
the transaction trace — paste a usage, encounter, charge, claim or HL7 control id to see every
hop on a timeline and where the chain stopped. ``?trace=<id>`` deep-links a trace."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pandas as pd
import streamlit as st

from app import charts, queries
from app.resources import database_url
from app.shaping import trace as trace_view
from app.shaping.facilities import facility_label
from app.shaping.lineage import chosen_drill, for_drawing, hop_rows, layout
from app.tables import column_config, styled_health, with_times
from app.ui import current_window, require_page

DRILL_PAGE = "views/drilldown.py"
VERDICT_ICON = {"ok": ":material/check_circle:", "waiting": ":material/schedule:",
                "late": ":material/schedule:"}

require_page("views/lineage.py")
url = database_url()
window = current_window()
st.title("Lineage")
tab_graph, tab_trace = st.tabs(["System graph", "Transaction trace"], key="ln_tab",
                               default="Transaction trace" if st.query_params.get("trace")
                               else "System graph")

with tab_graph:
    st.caption("Edges: the estate's own hops, coloured by their live health (scan-to-EHR "
               "lag, errored share, NACKs, queue age, postings lagging the SLA); nodes: the "
               "collectors that read each system; each facility's channels boxed inside the "
               "engine's. Grey is unknown — a failing collector never shows a hop as ok. "
               "Click a node or an edge's diamond for its records.")
    graph = queries.system_graph(url, datetime.now(UTC).replace(second=0, microsecond=0))
    nodes, edges = for_drawing(graph)
    event = st.plotly_chart(charts.lineage_graph(nodes, edges, layout(nodes, edges)),
                            key="ln_graph", on_select="rerun", selection_mode=("points",))
    params = chosen_drill(event.selection.points, nodes, edges,
                          f"{window.start:%Y-%m-%dT%H:%M}", f"{window.end:%Y-%m-%dT%H:%M}")
    if params is not None:
        st.switch_page(DRILL_PAGE, query_params=params)
    hop_table = pd.DataFrame(hop_rows(nodes, edges))
    st.dataframe(styled_health(hop_table), hide_index=True, placeholder="–", key="ln_edges",
                 column_config=column_config(hop_table))

with tab_trace:
    key = st.text_input("Usage, encounter, charge, claim or control id", key="trace",
                        bind="query-params", placeholder="e.g. U-FAC01-000003 or CHG-FAC01-000010")
    back = parse_qs(st.query_params.get("back", ""))
    if back.get("dataset"):
        # Opened from a drill-down row: the way back to that very view.
        st.page_link(DRILL_PAGE, label="Back to the records", icon=":material/arrow_back:",
                     query_params=back)
    result = queries.trace(url, key.strip()) if key and key.strip() else None
    if result is not None and not result.traces:
        if result.unlinked:
            st.warning(f"{key!r} names charges no usage event owns (no usage id, control id "
                       "or fallback match): they cannot be traced back to a scan.")
        else:
            st.warning(f"Nothing found for {key!r}. Paste an id exactly as shown in a table "
                       "(usage U-…, encounter ENC-…, charge CHG-…, control MSG-…).")
    if result is not None and result.traces:
        traces = list(result.traces)
        verdicts = {t.usage_id: trace_view.verdict(t) for t in traces}
        if len(traces) > 1:
            # An encounter (or a charge shared by scans) has several usages: all of them,
            # problems first, then one opened below.
            summary = with_times(pd.DataFrame(trace_view.usages_table(traces)))
            st.markdown(f"**{len(traces)} usage events** behind {result.kind} `{key}`")
            st.dataframe(summary, hide_index=True, placeholder="–", key="ln_usages",
                         column_config=column_config(summary))
            order = [r["Usage"] for r in trace_view.usages_table(traces)]
            usage_id = st.selectbox("Open the hops of", order, key="ln_usage")
        else:
            usage_id = traces[0].usage_id
        chosen = next(t for t in traces if t.usage_id == usage_id)
        trail = trace_view.hops(chosen)
        verdict = verdicts[usage_id]
        headline = trace_view.headline(usage_id, verdict)
        show = {"ok": st.success, "waiting": st.info, "late": st.warning}.get(
            verdict.level, st.error)
        show(headline, icon=VERDICT_ICON.get(verdict.level, ":material/block:"))
        c1, c2, c3, c4 = st.columns(4)
        # a card's big number has no room for a name: the code, the name on hover
        c1.metric("Facility", chosen.facility_id or "–",
                  help=facility_label(chosen.facility_id, queries.facility_names(url)) or None)
        c2.metric("Charge capture", (chosen.capture or "–").replace("_", " "))
        c3.metric("Inventory", (chosen.inventory or "–").replace("_", " "))
        c4.metric("Mapping", (chosen.mapping or "ok").replace("_", " "))
        st.plotly_chart(charts.trace_timeline(
            trail, verdict.lane if verdict.level == "problem" else "",
            f"Hops of {usage_id} (encounter {chosen.encounter_id})"), key="ln_timeline")
        hops = with_times(pd.DataFrame([{"lane": h.lane, "at": h.at, "status": h.status,
                                         "id": h.key, "detail": h.detail} for h in trail]))
        st.dataframe(hops, hide_index=True,
                     placeholder="–", key="ln_hops", column_config=column_config(hops))
