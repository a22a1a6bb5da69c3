"""Claims per encounter once it ends and its charges are in, and the payer's response."""

from __future__ import annotations

import random
from collections import defaultdict

from simulator.records import Charge, Claim, ClaimResponse, Encounter
from simulator.timefmt import DAY, HOUR


def claim_lines(billed: list[Charge]) -> list[Charge]:
    """The lines a claim bills: its charges, less each credit and the charge it reverses
    (a claim carries the net; their amounts cancel, so the total is unchanged)."""
    credited = {c.part_of for c in billed if c.quantity < 0 and c.part_of}
    return [c for c in billed if c.quantity > 0 and c.charge_id not in credited]


def build_claims(
    rng: random.Random, facility_id: str, encounters: list[Encounter], charges: list[Charge],
    *, hold_rng: random.Random | None = None, hold_rate: float = 0.0,
) -> tuple[list[Claim], list[ClaimResponse]]:
    """One claim per charged encounter, created 2-24 h after its last charge or discharge
    and totalling the charges posted by then; a ClaimResponse 1-4 days later. A share
    ``hold_rate`` of the encounters (drawn from ``hold_rng``, so the other draws stay as
    they were) is held 5-9 days instead: discharged, not final billed."""
    by_enc: dict[str, list[Charge]] = defaultdict(list)
    for c in charges:
        by_enc[c.encounter.encounter_id].append(c)
    claims: list[Claim] = []
    responses: list[ClaimResponse] = []
    for enc in sorted(encounters, key=lambda e: e.start_ms):
        lines = by_enc.get(enc.encounter_id)
        if not lines:
            continue
        last = max(c.posted_ms for c in lines)
        created = max(last, enc.end_ms) + rng.randint(2 * HOUR, DAY)
        held = hold_rng is not None and hold_rng.random() < hold_rate
        if held:
            assert hold_rng is not None
            created = max(last, enc.end_ms) + hold_rng.randint(5 * DAY, 9 * DAY)
        billed = [c for c in lines if c.posted_ms <= created and c.status != "entered-in-error"]
        total = round(sum(c.amount for c in billed), 2)
        claim = Claim(f"CLM-{facility_id}-{len(claims) + 1:06d}", facility_id, enc, total,
                      created, claim_lines(billed), held)
        claims.append(claim)
        r = rng.random()
        outcome = "complete" if r < 0.85 else ("partial" if r < 0.95 else "error")
        paid = 0.0 if outcome == "error" else round(total * rng.uniform(0.35, 0.75), 2)
        responses.append(ClaimResponse(f"CLR-{facility_id}-{len(responses) + 1:06d}", claim,
                                       outcome, paid, created + rng.randint(DAY, 4 * DAY)))
    return claims, responses
