"""Revenue cycle: from charge to cash, for the revenue-integrity lead — billing first
(charge lag, late charges as % of billed $, and the encounters discharged not final billed
with their age and $; encounter reconciliation with its gap tabs, Encounter → Charge,
Charge → Claim and Claim → Payment, oldest first; the charges posted off their CDM price
and the ERP issues booked above contract, with their $), then over the shared window the
initial denial rate by claims and by $, the denied $ still open, the claims remitted;
denials by CARC; the denials Chargeline saw coming (denied lines whose charge it already
knew a problem of, per cause, each linked to its usage's trace); the rate by payer and by
facility; last the underpayments against the configured payer contracts, by payer and line
by line. Every count links to the records behind it. Numbers are the metrics
(``metrics.read.facts``, ``.points``, ``.dnfb``, ``.reconciliation``, ``.pricing``,
``.denials``, ``.denial_causes``, ``.underpayment``) read through the store reader, as the
rules and report read them."""

from __future__ import annotations

import streamlit as st

from app import charts, queries
from app.resources import database_url, settings
from app.shaping.drill import DrillFilters, to_query_params
from app.shaping.facilities import facility_label
from app.shaping.revenue import (
    ALL_PAYERS,
    EMPTY,
    GAP_TABS,
    days,
    denied_filters,
    dollars,
    percent,
    remitted_filters,
    signed_dollars,
    total_row,
    trend_grain,
)
from app.shaping.underpayment import NO_CONTRACTS, lines_filters, underpay_total
from app.ui import current_window, require_page, selected_rows, window_caption

DRILL_PAGE = "views/drilldown.py"
TRACE_PAGE = "views/lineage.py"
TRACE_LINKS = 10  # the largest known-cause lines also get a link of their own
DNFB_CONFIG = {
    "name": st.column_config.Column("Facility"),
    "encounter_id": st.column_config.Column("Encounter"),
    "encounter_class": st.column_config.Column("Class"),
    "procedure_code": st.column_config.Column("Procedure"),
    "discharged_at": st.column_config.DatetimeColumn("Discharged (UTC)",
                                                     format="YYYY-MM-DD HH:mm"),
    "days_unbilled": st.column_config.NumberColumn("Days since discharge", format="%d"),
    "gross_usd": st.column_config.NumberColumn("Gross charges $", format="$%,.2f"),
}
GAP_CONFIG = {
    "name": st.column_config.Column("Facility"),
    "encounter_id": st.column_config.Column("Encounter"),
    "discharged_at": st.column_config.DatetimeColumn("Discharged (UTC)",
                                                     format="YYYY-MM-DD HH:mm"),
    "patient_token": st.column_config.Column("Patient token"),
    "usd": st.column_config.NumberColumn("$ at stake", format="$%,.2f"),
    "days_outstanding": st.column_config.NumberColumn("Days outstanding", format="%d"),
}
_FAC = st.column_config.Column("Facility")
_POSTED = st.column_config.DatetimeColumn("Posted (UTC)", format="YYYY-MM-DD HH:mm")
_USD = st.column_config.NumberColumn("$ off", format="$%,.2f")
DRIFT_CONFIG = {
    "name": _FAC, "charge_id": st.column_config.Column("Charge"),
    "cdm_code": st.column_config.Column("CDM"), "posted_at": _POSTED,
    "quantity": st.column_config.NumberColumn("Units", format="%,g"),
    "cdm_price": st.column_config.NumberColumn("CDM price", format="$%,.2f"),
    "amount": st.column_config.NumberColumn("Posted $", format="$%,.2f"), "usd": _USD,
}
ABOVE_CONFIG = {
    "name": _FAC, "location_id": st.column_config.Column("Location"),
    "document_id": st.column_config.Column("Issue"), "item_id": st.column_config.Column("Item"),
    "posted_at": _POSTED, "quantity": st.column_config.NumberColumn("Base units",
                                                                    format="%,g"),
    "contract_price": st.column_config.NumberColumn("Contract", format="$%,.2f"),
    "unit_cost": st.column_config.NumberColumn("Unit cost", format="$%,.2f"), "usd": _USD,
}
TABLE_CONFIG = {
    "claims": st.column_config.NumberColumn("Claims remitted", format="%,d"),
    "denied": st.column_config.NumberColumn("Initially denied", format="%,d"),
    "rate_count_pct": st.column_config.NumberColumn("Denial rate %", format="%.1f"),
    "billed_usd": st.column_config.NumberColumn("Charges $", format="$%,.2f"),
    "denied_usd": st.column_config.NumberColumn("Denied $", format="$%,.2f"),
    "rate_usd_pct": st.column_config.NumberColumn("Denial rate $ %", format="%.1f"),
    "open_usd": st.column_config.NumberColumn("Denied $ still open", format="$%,.2f"),
}
SHOWN = list(TABLE_CONFIG)
CAUSE_CONFIG = {
    "label": st.column_config.Column("Known cause"),
    "lines": st.column_config.NumberColumn("Denied lines", format="%,d"),
    "usd": st.column_config.NumberColumn("Denied $", format="$%,.2f"),
}
SEEN_CONFIG = {
    "name": st.column_config.Column("Facility"), "claim_id": st.column_config.Column("Claim"),
    "line_no": st.column_config.NumberColumn("Line", format="%d"),
    "carcs": st.column_config.Column("CARC"),
    "usd": st.column_config.NumberColumn("Denied $", format="$%,.2f"),
    "label": st.column_config.Column("Known cause"),
    "usage_id": st.column_config.Column("Usage (trace)"),
}
_MONEY = "$%,.2f"
UNDERPAY_CONFIG = {
    "judged": st.column_config.NumberColumn("Lines judged", format="%,d"),
    "underpaid": st.column_config.NumberColumn("Underpaid lines", format="%,d"),
    "short_usd": st.column_config.NumberColumn("Underpaid $", format=_MONEY),
    "short_pct": st.column_config.NumberColumn("% of expected", format="%.2f"),
    "over_usd": st.column_config.NumberColumn("Overpaid $", format=_MONEY),
    "not_judged": st.column_config.NumberColumn("Lines without contract", format="%,d"),
}
UNDERPAY_SHOWN = list(UNDERPAY_CONFIG)
LINE_CONFIG = {
    "name": _FAC, "payer_id": st.column_config.Column("Payer"),
    "claim_id": st.column_config.Column("Claim"),
    "line_no": st.column_config.NumberColumn("Line", format="%d"),
    "procedure_code": st.column_config.Column("Procedure"),
    "service_on": st.column_config.DateColumn("Service date"),
    "expected_usd": st.column_config.NumberColumn("Expected $", format=_MONEY),
    "term": st.column_config.Column("Contract term"),
    "allowed_usd": st.column_config.NumberColumn("Allowed $ (paid + patient)", format=_MONEY),
    "paid_usd": st.column_config.NumberColumn("Paid $", format=_MONEY),
    "variance_usd": st.column_config.NumberColumn("Short $", format=_MONEY),
    "carcs": st.column_config.Column("Adjustments (CARC)"),
}


def _link(label: str, filters: DrillFilters) -> None:
    st.page_link(DRILL_PAGE, label=label, icon=":material/arrow_forward:",
                 query_params=to_query_params(filters))


require_page("views/revenue.py")
url = database_url()
st.title("Revenue cycle")
window = current_window()
st.caption(f"{window_caption(window)} · claims counted in the window of their first "
           "remittance (HFMA MAP Keys: initial denial rate)")

start, end = window.start, window.end
hold = settings().sla.dnfb_hold_days
billing = queries.billing_figures(url, start, end, recon=False)
st.subheader("Billing")
b1, b2, b3, b4 = st.columns(4)
b1.metric("Charge lag (mean)", days(billing["lag_mean_days"]), border=True,
          help="Days from the scan (date of service) to its first charge posted, over the "
               "window's scans that were charged (HFMA MAP Keys: charge lag).")
b2.metric("Charge lag (p90)", days(billing["lag_p90_days"]), border=True,
          help="Nine in ten charged scans had their first charge posted within this.")
b3.metric("Late charges (% of billed $)", percent(billing["late_usd_pct"]), border=True,
          help="$ of charges posted after their SLA over the $ billed for the window's scans.")
b4.metric("Discharged not final billed", "–" if billing["dnfb_usd"] is None
          else dollars(billing["dnfb_usd"]), border=True,
          help=f"Gross charges of encounters discharged more than {hold} days ago that no "
               "claim bills yet, at the window's end (HFMA MAP Keys: DNFB).")
with b1:
    st.caption(f"{billing['charged_usages']:,} charged scans")
with b2:
    st.caption("by the scan's time, in the window")
with b3:
    _link(f"Late: {dollars(billing['late_usd'])} of {dollars(billing['billed_usd'])}",
          DrillFilters(dataset="capture", status="late", since=start, until=end))
with b4:
    dnfb_days = billing["dnfb_days"]
    st.caption("no claims feed yet" if billing["dnfb_usd"] is None else
               f"{billing['dnfb_encounters']:,} encounters · "
               + ("–" if dnfb_days is None else f"{dnfb_days:.2f} days of gross revenue"))

unbilled = queries.dnfb_encounters(url, end) if billing["dnfb_encounters"] else None
if unbilled is not None and not unbilled.empty:
    st.markdown(f"**Discharged, not final billed** (more than {hold} days), largest $ first")
    names = queries.facility_names(url)
    unbilled.insert(0, "name", [facility_label(f, names) for f in unbilled["facility_id"]])
    st.dataframe(unbilled[list(DNFB_CONFIG)], hide_index=True, key="revenue_dnfb",
                 column_config=DNFB_CONFIG)

if billing["dnfb_usd"] is not None:  # reconciliation, as DNFB, needs a claims feed
    st.subheader("Encounter reconciliation")
    r1, r2 = st.columns([1, 3])
    recon = queries.reconciliation(url, start, end)
    r1.metric("Encounter reconciliation", percent(recon["pct"]), border=True,
              help=f"Encounters discharged in the window moved back by the {hold}-day hold "
                   "whose every chargeable scan has a posted charge, every charge a claim and "
                   "every claim a payment (no open denial; a claim unanswered for "
                   f"{settings().sla.remit_days} days is a gap).")
    with r1:
        st.caption(f"{recon['reconciled']:,} of {recon['judged']:,} encounters reconciled")
    names = queries.facility_names(url)
    with r2:
        for tab, (kind, _label, about) in zip(st.tabs([label for _, label, _ in GAP_TABS]),
                                             GAP_TABS, strict=True):
            with tab:
                count, usd = recon[f"{kind}_gap"], recon[f"{kind}_gap_usd"]
                st.markdown(f"**{count:,} encounters · {dollars(usd)} at stake** — {about}")
                rows = recon[kind]
                if rows.empty:
                    st.caption("No encounter of the window has this gap.")
                    continue
                rows.insert(0, "name", [facility_label(f, names) for f in rows["facility_id"]])
                st.dataframe(rows[list(GAP_CONFIG)], hide_index=True, key=f"revenue_gap_{kind}",
                             column_config=GAP_CONFIG)

# Judging prices reads every charge and issue posted in the window (about 2 s a week at
# 1M usage events, cold), so it runs when asked, not on every visit to the page.
check_prices = st.toggle("Check prices against the chargemaster and contracts",
                         key="revenue_prices",
                         help="Charges posted off their CDM price and ERP issues booked "
                              "above contract, in the window. Reads every charge and issue "
                              "posted in it: a few seconds on a large estate.")
prices = queries.price_figures(url, start, end) if check_prices else None
if prices is not None and not (prices["charges_judged"] or prices["issues_judged"]):
    st.caption("No charge with a CDM line and no ERP issue with a contract was posted in "
               "the window.")
if prices is not None and (prices["charges_judged"] or prices["issues_judged"]):
    st.markdown("**Prices against their masters** (posted in the window)")
    p1, p2 = st.columns(2)
    p1.metric("Chargemaster drift", dollars(prices["drift_usd"]), border=True,
              help="Charges whose unit price (amount / quantity) is more than a cent off "
                   "their CDM line's price: the sum of |posted − CDM price × quantity|.")
    p2.metric("Supply cost above contract", dollars(prices["above_usd"]), border=True,
              help="ERP issues booked at a unit cost above the lowest contract price valid "
                   "on the day the stock moved: (unit cost − contract) × base units.")
    with p1:
        st.caption(f"{prices['drift_charges']:,} of {prices['charges_judged']:,} charges · "
                   f"net {signed_dollars(prices['drift_net_usd'])}")
    with p2:
        st.caption(f"{prices['above_issues']:,} of {prices['issues_judged']:,} issues")
    names = queries.facility_names(url)
    for kind, label, config, hits in (
            ("charges", "Charges posted off their CDM price", DRIFT_CONFIG,
             prices["drift_charges"]),
            ("issues", "Issues above contract", ABOVE_CONFIG, prices["above_issues"])):
        rows = queries.off_price(url, start, end, kind) if hits else None
        if rows is not None and not rows.empty:
            st.markdown(f"**{label}**, largest $ first")
            rows.insert(0, "name", [facility_label(f, names) for f in rows["facility_id"]])
            st.dataframe(rows[list(config)], hide_index=True, key=f"revenue_{kind}_off",
                         column_config=config)

st.subheader("Denials")
if not queries.has_remittances(url):
    st.info(EMPTY, icon=":material/receipt_long:")
    st.stop()

total = total_row(queries.denial_rates(url, start, end, ()).to_dict("records"))
if total["error"]:
    st.warning(f"A remittance source is failing, these numbers may be short: {total['error']}",
               icon=":material/warning:")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Initial denial rate (claims)", percent(total["rate_count_pct"]), border=True,
          help="Claims denied at their first remittance over claims first remitted.")
c2.metric("Initial denial rate ($)", percent(total["rate_usd_pct"]), border=True,
          help="Charge $ (CLP03) of those denied claims over the charge $ first remitted.")
c3.metric("Denied $ still open", dollars(total["open_usd"]), border=True,
          help="Charge $ of the window's denied claims whose latest remittance still "
               "denies them (not since paid on appeal or a corrected claim).")
c4.metric("Remitted claims", f"{total['claims']:,}", border=True,
          help="Claims whose first remittance was paid in the window.")
denied = denied_filters(start, end)
with c1:
    _link(f"Denied: {total['denied']:,} of {total['claims']:,} claims", denied)
with c2:
    _link(f"Denied: {dollars(total['denied_usd'])} of {dollars(total['billed_usd'])}", denied)
with c3:
    _link(f"Denied claims: {total['denied']:,}, {total['open_claims']:,} still open", denied)
with c4:
    payments = queries.record_count(url, remitted_filters(start, end))
    _link(f"Payments: {payments:,} remittances (later payments, reversals too)",
          remitted_filters(start, end))

if not total["claims"]:
    st.info("No claim had its first remittance in this window: choose a longer window in "
            "the sidebar.")
    st.stop()

trend = queries.denial_trend(url, start, end)
per = "day" if trend_grain(end - start) == "day" else "week (from its Monday)"
st.plotly_chart(charts.denial_trend(trend, f"Initial denial rate per {per}, by payer",
                                    ALL_PAYERS), key="revenue_trend", width="stretch")

st.subheader("Denials by reason (CARC)")
reasons = queries.denial_reasons(url, start, end)
if reasons.empty:
    st.caption("No denial adjustment (CO, PI or OA) on the window's denied claims.")
else:
    st.plotly_chart(charts.denial_reasons(reasons, "Denied $ by group-CARC"),
                    key="revenue_reasons", width="stretch")

# Denied lines stitched to their charge and usage (metrics.read.denial_causes): those whose
# cause the compute pass had already found — a failed mapping, a duplicate's extra, a
# quantity off the scan — each one click from its usage's transaction trace.
st.subheader("Denials Chargeline saw coming")
seen = queries.denial_causes(url, start, end)
st.caption(seen["caption"])
if seen["known"]:
    per_cause, lines_of = st.columns([1, 2])
    per_cause.dataframe(seen["causes"][["label", "lines", "usd"]], hide_index=True,
                        key="revenue_causes", column_config=CAUSE_CONFIG)
    seen_lines = seen["lines"]
    names = queries.facility_names(url)
    seen_lines.insert(0, "name", [facility_label(f, names) for f in seen_lines["facility_id"]])
    with lines_of:
        st.caption("Largest $ first. Click a line to open its usage's transaction trace.")
        picked = st.dataframe(seen_lines[list(SEEN_CONFIG)], hide_index=True,
                              key="revenue_seen_lines", column_config=SEEN_CONFIG,
                              on_select="rerun", selection_mode="single-row")
    rows = selected_rows(picked)
    if rows and rows[0] < len(seen_lines) and seen_lines.iloc[rows[0]]["usage_id"]:
        st.session_state.pop("revenue_seen_lines", None)
        st.switch_page(TRACE_PAGE, query_params={
            "trace": str(seen_lines.iloc[rows[0]]["usage_id"])})
    for row in seen_lines[seen_lines["usage_id"] != ""].head(TRACE_LINKS).itertuples():
        st.page_link(TRACE_PAGE, label=f"Trace {row.usage_id}: claim {row.claim_id} line "
                     f"{row.line_no}, {row.label}", icon=":material/account_tree:",
                     query_params={"trace": str(row.usage_id)})

names = queries.facility_names(url)
by_payer, by_facility = st.columns(2)
with by_payer:
    st.subheader("By payer")
    payers = queries.denial_rates(url, start, end, ("payer",))
    payer_names = queries.payer_names(url)
    payers.insert(1, "name", [payer_names.get(str(p), "") for p in payers["payer"]])
    st.dataframe(payers[["payer", "name", *SHOWN]], hide_index=True, key="revenue_payers",
                 column_config={"payer": st.column_config.Column("Payer id"),
                                "name": st.column_config.Column("Payer"), **TABLE_CONFIG})
    for row in payers[payers["denied"] > 0].itertuples():
        _link(f"{row.name or row.payer}: {row.denied:,} denied claims",
              denied_filters(start, end, payer=str(row.payer)))
with by_facility:
    st.subheader("By facility")
    facilities = queries.denial_rates(url, start, end, ("facility",))
    facilities.insert(0, "name", [facility_label(f, names) for f in facilities["facility"]])
    st.dataframe(facilities[["name", *SHOWN]], hide_index=True, key="revenue_facilities",
                 column_config={"name": st.column_config.Column("Facility"), **TABLE_CONFIG})
    for row in facilities[facilities["denied"] > 0].itertuples():
        _link(f"{row.name}: {row.denied:,} denied claims",
              denied_filters(start, end, facility=str(row.facility)))

# Underpayments: the window's first remittances, line by line, against the configured payer
# contracts (metrics.read.underpayment); a payer without a contract is not judged.
st.subheader("Underpayments (against payer contracts)")
if not settings().payer_contracts:
    st.info(NO_CONTRACTS, icon=":material/handshake:")
    st.stop()
# one read by payer; the estate's figures are their sums
payers_under = queries.underpayments(url, start, end, ("payer",))
under = underpay_total(payers_under.to_dict("records"))
u1, u2, u3 = st.columns(3)
u1.metric("Underpaid $", dollars(under["short_usd"]), border=True,
          help="Per service line of the window's first remittances: the contract's expected "
               "payment (HCPCS fee × units, else the revenue code's term, else the default "
               "percent of charges, on the date of service) less what the payer allowed "
               "(paid + patient share), where more than a cent short. Denied lines are "
               "denials, not underpayments.")
u2.metric("Underpaid lines", f"{under['underpaid']:,}", border=True,
          help="Service lines paid short of their contract, of the lines a contract judges.")
u3.metric("Overpaid $", dollars(under["over_usd"]), border=True,
          help="Lines paid above their contract: shown apart, never netted against the "
               "underpayments (a refund may be owed).")
with u1:
    st.caption(f"{percent(under['short_pct'])} of {dollars(under['expected_usd'])} expected")
with u2:
    _link(f"Paid lines: {under['judged']:,} judged, {under['not_judged']:,} without a "
          "contract", lines_filters(start, end))
if not payers_under.empty:
    payer_names = queries.payer_names(url)
    payers_under.insert(1, "name", [payer_names.get(str(p), "") for p in payers_under["payer"]])
    st.markdown("**By payer**")
    st.dataframe(payers_under[["payer", "name", *UNDERPAY_SHOWN]], hide_index=True,
                 key="revenue_underpay_payers",
                 column_config={"payer": st.column_config.Column("Payer id"),
                                "name": st.column_config.Column("Payer"), **UNDERPAY_CONFIG})
    for row in payers_under[payers_under["underpaid"] > 0].itertuples():
        _link(f"{row.name or row.payer}: {row.underpaid:,} underpaid lines, "
              f"{dollars(row.short_usd)}", lines_filters(start, end, payer=str(row.payer)))
short_lines = queries.underpaid_lines(url, start, end) if under["underpaid"] else None
if short_lines is not None and not short_lines.empty:
    st.markdown("**Underpaid lines**, largest variance first")
    names = queries.facility_names(url)
    short_lines.insert(0, "name", [facility_label(f, names)
                                   for f in short_lines["facility_id"]])
    st.dataframe(short_lines[list(LINE_CONFIG)], hide_index=True, key="revenue_underpaid",
                 column_config=LINE_CONFIG)
