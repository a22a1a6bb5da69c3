"""The report's "Revenue cycle" section: initial denials by facility, payer and CARC,
discharged not final billed (DNFB) at the report's end, prices against their masters
(chargemaster drift, supply cost above contract) in the window, encounter
reconciliation of the window's discharges (moved back by the hold), and the window's
remittance lines against the configured payer contracts (underpayments).

Read through the store reader at the finest scope (facility x payer, facility x CARC) and
summed up here: a rate of a coarser scope is its summed numerator over its summed
denominator, so the network, a facility and a payer always agree with each other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.metric_values import MetricValue, ValueStatus
from metrics.read.common import pct
from metrics.read.reader import StoreMetricReader

_RATE_METRICS = ("denial_rate_count_pct", "denial_rate_usd_pct", "denied_open_usd")


def _zero() -> dict[str, float]:
    return {"claims": 0.0, "denied": 0.0, "charges": 0.0, "denied_usd": 0.0,
            "open_usd": 0.0, "open_claims": 0.0}


def _block(s: dict[str, float]) -> dict[str, Any]:
    rate = pct(s["denied"], s["claims"])
    usd_rate = pct(s["denied_usd"], s["charges"])
    return {
        "claims": int(s["claims"]), "denied": int(s["denied"]),
        "denial_rate_pct": None if rate is None else round(rate, 4),
        "charges_usd": round(s["charges"], 2), "denied_usd": round(s["denied_usd"], 2),
        "denial_rate_usd_pct": None if usd_rate is None else round(usd_rate, 4),
        "denied_open_usd": round(s["open_usd"], 2), "denied_open_claims": int(s["open_claims"]),
    }


def _add(into: dict[str, float], metric: str, v: MetricValue) -> None:
    d = v.detail
    if metric == "denial_rate_count_pct":
        into["claims"] += d.get("denominator", 0.0)
        into["denied"] += d.get("numerator", 0.0)
    elif metric == "denial_rate_usd_pct":
        into["charges"] += d.get("denominator", 0.0)
        into["denied_usd"] += d.get("numerator", 0.0)
    else:
        into["open_usd"] += v.value or 0.0
        into["open_claims"] += d.get("claims", 0.0)


def _dnfb(reader: StoreMetricReader, *, until: Any, facility: str) -> dict[str, Any]:
    """Discharged not final billed at ``until``, per facility and network-wide."""
    values = reader.many(["dnfb_usd", "dnfb_days"], window=timedelta(days=30),
                         scope_keys=("facility",), now=until)
    days = {v.scope["facility"]: v for v in values["dnfb_days"]}
    facilities: dict[str, dict[str, Any]] = {}
    for v in values["dnfb_usd"]:
        fac = v.scope["facility"]
        if facility and fac != facility:
            continue
        d = days.get(fac)
        facilities[fac] = {"usd": round(v.value or 0.0, 2),
                           "encounters": int(v.detail.get("encounters", 0)),
                           "gross_per_day_usd": round(d.detail.get("denominator", 0.0), 2)
                           if d else 0.0,
                           "days": None if d is None or d.value is None else round(d.value, 4)}
    usd = sum(f["usd"] for f in facilities.values())
    per_day = sum(f["gross_per_day_usd"] for f in facilities.values())
    network = None if facility or not facilities else {
        "usd": round(usd, 2), "encounters": sum(f["encounters"] for f in facilities.values()),
        "gross_per_day_usd": round(per_day, 2),
        "days": round(usd / per_day, 4) if per_day else None}
    return {"network": network, "facilities": dict(sorted(facilities.items()))}


_PRICING = ("cdm_price_drift_usd", "supply_cost_above_contract_usd")


def _pricing(reader: StoreMetricReader, *, window: timedelta, until: Any,
             facility: str) -> dict[str, Any]:
    """Chargemaster drift and supply cost above contract in the window, per facility and
    network-wide (the network's figures are the facilities' sums)."""
    values = reader.many(list(_PRICING), window=window, scope_keys=("facility",), now=until)
    names = {"cdm_price_drift_usd": ("charges", "cdm_drift"),
             "supply_cost_above_contract_usd": ("issues", "above_contract")}
    facilities: dict[str, dict[str, Any]] = {}
    for metric, (noun, key) in names.items():
        for v in values[metric]:
            fac = v.scope["facility"]
            if facility and fac != facility:
                continue
            into = facilities.setdefault(fac, {
                "charges_judged": 0, "cdm_drift_charges": 0, "cdm_drift_usd": 0.0,
                "cdm_drift_net_usd": 0.0, "issues_judged": 0, "above_contract_issues": 0,
                "above_contract_usd": 0.0})
            into[f"{noun}_judged"] = int(v.detail.get("denominator", 0))
            into[f"{key}_{noun}"] = int(v.detail.get("numerator", 0))
            into[f"{key}_usd"] = round(v.amount or 0.0, 2)
            if metric == "cdm_price_drift_usd":
                into["cdm_drift_net_usd"] = round(v.detail.get("net_usd", 0.0), 2)
    network = None
    if not facility and facilities:
        network = {k: (round(sum(f[k] for f in facilities.values()), 2) if k.endswith("usd")
                       else sum(f[k] for f in facilities.values()))
                   for k in next(iter(facilities.values()))}
    return {"network": network, "facilities": dict(sorted(facilities.items()))}


_GAPS = ("charge_gap", "claim_gap", "payment_gap")


def _reconciliation(reader: StoreMetricReader, *, window: timedelta, until: Any,
                    facility: str) -> dict[str, Any]:
    """Encounter reconciliation of the window's cohort (discharges moved back by the hold)
    per facility and network-wide (sums of the facilities' encounters)."""
    values = reader.many(["encounter_reconciliation_pct"], window=window,
                         scope_keys=("facility",), now=until)["encounter_reconciliation_pct"]
    facilities: dict[str, dict[str, Any]] = {}
    for v in values:
        fac = v.scope["facility"]
        if facility and fac != facility:
            continue
        d = v.detail
        facilities[fac] = {
            "judged": int(d.get("denominator", 0)), "reconciled": int(d.get("numerator", 0)),
            **{k: int(d.get(k, 0)) for k in _GAPS},
            **{f"{k}_usd": round(d.get(f"{k}_usd", 0.0), 2) for k in _GAPS}}
    for b in facilities.values():
        rate = pct(b["reconciled"], b["judged"])
        b["rate_pct"] = None if rate is None else round(rate, 4)
    network = None
    if not facility and facilities:
        network = {k: (round(sum(f[k] for f in facilities.values()), 2) if k.endswith("usd")
                       else sum(f[k] for f in facilities.values()))
                   for k in next(iter(facilities.values())) if k != "rate_pct"}
        rate = pct(network["reconciled"], network["judged"])
        network["rate_pct"] = None if rate is None else round(rate, 4)
    return {"network": network, "facilities": dict(sorted(facilities.items()))}


_UNDERPAY = ("judged_lines", "underpaid_lines", "underpayment_usd", "expected_usd",
             "over_usd", "not_judged_lines")


def _underpayments(reader: StoreMetricReader, *, window: timedelta, until: Any,
                   facility: str) -> dict[str, Any]:
    """Remittance lines against the configured payer contracts in the window, read per
    facility and payer and summed into each facility, each payer and the network."""
    values = reader.many(["underpayment_usd"], window=window, scope_keys=("facility", "payer"),
                         now=until)["underpayment_usd"]
    network: dict[str, float] = dict.fromkeys(_UNDERPAY, 0.0)
    facilities: dict[str, dict[str, float]] = {}
    payers: dict[str, dict[str, float]] = {}
    for v in values:
        fac, payer = v.scope["facility"], v.scope["payer"]
        if facility and fac != facility:
            continue
        d = v.detail
        got = {"judged_lines": d.get("judged_lines", 0.0),
               "underpaid_lines": d.get("underpaid_lines", 0.0),
               "underpayment_usd": v.amount or 0.0, "expected_usd": d.get("denominator", 0.0),
               "over_usd": d.get("over_usd", 0.0),
               "not_judged_lines": d.get("not_judged_lines", 0.0)}
        for into in (network, facilities.setdefault(fac, dict.fromkeys(_UNDERPAY, 0.0)),
                     payers.setdefault(payer, dict.fromkeys(_UNDERPAY, 0.0))):
            for k, x in got.items():
                into[k] += x

    def block(s: dict[str, float]) -> dict[str, Any]:
        return {k: round(x, 2) if k.endswith("usd") else int(x) for k, x in s.items()}

    return {"network": None if facility or not facilities else block(network),
            "facilities": {f: block(s) for f, s in sorted(facilities.items())},
            "payers": {p: block(s) for p, s in sorted(payers.items())}}


def revenue_cycle(reader: StoreMetricReader, *, window: timedelta, until: Any,
                  facility: str = "") -> dict[str, Any]:
    """``{"network", "facilities", "payers", "denial_reasons", "errors", "dnfb",
    "pricing", "reconciliation", "underpayments"}`` for the window (``network`` null with
    ``facility``, as the rest of the report); ``dnfb`` is the stock at ``until``."""
    values = reader.many([*_RATE_METRICS, "denial_reason_count"], window=window,
                         scope_keys=("facility", "payer", "carc"), now=until)
    network, facilities, payers = _zero(), {}, {}
    if facility:
        facilities[facility] = _zero()
    errors: dict[str, str] = {}
    for metric in _RATE_METRICS:
        for v in values[metric]:
            fac, payer = v.scope.get("facility", ""), v.scope.get("payer", "")
            if v.status is ValueStatus.ERROR:
                errors[metric] = v.error
            if facility and fac != facility:
                continue
            for into in (network, facilities.setdefault(fac, _zero()),
                         payers.setdefault(payer, _zero())):
                _add(into, metric, v)
    reasons: dict[str, dict[str, float]] = {}
    for v in values["denial_reason_count"]:
        if facility and v.scope.get("facility") != facility:
            continue
        r = reasons.setdefault(v.scope["carc"], {"count": 0.0, "usd": 0.0})
        r["count"] += v.value or 0.0
        r["usd"] += v.amount or 0.0
    return {
        "network": None if facility else _block(network),
        "facilities": {f: _block(s) for f, s in sorted(facilities.items())},
        "payers": {p: _block(s) for p, s in sorted(payers.items())},
        "denial_reasons": {c: {"count": int(r["count"]), "usd": round(r["usd"], 2)}
                           for c, r in sorted(reasons.items(),
                                              key=lambda kv: (-kv[1]["usd"], kv[0]))},
        "errors": errors,
        "dnfb": _dnfb(reader, until=until, facility=facility),
        "pricing": _pricing(reader, window=window, until=until, facility=facility),
        "reconciliation": _reconciliation(reader, window=window, until=until,
                                          facility=facility),
        "underpayments": _underpayments(reader, window=window, until=until,
                                        facility=facility),
    }
