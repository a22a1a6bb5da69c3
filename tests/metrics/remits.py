"""Hand-built remittances (835 CLP + CAS as canonical records) for the denial metrics.

``denial_estate()`` holds one claim of each kind the definitions tell apart; the expected
figures are worked out in tests/metrics/test_denials.py. ``clean_estate()`` is its claims
that were never denied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.model import CanonicalRecord, Remittance, RemittanceAdjustment

NOW = datetime(2026, 11, 30, tzinfo=UTC)
WINDOW = timedelta(days=30)  # [2026-10-31, 2026-11-30)
PAYERS = {"P1": "Acme Health", "P2": "Blue Valley"}


def day(d: int, month: int = 11) -> datetime:
    """An 835 payment date (BPR16) as the store keeps it: midnight UTC."""
    return datetime(2026, month, d, tzinfo=UTC)


def remit(rid: str, claim: str, status: str, charge: float, paid: float, on: datetime, *,
          facility: str = "FAC01", payer: str = "P1", patient: float = 0.0) -> Remittance:
    return Remittance(remittance_id=rid, claim_id=claim, facility_id=facility, payer_id=payer,
                      payer_name=PAYERS.get(payer, payer), status_code=status,
                      charge_amount=Decimal(str(charge)), paid_amount=Decimal(str(paid)),
                      patient_responsibility=Decimal(str(patient)), paid_at=on,
                      received_at=on + timedelta(hours=6), last_updated=on)


def adj(rid: str, claim: str, code: str, amount: float, *, line: int = 0, seq: int = 1
        ) -> RemittanceAdjustment:
    """One CAS adjustment, ``code`` as ``CO-16``."""
    group, reason = code.split("-")
    return RemittanceAdjustment(remittance_id=rid, line_no=line, seq=seq, claim_id=claim,
                                group_code=group, reason_code=reason,
                                amount=Decimal(str(amount)), last_updated=day(1))


def paid_claims() -> list[CanonicalRecord]:
    """Claims paid at once, by either payer: never denied."""
    return [
        # CL1: paid 800 of 1000, the rest contractual (CO-45 is not a denial when paid)
        remit("R1", "CL1", "1", 1000, 800, day(5)),
        adj("R1", "CL1", "CO-45", 200),
        # CL4: paid, reversed (CLP02 22), paid again: the reversal is never initial
        remit("R4a", "CL4", "1", 500, 400, day(7), payer="P2"),
        remit("R4b", "CL4", "22", -500, -400, day(10), payer="P2"),
        remit("R4c", "CL4", "1", 500, 450, day(12), payer="P2"),
        # CL5: paid 0, all of it deductible (PR-1): the patient owes it, no denial
        remit("R5", "CL5", "1", 600, 0, day(9), patient=600),
        adj("R5", "CL5", "PR-1", 600),
        # CL6: paid 0, contractual write-down (CO-45) and the rest deductible (PR-1): the
        # payer paid as agreed and the patient owes, no denial
        remit("R6", "CL6", "1", 1000, 0, day(9), patient=600),
        adj("R6", "CL6", "CO-45", 400),
        adj("R6", "CL6", "PR-1", 600, seq=2),
        # CL8 at FAC02: paid in full
        remit("R8", "CL8", "1", 300, 300, day(11), facility="FAC02"),
        # CL0: first paid before the window; its secondary payment inside does not count
        remit("R0a", "CL0", "1", 900, 700, day(20, 10)),
        remit("R0b", "CL0", "2", 900, 200, day(10), payer="P2"),
        # CL9: remitted after now
        remit("R9", "CL9", "4", 5000, 0, datetime(2026, 12, 2, tzinfo=UTC)),
    ]


def denied_claims() -> list[CanonicalRecord]:
    return [
        # CL2: denied (CLP02 4), claim-level CO-16 and a line's CO-4; never paid: open
        remit("R2", "CL2", "4", 2000, 0, day(6)),
        adj("R2", "CL2", "CO-16", 1500),
        adj("R2", "CL2", "CO-4", 500, line=1),
        # CL3: paid 0 with CO-97 (bundled), no patient share: an initial denial; then
        # paid on appeal, so no longer open; the later CO-45 is not a denial reason
        remit("R3a", "CL3", "1", 3000, 0, day(6), payer="P2"),
        adj("R3a", "CL3", "CO-97", 3000),
        remit("R3b", "CL3", "1", 3000, 2500, day(20), payer="P2"),
        adj("R3b", "CL3", "CO-45", 500),
        # CL7 at FAC02: denied, with a patient share that is no denial reason; a reversal
        # after it leaves the denial the latest non-reversal remittance: open
        remit("R7", "CL7", "4", 700, 0, day(8), facility="FAC02", payer="P2", patient=100),
        adj("R7", "CL7", "CO-16", 600),
        adj("R7", "CL7", "PR-2", 100, seq=2),
        remit("R7r", "CL7", "22", -700, 0, day(14), facility="FAC02", payer="P2"),
    ]


def denial_estate() -> list[CanonicalRecord]:
    return paid_claims() + denied_claims()


def clean_estate() -> list[CanonicalRecord]:
    return paid_claims()


def claims_for_rule(facility: str, claims: int, denied: int) -> list[CanonicalRecord]:
    """``claims`` claims of ``facility`` in the window, the first ``denied`` of them
    denied (CO-16)."""
    out: list[CanonicalRecord] = []
    for i in range(claims):
        rid, claim = f"{facility}-R{i}", f"{facility}-CL{i}"
        if i < denied:
            out += [remit(rid, claim, "4", 100, 0, day(3 + i % 20), facility=facility),
                    adj(rid, claim, "CO-16", 100)]
        else:
            out.append(remit(rid, claim, "1", 100, 90, day(3 + i % 20), facility=facility))
    return out
