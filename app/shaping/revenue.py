"""The Revenue cycle page's numbers, pure: the denial metrics (``metrics.read.denials``,
read through the store reader) as rows per facility, payer or the whole estate, denials
by CARC, and the drill-down filters behind each number (the ``remittances`` record set).

A denied-claims link opens the initial remittances that denied their claims ("problems
only" on ``remittances``): one row per claim the rate counts, its CLP03 $ the denied $.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.shaping.drill import DrillFilters
from core.metric_values import MetricValue, ValueStatus

RATE_METRICS = ("denial_rate_count_pct", "denial_rate_usd_pct", "denied_open_usd")
REASON_METRIC = "denial_reason_usd"
RATE_COLUMNS = ("claims", "denied", "rate_count_pct", "billed_usd", "denied_usd",
                "rate_usd_pct", "open_claims", "open_usd", "error")
REASON_COLUMNS = ("carc", "adjustments", "usd")
BILLING_METRICS = ("charge_lag_days_mean", "charge_lag_days_p90", "late_charges_usd_pct",
                   "dnfb_usd", "dnfb_days", "encounter_reconciliation_pct")
# The gap tabs of encounter reconciliation (metrics/README.md): kind, tab name, what it holds
GAP_TABS = (
    ("charge", "Encounter → Charge",
     "Chargeable scans with no charge posted (missing, unmapped or pending): $ at the CDM "
     "price; days since the discharge."),
    ("claim", "Charge → Claim",
     "Charges posted that no claim bills yet: their $; days since the first of them posted."),
    ("payment", "Claim → Payment",
     "Claims denied and still open, or unanswered past the payer's allowance: the claims' $; "
     "days since the denial or the claim."),
)
PRICE_METRICS = ("cdm_price_drift_usd", "supply_cost_above_contract_usd")
DRIFT_COLUMNS = ("facility_id", "charge_id", "cdm_code", "posted_at", "quantity",
                 "cdm_price", "amount", "usd")
ABOVE_COLUMNS = ("facility_id", "location_id", "document_id", "item_id", "posted_at",
                 "quantity", "contract_price", "unit_cost", "usd")
DATASET = "remittances"

EMPTY = ("No remittance source yet: add an `x12_files` source that polls the folder your "
         "clearinghouse drops 835 files in (see collectors/README.md, the x12_files source, "
         "and docs/wire-formats.md, \"X12 835 remittances\"), or load files once with "
         "`chargeline ingest`.")


def _key(scope: Mapping[str, str], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(scope.get(k, "") for k in keys)


def rate_rows(values: Mapping[str, Sequence[MetricValue]],
              scope_keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per scope (``scope_keys`` columns, then ``RATE_COLUMNS``) from the three
    rate metrics read together; rates are ``None`` where nothing was remitted, ``error``
    names a failing remittance source."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}

    def row(v: MetricValue) -> dict[str, Any]:
        key = _key(v.scope, scope_keys)
        if key not in rows:
            rows[key] = {**dict(zip(scope_keys, key, strict=True)), "claims": 0, "denied": 0,
                         "rate_count_pct": None, "billed_usd": 0.0, "denied_usd": 0.0,
                         "rate_usd_pct": None, "open_claims": 0, "open_usd": 0.0, "error": ""}
        out = rows[key]
        if v.status is ValueStatus.ERROR:
            out["error"] = v.error
        return out

    for v in values.get("denial_rate_count_pct", ()):
        out = row(v)
        out["claims"] = int(v.detail.get("denominator", 0))
        out["denied"] = int(v.detail.get("numerator", 0))
        out["rate_count_pct"] = v.value
        out["denied_usd"] = float(v.amount or 0.0)
    for v in values.get("denial_rate_usd_pct", ()):
        out = row(v)
        out["billed_usd"] = float(v.detail.get("denominator", 0.0))
        out["rate_usd_pct"] = v.value
    for v in values.get("denied_open_usd", ()):
        out = row(v)
        out["open_claims"] = int(v.detail.get("claims", 0))
        out["open_usd"] = float(v.amount or 0.0)
    return [rows[k] for k in sorted(rows)]


def total_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The estate-wide row (the reader's unscoped values), or zeros when nothing was
    remitted in the window."""
    if rows:
        return dict(rows[0])
    return {"claims": 0, "denied": 0, "rate_count_pct": None, "billed_usd": 0.0,
            "denied_usd": 0.0, "rate_usd_pct": None, "open_claims": 0, "open_usd": 0.0,
            "error": ""}


def billing_row(values: Mapping[str, Sequence[MetricValue]]) -> dict[str, Any]:
    """The estate's billing figures from one value per metric (absent: None)."""
    def one(metric: str) -> MetricValue | None:
        got = values.get(metric) or []
        return got[0] if got else None

    lag, p90, late = (one(m) for m in BILLING_METRICS[:3])
    dnfb, dnfb_days = one("dnfb_usd"), one("dnfb_days")
    recon = one("encounter_reconciliation_pct")
    gaps = {f"{kind}_{part}": (float(recon.detail.get(f"{kind}_gap{suffix}", 0.0))
                                if recon else 0.0)
            for kind, _, _ in GAP_TABS for part, suffix in (("gap", ""), ("gap_usd", "_usd"))}
    return {
        "lag_mean_days": lag.value if lag else None,
        "lag_p90_days": p90.value if p90 else None,
        "charged_usages": int(lag.detail.get("denominator", 0)) if lag else 0,
        "late_usd_pct": late.value if late else None,
        "late_usd": float(late.detail.get("numerator", 0.0)) if late else 0.0,
        "billed_usd": float(late.detail.get("denominator", 0.0)) if late else 0.0,
        "dnfb_usd": dnfb.value if dnfb else None,
        "dnfb_encounters": int(dnfb.detail.get("encounters", 0)) if dnfb else 0,
        "dnfb_days": dnfb_days.value if dnfb_days else None,
        "recon_pct": recon.value if recon else None,
        "recon_judged": int(recon.detail.get("denominator", 0)) if recon else 0,
        "recon_reconciled": int(recon.detail.get("numerator", 0)) if recon else 0,
        **gaps,
    }


def price_row(values: Mapping[str, Sequence[MetricValue]]) -> dict[str, Any]:
    """The estate's chargemaster drift and supply cost above contract in the window, from
    the network value of each metric (absent: nothing judged, zeros)."""
    def one(metric: str) -> tuple[int, int, float, float]:
        got = values.get(metric) or []
        if not got:
            return 0, 0, 0.0, 0.0
        v = got[0]
        return (int(v.detail.get("denominator", 0)), int(v.detail.get("numerator", 0)),
                float(v.amount or 0.0), float(v.detail.get("net_usd", 0.0)))

    charges, drifted, drift_usd, net = one("cdm_price_drift_usd")
    issues, above, above_usd, _ = one("supply_cost_above_contract_usd")
    return {"charges_judged": charges, "drift_charges": drifted, "drift_usd": drift_usd,
            "drift_net_usd": net, "issues_judged": issues, "above_issues": above,
            "above_usd": above_usd}


def signed_dollars(value: float) -> str:
    """``+$1,234.50`` / ``−$2.00``: a net that may be either sign."""
    return f"{'−' if value < 0 else '+'}${abs(value):,.2f}"


@dataclass(frozen=True)
class RevenueCard:
    """One card of the Overview's revenue-cycle row: its figure now and a period ago."""

    label: str
    now: float | None
    before: float | None
    unit: str  # "%" (a change in points) or "" (a relative change)
    text: str
    help: str
    good_high: bool = False  # a rise is good news (reconciliation), not bad (lag, denials)


def revenue_cards(now: Mapping[str, Any], before: Mapping[str, Any],
                  denial_now: Mapping[str, Any] | None,
                  denial_before: Mapping[str, Any] | None, hold_days: int) -> list[RevenueCard]:
    """The Overview's revenue-cycle cards from ``billing_row`` and ``total_row`` of the
    window and of the previous one: initial denial rate (when remittances exist), charge
    lag, late charges % of billed $, DNFB days and encounter reconciliation (when claims
    exist)."""
    cards = []
    if denial_now is not None:
        rate = denial_now.get("rate_count_pct")
        cards.append(RevenueCard(
            "Initial denial rate", rate,
            (denial_before or {}).get("rate_count_pct"), "%", percent(rate),
            "Claims denied at their first remittance over claims first remitted in the "
            "window (HFMA MAP Keys)."))
    lag = now.get("lag_mean_days")
    cards.append(RevenueCard("Charge lag", lag, before.get("lag_mean_days"), "", days(lag),
                             "Mean days from the scan (date of service) to its first charge "
                             "posted (HFMA MAP Keys)."))
    late = now.get("late_usd_pct")
    cards.append(RevenueCard("Late charges ($)", late, before.get("late_usd_pct"), "%",
                             percent(late), "$ of charges posted after their SLA over the $ "
                             "billed for the window's scans."))
    if now.get("dnfb_usd") is not None:
        dnfb = now.get("dnfb_days")
        cards.append(RevenueCard(
            "DNFB days", dnfb, before.get("dnfb_days"), "",
            "–" if dnfb is None else f"{dnfb:.2f}",
            f"{dollars(now['dnfb_usd'])} of encounters discharged more than {hold_days} days "
            "and not final billed, over the average daily gross revenue (HFMA MAP Keys)."))
        recon = now.get("recon_pct")
        cards.append(RevenueCard(
            "Encounter reconciliation", recon, before.get("recon_pct"), "%", percent(recon),
            "Encounters discharged in the window (moved back by the "
            f"{hold_days}-day hold) whose every expected charge is posted, claimed and paid: "
            f"{now.get('recon_reconciled', 0):,} of {now.get('recon_judged', 0):,}.",
            good_high=True))
    return cards


def days(value: float | None) -> str:
    """A lag in days as a card shows it: hours under a day, a dash when there is none."""
    if value is None:
        return "–"
    return f"{value * 24:.1f} h" if value < 1 else f"{value:.1f} days"


def reason_rows(values: Sequence[MetricValue]) -> list[dict[str, Any]]:
    """Denials by CARC (``CO-16``): adjustments counted and their $, largest $ first."""
    rows = [{"carc": v.scope.get("carc", ""), "adjustments": int(v.detail.get("adjustments", 0)),
             "usd": float(v.amount or 0.0)} for v in values]
    return sorted(rows, key=lambda r: (-r["usd"], r["carc"]))


def percent(value: float | None) -> str:
    """A rate as a card shows it; a dash when nothing was remitted."""
    return "–" if value is None else f"{value:.1f} %"


def dollars(value: float) -> str:
    return f"${value:,.2f}"


def denied_filters(start: datetime, end: datetime, *, facility: str = "",
                   payer: str = "") -> DrillFilters:
    """The initial remittances that denied their claims in the window (optionally one
    facility's or one payer's): their count is the denied claims, their $ the denied $."""
    return DrillFilters(dataset=DATASET, facilities=(facility,) if facility else (),
                        channel=payer, since=start, until=end, problems=True)


def remitted_filters(start: datetime, end: datetime) -> DrillFilters:
    """Every remittance paid in the window: initial ones, later payments and reversals."""
    return DrillFilters(dataset=DATASET, since=start, until=end)


TREND_COLUMNS = ("bucket", "payer", "claims", "denied", "rate_count_pct", "billed_usd",
                 "denied_usd", "rate_usd_pct")
ALL_PAYERS = "All payers"


def trend_grain(window: timedelta) -> str:
    """Days for a window up to two weeks, else weeks (a day of a month's window holds too
    few claims per payer for its rate to mean anything)."""
    return "day" if window <= timedelta(days=14) else "week"


def denial_trend_rows(days: Sequence[Sequence[Any]], grain: str,
                      names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The initial denial rate per bucket (a day, or the ISO week from its Monday) and
    payer, plus ``All payers``, from ``metrics.read.denials.by_day`` rows (day, payer,
    claims, denied, charge $, denied $). A payer is shown by its name where it has one."""
    sums: dict[tuple[datetime, str], list[float]] = {}
    for day, payer, claims, denied, billed, denied_usd in days:
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        if grain == "week":
            start -= timedelta(days=start.weekday())
        label = (names or {}).get(str(payer)) or str(payer) or "(no payer id)"
        for key in ((start, label), (start, ALL_PAYERS)):
            acc = sums.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            for i, v in enumerate((claims, denied, billed, denied_usd)):
                acc[i] += float(v or 0)
    return [{"bucket": bucket, "payer": payer, "claims": int(c), "denied": int(d),
             "rate_count_pct": round(100.0 * d / c, 2) if c else None,
             "billed_usd": round(b, 2), "denied_usd": round(du, 2),
             "rate_usd_pct": round(100.0 * du / b, 2) if b else None}
            for (bucket, payer), (c, d, b, du) in sorted(sums.items())]
