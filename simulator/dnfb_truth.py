"""The truth's ``dnfb`` section: per facility, the encounters discharged and not final
billed (DNFB) at ``as_of`` and their gross $, as billing served them, by the definition in
``metrics/README.md`` (the metric is read from the store; this is the estate's own account).

At the facility's claims horizon ``H`` (``as_of``, or its newest claim when that is older),
an encounter is DNFB when it was discharged more than the hold before ``H``, not before
the earliest discharge of a claimed encounter (older ones may have been billed before the
claims feed began), has no claim created by ``H`` and has a gross $ above 0: the amounts of
its charges posted by ``H`` that are neither credits nor voided nor reversed by a credit.
Average daily gross revenue: the charges and credits (not voided) posted in the 30 days
before ``H``, or since the facility's first charge when that is later, per day."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simulator.estate_record import Estate
from simulator.records import Charge, Claim, Encounter
from simulator.timefmt import DAY

HOLD_DAYS = 4
GROSS_DAYS = 30
VOIDED = "entered-in-error"


def dnfb_truth(estate: Estate, as_of: int, hold_days: int = HOLD_DAYS) -> dict[str, Any]:
    """``{"hold_days", "held_encounter_ids", "facilities": {fid: {"encounters": [ids],
    "usd", "gross_per_day", "days"}}}``; a facility with no claim served has no entry."""
    cols = estate.collections
    charges: list[Charge] = list(cols["billing/ChargeItem"].visible_records(as_of))
    claims: list[Claim] = list(cols["billing/Claim"].visible_records(as_of))
    discharged: dict[str, Encounter] = {
        enc.encounter_id: enc for enc, version in cols["billing/Encounter"].visible_records(as_of)
        if version == 2}
    reversed_ids = {c.part_of for c in charges if c.quantity < 0 and c.status != VOIDED}
    claims_of: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        claims_of[claim.facility_id].append(claim)
    charges_of: dict[str, list[Charge]] = defaultdict(list)
    for c in charges:
        charges_of[c.facility_id].append(c)
    out: dict[str, Any] = {}
    for fid, mine in sorted(claims_of.items()):
        horizon = min(as_of, max(c.created_ms for c in mine))
        claimed = {c.encounter.encounter_id for c in mine if c.created_ms <= horizon}
        oldest = min(c.encounter.end_ms for c in mine if c.created_ms <= horizon)
        gross: dict[str, float] = defaultdict(float)
        for c in charges_of[fid]:
            if (c.posted_ms <= horizon and c.quantity > 0 and c.status != VOIDED
                    and c.charge_id not in reversed_ids):
                gross[c.encounter.encounter_id] += c.amount
        held = sorted(
            e for e, enc in discharged.items()
            if enc.facility_id == fid and e not in claimed and gross.get(e, 0.0) > 0
            and oldest <= enc.end_ms < horizon - hold_days * DAY)
        usd = round(sum(gross[e] for e in held), 2)
        first = min((c.posted_ms for c in charges_of[fid]), default=horizon)
        since = max(horizon - GROSS_DAYS * DAY, first)
        revenue = sum(c.amount for c in charges_of[fid]
                      if since <= c.posted_ms < horizon and c.status != VOIDED)
        per_day = revenue / ((horizon - since) / DAY) if horizon > since else 0.0
        out[fid] = {"encounters": held, "usd": usd, "gross_per_day": round(per_day, 2),
                    "days": round(usd / per_day, 4) if per_day else None}
    held_ids = sorted(c.encounter.encounter_id for f in estate.facilities for c in f.claims
                      if c.held)
    return {"hold_days": hold_days, "held_encounter_ids": held_ids, "facilities": out}
