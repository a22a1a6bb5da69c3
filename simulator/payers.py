"""The demo estate's payers: who pays the claims, how generously, and who sends the 835.

Fictional payers with the shapes real ones have: an EDI payer id (the folder and ISA
sender of their 835 files), a claim filing indicator (CLP06), a tax id (TRN03 carries it
as '1' + EIN) and a contractual allowance (what share of billed charges they allow).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Payer:
    payer_id: str  # EDI payer id: N1*PR ... XV, the ISA06 sender, the x12/<payer_id>/ folder
    name: str
    filing_code: str  # CLP06 claim filing indicator: MA Medicare A, 12 PPO, HM HMO, MC Medicaid
    tax_id: str  # 9 digits
    weight: float  # share of the estate's claims
    allowed: tuple[float, float]  # allowed / billed charge range
    address: tuple[str, str, str, str]  # street, city, state, ZIP


PAYERS: tuple[Payer, ...] = (
    Payer("99101", "NORTHSTAR MEDICARE ADMINISTRATIVE CONTRACTOR", "MA", "990000101", 0.40,
          (0.28, 0.42), ("PO BOX 1001", "COLUMBIA", "SC", "29202")),
    Payer("99202", "BLUE MERIDIAN HEALTH PLAN", "12", "990000202", 0.25, (0.45, 0.70),
          ("200 MERIDIAN WAY", "RICHMOND", "VA", "23230")),
    Payer("99303", "CASCADE COMMERCIAL INSURANCE", "HM", "990000303", 0.20, (0.50, 0.75),
          ("3 CASCADE PLAZA", "HARTFORD", "CT", "06156")),
    Payer("99404", "STATE MEDICAID MANAGED CARE", "MC", "990000404", 0.15, (0.25, 0.40),
          ("404 CAPITOL AVE", "SPRINGFIELD", "IL", "62701")),
)
BY_ID = {p.payer_id: p for p in PAYERS}


def pick_payer(rng: random.Random) -> Payer:
    """A payer drawn by its share of claims."""
    return rng.choices(PAYERS, weights=[p.weight for p in PAYERS])[0]


def npi(facility_number: int) -> str:
    """A fictional but check-digit-valid NPI for a facility (Luhn over the 80840 prefix,
    as CMS specifies), so validators that check NPIs accept it."""
    base = f"19{facility_number:07d}"
    digits = [int(d) for d in "80840" + base]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return base + str((10 - total % 10) % 10)
