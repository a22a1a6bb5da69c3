"""The truth's ``reconciliation`` section: per facility, the discharged encounters judged
for encounter reconciliation and the gaps the estate put between the scan and the cash,
told from what the simulator did (metrics/README.md, "Encounter reconciliation", is the
definition the metric reads from the store):

- a *charge* gap: a chargeable scan billing never charged — the injected ``missing_charge``
  (no charge posted), ``no_crosswalk`` and ``unit_not_convertible`` (billing cannot price
  the scan); $ = the scan's base units at the CDM price its item maps to (no crosswalk:
  the line the item was meant to map to; a unit that does not convert: $ 0); open since
  the discharge;
- a *claim* gap: a charge that survived (not a credit, not voided, not reversed), not a
  duplicate's extra (the ``duplicate_charge`` fault's copies), and posted by the claims
  horizon ``H`` that no claim created by ``H`` bills (billing held the
  encounter, ``dnfb_hold``, or had not billed it yet); open since the earliest posting;
- a *payment* gap: a claim created by ``H`` with a total above 0 that the payer denied
  whole in an 835 ready by ``as_of`` (``claim_denial``, or every line denied), open since
  its payment date, or that no 835 ready by ``as_of`` answers though it was created more
  than ``remit_days`` before ``H``, open since its creation.

Judged: discharged by ``as_of``, in ``[oldest, H - hold)`` as DNFB (``oldest``: the
earliest discharge of an encounter a claim created by ``H`` bills), with a chargeable scan
or a surviving charge posted by ``H``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.dnfb_truth import HOLD_DAYS, VOIDED
from simulator.estate_record import Estate
from simulator.records import Charge, Claim, Encounter, Usage
from simulator.timefmt import DAY, iso
from simulator.x12_835 import plan_files

REMIT_DAYS = 30
UNCHARGED = ("missing_charge", "no_crosswalk", "unit_not_convertible")


def _row(encounter_id: str, usd: float, opened_ms: int, horizon: int) -> dict[str, Any]:
    return {"encounter_id": encounter_id, "usd": round(usd + 1e-9, 2),
            "opened_at": iso(opened_ms),
            "days_outstanding": round(max(0, horizon - opened_ms) / DAY, 4)}


def _scan_usd(estate: Estate, u: Usage, prices: dict[str, float],
              crosswalk: dict[str, str]) -> float:
    item = u.item
    assert item is not None
    if u.fault == "unit_not_convertible":
        return 0.0
    code = estate.intended_cdm[item.item_id] if u.fault == "no_crosswalk" \
        else crosswalk[item.item_id]
    return item.units[u.uom] * u.quantity * prices[code]


def _duplicate_extras(estate: Estate) -> set[str]:
    """The charges the ``duplicate_charge`` fault posted again (every charge of the scan
    but its first; a repeated serial's other scan's charges too): the duplicates queue
    credits them, so one no claim bills is no Charge -> Claim gap."""
    out: set[str] = set()
    for fac in estate.facilities:
        extra_trail = {t.usage.usage_id: t for t in fac.trails if t.usage.role == "extra"}
        extra_of = {u.usage_id: extra.usage_id for u, extra in fac.extras}
        for t in fac.trails:
            kind, _, sub = t.usage.fault.partition(":")
            if kind != "duplicate_charge":
                continue
            posted = list(t.charges)
            if sub == "serial_repeat":
                posted += extra_trail[extra_of[t.usage.usage_id]].charges
            out.update(c.charge_id for c in posted[1:])
    return out


def reconciliation_truth(estate: Estate, as_of: int, hold_days: int = HOLD_DAYS,
                         remit_days: int = REMIT_DAYS) -> dict[str, Any]:
    """``{"hold_days", "remit_days", "facilities": {fid: {"horizon", "judged",
    "reconciled", "gaps": {"charge" | "claim" | "payment": [{"encounter_id", "usd",
    "opened_at", "days_outstanding"}]}}}}``, gaps by encounter id; a facility with no
    claim served has no entry."""
    cols = estate.collections
    prices = {c.cdm_code: c.price for c in estate.catalog.cdm}
    crosswalk = {x.item_id: x.cdm_code for x in estate.catalog.crosswalk}
    usages: list[Usage] = list(cols["ehr/SupplyDelivery"].visible_records(as_of))
    charges: list[Charge] = list(cols["billing/ChargeItem"].visible_records(as_of))
    claims: list[Claim] = list(cols["billing/Claim"].visible_records(as_of))
    discharged: dict[str, Encounter] = {
        enc.encounter_id: enc for enc, version in cols["billing/Encounter"].visible_records(as_of)
        if version == 2}
    remitted = {r.claim.claim_id: r for f in plan_files(estate) if f.ready_ms <= as_of
                for r in f.remittances}
    reversed_ids = {c.part_of for c in charges if c.quantity < 0 and c.status != VOIDED}
    extras = _duplicate_extras(estate)
    scans_of: dict[str, list[Usage]] = defaultdict(list)
    for u in usages:
        if u.item is not None and u.item.chargeable:
            scans_of[u.encounter.encounter_id].append(u)
    claims_of: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        claims_of[claim.facility_id].append(claim)
    out: dict[str, Any] = {}
    for fid, mine in sorted(claims_of.items()):
        horizon = min(as_of, max(c.created_ms for c in mine))
        made = [c for c in mine if c.created_ms <= horizon]
        oldest = min(c.encounter.end_ms for c in made)
        billed = {ch.charge_id for c in made for ch in c.charges}
        surviving: dict[str, list[Charge]] = defaultdict(list)
        for c in charges:
            if (c.facility_id == fid and c.posted_ms <= horizon and c.quantity > 0
                    and c.status != VOIDED and c.charge_id not in reversed_ids
                    and c.charge_id not in extras):
                surviving[c.encounter.encounter_id].append(c)
        judged = sorted(
            e for e, enc in discharged.items()
            if enc.facility_id == fid and oldest <= enc.end_ms < horizon - hold_days * DAY
            and (scans_of.get(e) or surviving.get(e)))
        gaps: dict[str, list[dict[str, Any]]] = {"charge": [], "claim": [], "payment": []}
        for e in judged:
            end = discharged[e].end_ms
            missing = [u for u in scans_of.get(e, []) if u.fault in UNCHARGED]
            if missing:
                usd = sum(_scan_usd(estate, u, prices, crosswalk) for u in missing)
                gaps["charge"].append(_row(e, usd, end, horizon))
            unbilled = [c for c in surviving.get(e, []) if c.charge_id not in billed]
            if unbilled:
                gaps["claim"].append(_row(e, sum(c.amount for c in unbilled),
                                          min(c.posted_ms for c in unbilled), horizon))
            unpaid: list[tuple[float, int]] = []
            for claim in (c for c in made if c.encounter.encounter_id == e
                          and round(c.total, 2) > 0):
                r = remitted.get(claim.claim_id)
                if r is not None and r.paid_ms >= as_of:
                    r = None  # paid on a later day: no answer yet at as_of
                if r is not None and r.status == "4":
                    unpaid.append((claim.total, r.paid_ms))
                elif r is None and claim.created_ms < horizon - remit_days * DAY:
                    unpaid.append((claim.total, claim.created_ms))
            if unpaid:
                gaps["payment"].append(_row(e, sum(t for t, _ in unpaid),
                                            min(at for _, at in unpaid), horizon))
        with_gap = {g["encounter_id"] for rows in gaps.values() for g in rows}
        out[fid] = {"horizon": iso(horizon), "judged": len(judged),
                    "reconciled": len(judged) - len(with_gap), "gaps": gaps}
    return {"hold_days": hold_days, "remit_days": remit_days, "facilities": out}
