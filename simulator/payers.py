"""The demo estate's payers: who pays the claims, how generously, and who sends the 835.

Fictional payers with the shapes real ones have: an EDI payer id (the folder and ISA
sender of their 835 files), a claim filing indicator (CLP06), a tax id (TRN03 carries it
as '1' + EIN) and a contractual allowance (what share of billed charges they allow).

Three of them have contracts (``CONTRACTS``, in the form of the ``payer_contracts``
setting, which ``chargeline demo`` writes into its configuration): a payer with one allows
what its contract says (core.payer_contracts); Blue Meridian's was renegotiated from
2026-11-17 (a date of service before it is paid by the old terms). The Medicaid plan has
none: it allows its ``allowed`` share of charges and no metric judges it. Every fee is
below the lowest charge its HCPCS can carry (CDM markup 2.2 x the lowest cost, less the
20 % a drifted price may take), so a contract never allows more than was billed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from core.payer_contracts import ContractBook, PayerContract


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

CONTRACTS: tuple[dict[str, Any], ...] = (
    {"payer_id": "99101", "name": "NORTHSTAR MEDICARE ADMINISTRATIVE CONTRACTOR",
     "effective_from": "2025-01-01", "effective_to": None, "default_pct_of_charges": 35.0,
     "lines": [{"hcpcs": "C1776", "rate_per_unit": 2900.00},
               {"hcpcs": "C1785", "rate_per_unit": 6500.00},
               {"revenue_code": "0278", "pct_of_charges": 40.0},
               {"revenue_code": "0636", "pct_of_charges": 30.0}]},
    {"payer_id": "99202", "name": "BLUE MERIDIAN HEALTH PLAN",
     "effective_from": "2025-01-01", "effective_to": "2026-11-16",
     "default_pct_of_charges": 55.0,
     "lines": [{"revenue_code": "0278", "pct_of_charges": 60.0}]},
    {"payer_id": "99202", "name": "BLUE MERIDIAN HEALTH PLAN",
     "effective_from": "2026-11-17", "effective_to": None, "default_pct_of_charges": 58.0,
     "lines": [{"hcpcs": "C1721", "rate_per_unit": 24000.00},
               {"revenue_code": "0278", "pct_of_charges": 62.0}]},
    {"payer_id": "99303", "name": "CASCADE COMMERCIAL INSURANCE",
     "effective_from": "2025-07-01", "effective_to": None, "default_pct_of_charges": 62.0,
     "lines": [{"hcpcs": "C1874", "rate_per_unit": 1500.00},
               {"revenue_code": "0250", "pct_of_charges": 50.0}]},
)


def payer_contracts() -> list[PayerContract]:
    """The contracts the estate's payers pay by, as the ``payer_contracts`` setting."""
    return [PayerContract.model_validate(c) for c in CONTRACTS]


def contract_book() -> ContractBook:
    return ContractBook(payer_contracts())


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
