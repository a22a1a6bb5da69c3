"""The truth's ``claims`` section: every claim created by ``as_of`` with the charges its
lines bill, in line order (FHIR Claim.item sequence and 837 LX numbers alike), and
whether its 837 file was sent by then."""

from __future__ import annotations

from typing import Any

from simulator.estate_record import Estate
from simulator.x12_837 import plan_claim_files


def claim_truth(estate: Estate, as_of: int) -> dict[str, Any]:
    """``claims`` and ``lines`` counted, ``in_837`` of them in the 837 files sent, and
    ``items``: one row per claim (claim, facility, encounter, ``charge_ids`` by line)."""
    sent = {c.claim_id for f in plan_claim_files(estate) if f.ready_ms <= as_of
            for c, _payer in f.claims}
    items = [{"claim_id": c.claim_id, "facility_id": c.facility_id,
              "encounter_id": c.encounter.encounter_id,
              "charge_ids": [charge.charge_id for charge in c.charges],
              "in_837": c.claim_id in sent}
             for fac in estate.facilities for c in fac.claims if c.created_ms <= as_of]
    return {"claims": len(items), "lines": sum(len(i["charge_ids"]) for i in items),
            "in_837": sum(i["in_837"] for i in items), "items": items}
