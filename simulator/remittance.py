"""The payers' answers to the claims as 835 claim payments: paid lines with their
contractual (CO-45) and patient-responsibility (PR-1, PR-2) adjustments, and denials.

Each claim is remitted the day after its FHIR ClaimResponse (``paid_ms`` at midnight UTC,
the BPR16 effective date), by a payer drawn per claim. Denials, as real payers send them:

- a share ``claim_denial`` of claims denied whole (CLP02 = 4), every line adjusted CO with
  one reason: CO-16 missing information (LQ*HE N290 or M51), CO-4 modifier inconsistent,
  CO-97 bundled (M15) or CO-29 timely filing;
- a share ``line_denial`` of paid claims with two lines or more: one line denied (CO-97 M15,
  CO-4, or CO-16 M51), the rest paid;
- a line billed from a CDM line without HCPCS (the ``cdm_without_hcpcs`` fault) goes out
  with its revenue code only (``NU:0278``) and is always denied CO-16 with M20 (missing
  HCPCS): a denial whose cause Chargeline already knows; a claim left with no paid line
  is denied whole. On a claim denied whole for another reason such a line keeps that
  reason and is marked with the same cause (it could not have been paid as billed).

A payer with a contract (simulator.payers) allows each open line what the contract valid on
its date of service says (core.payer_contracts); one without allows its share of charges.
The ``underpayment`` fault (its own random stream, so every other draw stays as it was)
pays one line of a share of the contracted payers' paid claims 5-30 % short of that (at
least 2 cents): mostly a CO-45 larger than the contract's (a stale fee schedule), else a
CO-59 multiple-procedure cut the contract does not allow (only on a line that still pays
something, so it never reads as a denial); the patient's share is figured on what the payer
allowed, as payers do.

Money is in integer cents so every file balances to the cent. Every claim makes the same
random draws whatever the rates, so changing one rate does not reshuffle the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.payer_contracts import ContractBook
from simulator.config import FaultRates
from simulator.payers import contract_book, pick_payer
from simulator.records import CdmEntry, Claim, ClaimResponse, Remittance, RemittanceLine
from simulator.timefmt import DAY

# the payer omits the line item control number (REF*6R) on this share of lines
NO_CONTROL_SHARE = 0.30
# whole-claim denials: (CARC, weight, the remark codes one of which goes with it)
CLAIM_DENIALS = (("16", 0.40, ("N290", "M51")), ("4", 0.20, ()), ("97", 0.20, ("M15",)),
                 ("29", 0.20, ()))
LINE_DENIALS = (("97", 0.50, ("M15",)), ("4", 0.25, ()), ("16", 0.25, ("M51",)))
NO_HCPCS_DENIAL = ("16", "M20")
DEDUCTIBLE_SHARE = 0.15  # claims with a PR-1 deductible
COINSURANCE_SHARE = 0.25  # claims with PR-2 coinsurance (20 % of the allowed amount)
SHORT_SHARE = (0.05, 0.30)  # an underpaid line's shortfall, a share of the contract's amount
MIN_SHORT_CENTS = 2  # never within the metrics' one-cent tolerance
STALE_FEE_SHARE = 0.7  # underpayments as a too-large CO-45; the others a CO-59 cut


def _cents(amount: float) -> int:
    return round(amount * 100)


def _draw(rng: random.Random, table: tuple) -> tuple[str, str]:
    reason, _, remarks = rng.choices(table, weights=[w for _, w, _ in table])[0]
    remark = rng.choice(remarks) if remarks else ""
    return reason, remark


def _deny(line: RemittanceLine, reason: str, remark: str, cause: str = "") -> None:
    line.allowed_cents = line.paid_cents = 0
    line.adjustments = [("CO", reason, line.charge_cents)]
    line.remarks = [remark] if remark else []
    line.cause = cause


def _lines(rng: random.Random, claim: Claim, cdm: dict[str, CdmEntry]) -> list[RemittanceLine]:
    out = []
    for n, c in enumerate(claim.charges, start=1):
        entry = cdm[c.cdm_code]
        code = f"HC:{entry.hcpcs}" if entry.hcpcs else f"NU:{entry.revenue_code}"
        omit = rng.random() < NO_CONTROL_SHARE
        cents = _cents(c.amount)
        out.append(RemittanceLine(n, c, code, entry.revenue_code, cents, cents, cents,
                                  "" if omit else c.charge_id))
    return out


def _expect(book: ContractBook, payer_id: str, line: RemittanceLine) -> int | None:
    """The cents the payer's contract allows for ``line`` on its date of service (UTC, the
    DTM*472 written), or None without a contract."""
    c = line.charge
    day = datetime.fromtimestamp(c.service_ms / 1000, UTC).date()
    got = book.expected(payer_id, day, line.procedure_code, line.revenue_code,
                        Decimal(c.quantity), Decimal(line.charge_cents) / 100)
    return None if got is None else int(got.amount * 100)


@dataclass(frozen=True, slots=True)
class _Short:
    """The underpayment draws of one claim (made for every claim)."""

    happens: bool
    pick: float
    share: float
    stale_fee: bool

    @classmethod
    def draw(cls, rng: random.Random, rate: float) -> _Short:
        return cls(rng.random() < rate, rng.random(), rng.uniform(*SHORT_SHARE),
                   rng.random() < STALE_FEE_SHARE)


def remit_claim(rng: random.Random, claim: Claim, response: ClaimResponse,
                cdm: dict[str, CdmEntry], rates: FaultRates, *,
                book: ContractBook | None = None,
                short_rng: random.Random | None = None) -> Remittance:
    """The 835 claim payment of ``claim``, paid the day after ``response``."""
    book = book or contract_book()
    payer = pick_payer(rng)
    # drawn for every claim, so the draws after it stay put; pays only a payer without a
    # contract
    ratio = rng.uniform(*payer.allowed)
    deny_claim = rng.random() < rates.claim_denial
    claim_reason = _draw(rng, CLAIM_DENIALS)
    deny_line = rng.random() < rates.line_denial
    line_pick = rng.random()
    line_reason = _draw(rng, LINE_DENIALS)
    pr_draw = rng.random()
    deductible = rng.randint(5_000, 50_000)
    payer_claim_id = f"{payer.payer_id}{rng.randrange(10**10):010d}"
    short = _Short.draw(short_rng or random.Random(0), rates.underpayment)
    lines = _lines(rng, claim, cdm)
    paid_ms = (response.last_updated_ms // DAY + 1) * DAY
    if deny_claim:
        for line in lines:
            # a line without HCPCS could not have been paid either: its cause is still known
            _deny(line, *claim_reason, cause="cdm_without_hcpcs"
                  if line.procedure_code.startswith("NU:") else "")
        return Remittance(claim, payer.payer_id, "4", payer_claim_id, paid_ms, lines,
                          ("CO", claim_reason[0]))
    for line in lines:
        if line.procedure_code.startswith("NU:"):
            _deny(line, *NO_HCPCS_DENIAL, cause="cdm_without_hcpcs")
    open_lines = [line for line in lines if not line.adjustments]
    if deny_line and len(lines) >= 2 and len(open_lines) >= 2:
        _deny(open_lines[int(line_pick * len(open_lines))], *line_reason)
        open_lines = [line for line in lines if not line.adjustments]
    if not open_lines:  # nothing left to pay: the claim is denied whole
        first = lines[0].adjustments[0]
        return Remittance(claim, payer.payer_id, "4", payer_claim_id, paid_ms, lines,
                          (first[0], first[1]))
    for line in open_lines:
        line.expected_cents = _expect(book, payer.payer_id, line)
        line.allowed_cents = (round(line.charge_cents * ratio) if line.expected_cents is None
                              else line.expected_cents)
    judged = [line for line in open_lines
              if line.expected_cents is not None and line.expected_cents > MIN_SHORT_CENTS]
    if short.happens and judged:
        target = judged[int(short.pick * len(judged))]
        cut = max(MIN_SHORT_CENTS, round(target.allowed_cents * short.share))
        target.allowed_cents -= cut
        target.short_cents = cut
    left = deductible if pr_draw < DEDUCTIBLE_SHARE else 0
    for line in open_lines:
        patient = 0
        if left:  # the deductible takes the allowed amount line by line until met
            patient = min(left, line.allowed_cents)
            left -= patient
        elif DEDUCTIBLE_SHARE <= pr_draw < DEDUCTIBLE_SHARE + COINSURANCE_SHARE:
            patient = round(line.allowed_cents * 0.2)
        line.paid_cents = line.allowed_cents - patient
        # a cut of its own only where the line still pays: a zero-paid line with a CO
        # other than 45 is a denial
        cut59 = line.short_cents if line.short_cents and not short.stale_fee \
            and line.paid_cents > 0 else 0
        if line.short_cents:
            line.short_carc = "CO-59" if cut59 else "CO-45"
        contractual = line.charge_cents - line.allowed_cents - cut59
        if contractual:
            line.adjustments.append(("CO", "45", contractual))
        if cut59:
            line.adjustments.append(("CO", "59", cut59))
        if patient:
            line.adjustments.append(("PR", "1" if pr_draw < DEDUCTIBLE_SHARE else "2",
                                     patient))
    return Remittance(claim, payer.payer_id, "1", payer_claim_id, paid_ms, lines)


def build_remittances(rng: random.Random, claims: list[Claim], responses: list[ClaimResponse],
                      cdm: dict[str, CdmEntry], rates: FaultRates, *,
                      short_rng: random.Random | None = None) -> list[Remittance]:
    """One claim payment per claim with lines (in claim order); ``short_rng`` draws the
    underpayments."""
    book = contract_book()
    short_rng = short_rng or random.Random(0)
    return [remit_claim(rng, claim, response, cdm, rates, book=book, short_rng=short_rng)
            for claim, response in zip(claims, responses, strict=True) if claim.charges]
