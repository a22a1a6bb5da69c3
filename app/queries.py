"""The cached query layer every page reads through.

Each function takes the store URL first (so caches are per store) and plain values (so
widget values key the cache), opens a pooled connection, runs one of the SQL functions of
``app.data`` (``kpis``, ``aggregates``, ``records``, ...), ``metrics.read.trace``,
``metrics.lineage.data`` or ``alerting.workflow``, and returns a small DataFrame. TTLs are
short where data moves (interfaces, alerts) and longer for the heavy aggregates; pages
clear the caches their own writes (``app.actions``) make stale. A few admin reads are
uncached: an admin must see their own change at once.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from alerting import workflow
from alerting.workflow import AlertRow
from app.data import aggregates, exceptions_queue, kpis, records, revenue
from app.data import rules as rules_view
from app.data.quarantine import count_quarantined, masked_page
from app.data.users import audit_entries, count_audit, list_users, roles_of
from app.resources import engine_for, settings
from app.shaping.datasets import RECORD_SETS, shown_name
from app.shaping.denial_causes import CAUSE_COLUMNS, cause_rows, line_rows, share_caption
from app.shaping.denial_causes import LINE_COLUMNS as CAUSE_LINE_COLUMNS
from app.shaping.drill import DrillFilters
from app.shaping.exceptions import QueueFilters
from app.shaping.kpis import SUM_COLUMNS
from app.shaping.revenue import (
    ABOVE_COLUMNS,
    BILLING_METRICS,
    DRIFT_COLUMNS,
    PRICE_METRICS,
    RATE_COLUMNS,
    RATE_METRICS,
    REASON_COLUMNS,
    REASON_METRIC,
    TREND_COLUMNS,
    billing_row,
    denial_trend_rows,
    price_row,
    rate_rows,
    reason_rows,
    trend_grain,
)
from app.shaping.underpayment import (
    LINE_COLUMNS,
    UNDERPAY_COLUMNS,
    UNDERPAY_METRIC,
    underpay_rows,
)
from core.errors import RuleFileError
from metrics.lineage import data as lineage_store
from metrics.lineage.graph import LineageGraph
from metrics.read import denial_causes as metrics_denial_causes
from metrics.read import denials as metrics_denials
from metrics.read import pricing as metrics_pricing
from metrics.read import recall as metrics_recall
from metrics.read import trace as metrics_trace
from metrics.read import underpayment as metrics_underpayment
from metrics.read.reader import StoreMetricReader
from metrics.read.trace import TraceResult
from rules.loader import live_rule_paths
from rules.loader import load_rules as load_rule_files

LIVE_TTL = timedelta(seconds=20)
FAST_TTL = timedelta(seconds=60)
SLOW_TTL = timedelta(minutes=5)


def _frame(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if columns else pd.DataFrame(rows)


# --- overview -------------------------------------------------------------------------------

@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def latest_activity(url: str) -> datetime | None:
    """The newest hour with usage or messages: where windows end by default."""
    with engine_for(url).connect() as conn:
        return kpis.latest_bucket(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def first_activity(url: str) -> datetime | None:
    """The oldest hour with usage: since when the store has data (trend context)."""
    with engine_for(url).connect() as conn:
        return kpis.first_bucket(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def kpi_sums(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per facility, the summed inputs of every KPI over the window."""
    with engine_for(url).connect() as conn:
        rows = kpis.kpi_sums(conn, start, end)
    return _frame(rows, ["facility_id", *SUM_COLUMNS])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def kpi_series(url: str, start: datetime, end: datetime, grain: str) -> pd.DataFrame:
    """Per facility and hour (or day) bucket, the summed inputs of every KPI."""
    with engine_for(url).connect() as conn:
        rows = kpis.kpi_sums(conn, start, end, grain=grain, by_bucket=True)
    return _frame(rows, ["facility_id", "bucket", *SUM_COLUMNS])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def margin_by_procedure(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per procedure: billed, supply cost and margin $ in the window."""
    with engine_for(url).connect() as conn:
        rows = kpis.margin_by_procedure(conn, start, end)
    return _frame(rows, ["procedure", "billed_usd", "supply_cost_usd", "margin_usd"])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def facilities(url: str) -> list[str]:
    """Every facility id the store knows."""
    with engine_for(url).connect() as conn:
        return records.facilities(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def facility_names(url: str) -> dict[str, str]:
    """Facility id -> name."""
    with engine_for(url).connect() as conn:
        return records.facility_names(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def payer_names(url: str) -> dict[str, str]:
    """Payer id -> name, as the remittances give it."""
    with engine_for(url).connect() as conn:
        return revenue.payer_names(conn)


# --- drill-down -----------------------------------------------------------------------------

@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def record_count(url: str, filters: DrillFilters) -> int:
    """How many records the drill-down filters match."""
    with engine_for(url).connect() as conn:
        return records.count_records(conn, filters)


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def record_total(url: str, filters: DrillFilters) -> dict[str, float]:
    """The $ sums of the records the drill-down filters match (empty: no $ column)."""
    with engine_for(url).connect() as conn:
        return records.money_sums(conn, filters)


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def record_page(url: str, filters: DrillFilters, page: int, page_size: int) -> pd.DataFrame:
    """One page of the records the drill-down filters match, newest first."""
    with engine_for(url).connect() as conn:
        rows = records.page_of_records(conn, filters, page=page, page_size=page_size)
    return _frame(rows, [shown_name(c) for c in RECORD_SETS[filters.dataset].columns])


def records_csv(url: str, filters: DrillFilters, limit: int) -> bytes:
    """Every record the drill-down filters match (up to ``limit``) as CSV; uncached, built
    when the download is asked for."""
    with engine_for(url).connect() as conn:
        return records.csv_of_records(conn, filters, limit).encode()


# --- recall ---------------------------------------------------------------------------------

@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def recall_usages(url: str, selector: str, value: str) -> pd.DataFrame:
    """Every usage of one lot, serial, UDI-DI or item (``metrics.read.recall``)."""
    with engine_for(url).connect() as conn:
        rows = metrics_recall.recall_rows(conn, selector, value)
    return _frame([asdict(r) for r in rows], list(metrics_recall.COLUMNS))


def recall_csv(url: str, selector: str, value: str) -> bytes:
    """The same usages as CSV, every column; uncached, built when the download is asked."""
    with engine_for(url).connect() as conn:
        return metrics_recall.to_csv(metrics_recall.recall_rows(conn, selector, value)).encode()


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def expired_devices(url: str, limit: int) -> pd.DataFrame:
    """The newest usages of a device after its expiry date, up to ``limit``."""
    with engine_for(url).connect() as conn:
        rows = metrics_recall.expired_used(conn, limit=limit)
    return _frame([asdict(r) for r in rows], list(metrics_recall.COLUMNS))


# --- revenue cycle --------------------------------------------------------------------------

@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def has_remittances(url: str) -> bool:
    """Whether the store holds any remittance (else the Revenue page's empty state)."""
    with engine_for(url).connect() as conn:
        return revenue.has_remittances(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def has_claims(url: str) -> bool:
    """Whether the store holds any claim (else DNFB has no figure)."""
    with engine_for(url).connect() as conn:
        return revenue.has_claims(conn)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def billing_figures(url: str, start: datetime, end: datetime, *,
                    tail: bool = True, recon: bool = True) -> dict[str, Any]:
    """The estate's charge lag (mean, and p90 days with ``tail``), late charges as % of
    billed $ in the window, and DNFB ($, encounters, days) at its end, through the store
    reader. The p90 ranks the window's usage facts (0.8 s a week at 1M usages); the rest
    are sums over points and a few index probes, cheap enough for the Overview. ``recon``:
    encounter reconciliation too (the Revenue cycle page reads it with its gap tabs, from
    ``reconciliation``, rather than twice)."""
    reader = StoreMetricReader(engine_for(url), settings())
    metrics = [m for m in BILLING_METRICS if (tail or m != "charge_lag_days_p90")
               and (recon or m != "encounter_reconciliation_pct")]
    got = reader.many(metrics, window=end - start, scope_keys=(), now=end)
    return billing_row(got)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def dnfb_encounters(url: str, end: datetime) -> pd.DataFrame:
    """The encounters discharged not final billed at ``end``, largest $ first."""
    with engine_for(url).connect() as conn:
        rows = revenue.dnfb_encounters(conn, end,
                                       timedelta(days=settings().sla.dnfb_hold_days))
    return _frame(rows, list(revenue.DNFB_COLUMNS))


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def reconciliation(url: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Encounter reconciliation of the window's cohort, estate-wide: the rate, each gap's
    count and $, and per gap kind (charge, claim, payment) its encounters as a table, most
    days outstanding first (``app.data.revenue.reconciliation``)."""
    sla = settings().sla
    with engine_for(url).connect() as conn:
        got = revenue.reconciliation(conn, end, end - start,
                                     timedelta(days=sla.dnfb_hold_days),
                                     timedelta(days=sla.remit_days))
    return {k: _frame(v, list(revenue.GAP_COLUMNS)) if isinstance(v, list) else v
            for k, v in got.items()}


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def price_figures(url: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Chargemaster drift and supply cost above contract in the window, estate-wide,
    through the store reader (``metrics.read.pricing``)."""
    reader = StoreMetricReader(engine_for(url), settings())
    got = reader.many(list(PRICE_METRICS), window=end - start, scope_keys=(), now=end)
    return price_row(got)


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def off_price(url: str, start: datetime, end: datetime, kind: str) -> pd.DataFrame:
    """``kind`` "charges": the window's charges posted off their CDM price; "issues": its
    ERP issues above contract; largest $ first."""
    with engine_for(url).connect() as conn:
        if kind == "charges":
            return _frame(metrics_pricing.drifted_charges(conn, start, end),
                          list(DRIFT_COLUMNS))
        return _frame(metrics_pricing.issues_above_contract(conn, start, end),
                      list(ABOVE_COLUMNS))


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def denial_rates(url: str, start: datetime, end: datetime,
                 scope: tuple[str, ...]) -> pd.DataFrame:
    """Per ``scope`` (() = the estate, ("facility",), ("payer",)): claims initially remitted
    in the window, denied, both rates, denied $ still open (``metrics.read.denials``
    through the store reader, as the rules and the report read them)."""
    reader = StoreMetricReader(engine_for(url), settings())
    got = reader.many(list(RATE_METRICS), window=end - start, scope_keys=scope, now=end)
    return _frame(rate_rows(got, scope), [*scope, *RATE_COLUMNS])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def denial_trend(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The initial denial rate per day (week past two weeks) and payer, named."""
    with engine_for(url).connect() as conn:
        days = metrics_denials.by_day(conn, start, end)
        names = revenue.payer_names(conn)
    return _frame(denial_trend_rows(days, trend_grain(end - start), names),
                  list(TREND_COLUMNS))


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def denial_reasons(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Denials by CARC (``CO-16``) in the window: adjustments and their $."""
    reader = StoreMetricReader(engine_for(url), settings())
    got = reader.values(REASON_METRIC, window=end - start, scope_keys=("carc",), now=end)
    return _frame(reason_rows(got), list(REASON_COLUMNS))


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def denial_causes(url: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Denied lines of the window whose cause Chargeline already knew: ``caption`` (the
    share of denied $), ``known`` (lines with a known cause), ``causes`` (lines and $ per
    cause) and ``lines`` (largest $ first, with charge and usage ids)."""
    with engine_for(url).connect() as conn:
        found = metrics_denial_causes.known_causes(conn, start, end)
    return {"caption": share_caption(found), "known": len(found.known),
            "causes": _frame(cause_rows(found), list(CAUSE_COLUMNS)),
            "lines": _frame(line_rows(found), list(CAUSE_LINE_COLUMNS))}


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def underpayments(url: str, start: datetime, end: datetime,
                  scope: tuple[str, ...]) -> pd.DataFrame:
    """Per ``scope`` (() = the estate, ("payer",), ("facility",)): remittance lines judged
    against the configured payer contracts in the window, underpaid, $ short, $ over
    (``metrics.read.underpayment`` through the store reader)."""
    reader = StoreMetricReader(engine_for(url), settings())
    got = reader.values(UNDERPAY_METRIC, window=end - start, scope_keys=scope, now=end)
    return _frame(underpay_rows(got, scope), [*scope, *UNDERPAY_COLUMNS])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def underpaid_lines(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The window's underpaid remittance lines against their contracts, largest first."""
    with engine_for(url).connect() as conn:
        rows = metrics_underpayment.underpaid_between(conn, settings().payer_contracts,
                                                      start, end)
    return _frame(rows, list(LINE_COLUMNS))


# --- interfaces -----------------------------------------------------------------------------

@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def channel_counts(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per channel: Mirth's counters, NACKs and queue hours in the window."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.channel_counts(conn, start, end))


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def channel_hourly(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per channel and hour: received and NACKed messages."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.channel_hourly(conn, start, end),
                      ["facility_id", "channel", "hour", "received", "nacks"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def channel_held(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per channel and hour: held messages (acknowledged late), their wait."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.channel_held(conn, start, end),
                      ["facility_id", "channel", "hour", "held", "wait_minutes"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def api_hourly(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per source, endpoint and hour: calls, failures, 429s."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.api_hourly(conn, start, end),
                      ["source", "endpoint", "hour", "calls", "failed", "throttled"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def latest_channel_stats(url: str) -> pd.DataFrame:
    """The engine's newest counter snapshot per channel."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.latest_channel_stats(conn))


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def api_health(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per source and endpoint: calls, errors, 429s, p95 ms, last success."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.api_health(conn, start, end))


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def source_freshness(url: str) -> pd.DataFrame:
    """Per collector source: last run, its status, last success, newest record."""
    with engine_for(url).connect() as conn:
        return _frame(aggregates.source_freshness(conn))


# --- lineage --------------------------------------------------------------------------------

@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def system_graph(url: str, now: datetime) -> LineageGraph:
    """The estate's system graph with live health (``metrics.lineage.data``)."""
    return lineage_store.system_graph(engine_for(url), settings(), now)


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def trace(url: str, key: str) -> TraceResult:
    """Every hop of the usages behind a usage, encounter, charge or control id
    (``metrics.read.trace``)."""
    return metrics_trace.trace(engine_for(url), key)


# --- alerts, exceptions, rules --------------------------------------------------------------

@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def alerts(url: str) -> list[AlertRow]:
    """Every alert instance (a few per rule and scope: small by construction)."""
    return workflow.list_alerts(engine_for(url))


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def alert_history(url: str, fingerprint: str) -> pd.DataFrame:
    """State changes and steward actions of one alert, newest first."""
    rows = [asdict(h) for h in workflow.history(engine_for(url), fingerprint)]
    return _frame(rows[::-1], ["at", "kind", "what", "actor", "comment"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def silences(url: str, now: datetime) -> pd.DataFrame:
    """Silences still active at ``now``."""
    return _frame(workflow.list_silences(engine_for(url), now),
                  ["id", "matchers_json", "starts_at", "ends_at", "author", "comment"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def exception_summary(url: str) -> pd.DataFrame:
    """Per exception kind and status: count and $."""
    with engine_for(url).connect() as conn:
        return _frame(exceptions_queue.summary(conn), ["kind", "status", "n", "amount"])


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def exception_count(url: str, filters: QueueFilters) -> int:
    """How many exceptions the queue filters match."""
    with engine_for(url).connect() as conn:
        return exceptions_queue.count(conn, filters)


@st.cache_data(ttl=LIVE_TTL, show_spinner=False)
def exception_page(url: str, filters: QueueFilters, page: int,
                   size: int) -> pd.DataFrame:
    """One page of the queue, biggest $ first."""
    with engine_for(url).connect() as conn:
        return _frame(exceptions_queue.page(conn, filters, page, size),
                      list(exceptions_queue.COLUMNS))


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def rule_states(url: str) -> dict[str, dict[str, int]]:
    """Per rule: how many of its alert instances are in each state."""
    with engine_for(url).connect() as conn:
        return rules_view.states_by_rule(conn)


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def rule_versions(url: str) -> pd.DataFrame:
    """The rule-file versions the evaluator loaded, newest first."""
    with engine_for(url).connect() as conn:
        return _frame(rules_view.versions(conn), ["path", "sha256", "rule_ids", "loaded_at"])


@st.cache_data(ttl=FAST_TTL, show_spinner=False)
def rule_history(url: str, rule_id: str) -> pd.DataFrame:
    """State changes of one rule's alert instances, newest first."""
    with engine_for(url).connect() as conn:
        return _frame(rules_view.history(conn, rule_id),
                      ["at", "fingerprint", "from_state", "to_state", "level", "value", "reason"])


def clear_alerting() -> None:
    """Forget cached alert and exception reads after a change made on a page."""
    for fn in (alerts, alert_history, silences, exception_summary, exception_count,
               exception_page, rule_states):
        fn.clear()


# --- admin (uncached: an admin must see their own change at once) ---------------------------

@st.cache_data(ttl=timedelta(seconds=60), show_spinner=False)
def roles_for(url: str, email: str) -> list[str]:
    """The store's roles of one user (re-read each minute, so revocation takes effect)."""
    with engine_for(url).connect() as conn:
        return sorted(roles_of(conn, email))


def users(url: str) -> pd.DataFrame:
    """Users and roles, uncached: the admin page must show its own changes at once."""
    with engine_for(url).connect() as conn:
        return pd.DataFrame(list_users(conn))


def audit_count(url: str) -> int:
    """How many entries the audit log holds."""
    with engine_for(url).connect() as conn:
        return count_audit(conn)


def audit_log(url: str, page: int = 1, size: int = 50) -> pd.DataFrame:
    """One page of the audit log, newest first."""
    with engine_for(url).connect() as conn:
        rows = audit_entries(conn, limit=size, offset=max(0, page - 1) * size)
    return _frame(rows, ["audit_id", "at", "actor", "action", "target", "reason", "detail"])


def quarantine_count(url: str) -> int:
    """How many records the collectors quarantined."""
    with engine_for(url).connect() as conn:
        return count_quarantined(conn)


def quarantine_page(url: str, page: int = 1, size: int = 50) -> pd.DataFrame:
    """One page of quarantined records, payloads masked."""
    with engine_for(url).connect() as conn:
        return _frame(masked_page(conn, limit=size, offset=max(0, page - 1) * size))


def dead_mail(url: str) -> pd.DataFrame:
    """Alert e-mails the outbox gave up on."""
    return _frame(workflow.outbox_rows(engine_for(url), ("dead",)),
                  ["id", "owner", "recipient", "subject", "status", "attempts", "last_error",
                   "created_at", "sent_at"])


@st.cache_data(ttl=SLOW_TTL, show_spinner=False)
def rule_units(data_dir: str) -> dict[str, str]:
    """Each rule in force's unit (``USD``, ``%``, ``minutes`` ...) by rule id; none when the
    rule files are refused (the Rules page says why)."""
    try:
        ruleset = load_rule_files(live_rule_paths(data_dir))
    except RuleFileError:
        return {}
    return {r.id: r.unit for r in ruleset.rules}
