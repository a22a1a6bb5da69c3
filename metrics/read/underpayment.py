"""Underpayments: remittance lines paid below what the payer's contract promises.

Definitions (full text in ``metrics/README.md``, "Underpayments"): the lines are those of
each claim's *initial remittance* (its earliest non-reversal one, as the denial metrics
take it: ``metrics.read.denials.claims``) paid in ``[start, now)``. A line is *denied* when
it paid 0 with a CO/PI/OA adjustment other than CO-45: a denial, not an underpayment, left
out. Every other line is *judged* when the configured contracts (``payer_contracts``,
``core.payer_contracts``) give it an expected payment on its date of service; its
*allowed* amount is what the payer paid plus the patient's responsibility (its PR
adjustments), and its variance is expected - allowed. An *underpaid* line's variance is
more than a cent; an overpaid line's (below minus a cent) is reported beside, never netted.

The lines are read in SQL (the window's initial remittances, their lines and line
adjustments); the contract terms, a handful of configured rows, are applied in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from core.metric_values import MetricValue
from core.payer_contracts import ContractBook, PayerContract
from metrics.catalog import DENIAL_GROUPS
from metrics.read.common import Read, value
from metrics.read.denials import REMIT_FEEDS, claims
from store.schema import remittance_adjustments, remittance_lines

TOLERANCE = Decimal("0.01")  # a cent of rounding either way is no finding
SCOPE = {"facility": "facility_id", "payer": "payer_id"}
ZERO = Decimal(0)


@dataclass(slots=True)
class Line:
    """One service line of an initial remittance, with its adjustments."""

    facility_id: str
    payer_id: str
    claim_id: str
    remittance_id: str
    line_no: int
    procedure_code: str
    revenue_code: str
    units: Decimal
    charge: Decimal
    paid: Decimal
    service_on: date | None
    paid_at: datetime
    patient: Decimal = ZERO  # PR adjustments: deductible, coinsurance, copay
    carcs: list[str] = field(default_factory=list)  # group-reason, in CAS order
    expected: Decimal | None = None
    basis: str = ""

    @property
    def allowed(self) -> Decimal:
        return self.paid + self.patient

    @property
    def variance(self) -> Decimal:
        """Expected - allowed (positive: paid short); 0 when the line is not judged."""
        return ZERO if self.expected is None else self.expected - self.allowed

    @property
    def denied(self) -> bool:
        return self.paid == 0 and any(c.split("-")[0] in DENIAL_GROUPS and c != "CO-45"
                                      for c in self.carcs)

    @property
    def underpaid(self) -> bool:
        return self.expected is not None and self.variance > TOLERANCE

    @property
    def overpaid(self) -> bool:
        return self.expected is not None and self.variance < -TOLERANCE


def lines(conn: Connection, read: Read, book: ContractBook) -> Iterator[Line]:
    """The window's initial-remittance lines, each with its expected payment when a
    contract judges it (denied lines carry none)."""
    c = claims(read)
    rl, a = remittance_lines.c, remittance_adjustments.c
    initial = select(c.c.remittance_id).where(c.c.paid_at >= read.start).scalar_subquery()
    by_line: dict[tuple[str, int], list[tuple[str, str, Decimal]]] = defaultdict(list)
    for adj in conn.execute(select(a.remittance_id, a.line_no, a.group_code, a.reason_code,
                                   a.amount).where(a.remittance_id.in_(initial), a.line_no > 0)
                            .order_by(a.remittance_id, a.line_no, a.seq)):
        by_line[(adj.remittance_id, adj.line_no)].append(
            (adj.group_code, adj.reason_code, Decimal(adj.amount)))
    rows = conn.execute(select(
        c.c.facility_id, c.c.payer_id, c.c.claim_id, c.c.remittance_id, c.c.paid_at,
        rl.line_no, rl.procedure_code, rl.revenue_code, rl.units, rl.charge_amount,
        rl.paid_amount, rl.service_on,
    ).select_from(c.join(remittance_lines, rl.remittance_id == c.c.remittance_id))
        .where(c.c.paid_at >= read.start).order_by(c.c.paid_at, rl.remittance_id, rl.line_no))
    for r in rows:
        line = Line(r.facility_id, r.payer_id, r.claim_id, r.remittance_id, r.line_no,
                    r.procedure_code, r.revenue_code, Decimal(r.units),
                    Decimal(r.charge_amount), Decimal(r.paid_amount), r.service_on, r.paid_at)
        for group, reason, amount in by_line.get((r.remittance_id, r.line_no), ()):
            line.carcs.append(f"{group}-{reason}")
            if group == "PR":
                line.patient += amount
        if not line.denied:
            got = book.expected(line.payer_id, line.service_on, line.procedure_code,
                                line.revenue_code, line.units, line.charge)
            if got is not None:
                line.expected, line.basis = got.amount, got.basis
        yield line


@dataclass(slots=True)
class _Tally:
    lines: int = 0  # remitted lines of the scope
    denied: int = 0
    judged: int = 0
    expected: Decimal = ZERO
    under: int = 0
    under_usd: Decimal = ZERO
    over: int = 0
    over_usd: Decimal = ZERO

    def add(self, line: Line) -> None:
        self.lines += 1
        if line.denied:
            self.denied += 1
        if line.expected is None:
            return
        self.judged += 1
        self.expected += line.expected
        if line.underpaid:
            self.under += 1
            self.under_usd += line.variance
        elif line.overpaid:
            self.over += 1
            self.over_usd -= line.variance


def _scope_keys(read: Read) -> tuple[str, ...]:
    unknown = [k for k in read.scope_keys if k not in SCOPE]
    if unknown:
        raise ValueError(f"metric {read.metric} cannot be split by {unknown[0]!r}; "
                         f"use {', '.join(sorted(SCOPE))}")
    return read.scope_keys


def underpayments(conn: Connection, read: Read) -> list[MetricValue]:
    """``underpaid_lines`` (count, amount = $) or ``underpayment_usd`` per scope; a scope
    with remitted lines but none judged (no contract) reads NODATA."""
    keys = _scope_keys(read)
    book = ContractBook(read.contracts)
    tallies: dict[tuple[str, ...], _Tally] = defaultdict(_Tally)
    for line in lines(conn, read, book):
        tallies[tuple(getattr(line, SCOPE[k]) for k in keys)].add(line)
    out = []
    for scope in sorted(tallies):
        t = tallies[scope]
        where = dict(zip(keys, scope, strict=True))
        detail = {"judged_lines": float(t.judged), "not_judged_lines": float(
            t.lines - t.denied - t.judged), "denied_lines": float(t.denied),
            "expected_usd": round(float(t.expected), 2), "over_lines": float(t.over),
            "over_usd": round(float(t.over_usd), 2)}
        usd = float(t.under_usd)
        if read.metric == "underpaid_lines":
            out.append(value(read, where, float(t.under), amount=usd, numerator=t.under,
                             denominator=t.judged, nodata=t.judged == 0, extra=detail,
                             feeds=REMIT_FEEDS))
        else:  # underpayment_usd
            out.append(value(read, where, usd, amount=usd, numerator=usd,
                             denominator=float(t.expected), nodata=t.judged == 0,
                             extra={**detail, "underpaid_lines": float(t.under)},
                             feeds=REMIT_FEEDS))
    return out


def underpaid_rows(conn: Connection, read: Read, limit: int = 500) -> list[dict[str, object]]:
    """The drill-down: the window's underpaid lines, largest variance first — facility,
    payer, claim, remittance, line, procedure, date of service, payment date, charge,
    expected (and the term that set it), allowed, paid, patient, variance, CARCs."""
    book = ContractBook(read.contracts)
    found = [line for line in lines(conn, read, book) if line.underpaid]
    found.sort(key=lambda x: (-x.variance, x.claim_id, x.line_no))
    return [{"facility_id": x.facility_id, "payer_id": x.payer_id, "claim_id": x.claim_id,
             "remittance_id": x.remittance_id, "line_no": x.line_no,
             "procedure_code": x.procedure_code, "revenue_code": x.revenue_code,
             "units": float(x.units), "service_on": x.service_on, "paid_at": x.paid_at,
             "charge_usd": float(x.charge), "expected_usd": float(x.expected or 0),
             "term": x.basis, "allowed_usd": float(x.allowed), "paid_usd": float(x.paid),
             "patient_usd": float(x.patient), "variance_usd": float(x.variance),
             "carcs": ", ".join(x.carcs)}
            for x in found[:limit]]


def underpaid_between(conn: Connection, contracts: Sequence[PayerContract], start: datetime,
                     end: datetime, limit: int = 500) -> list[dict[str, object]]:
    """``underpaid_rows`` of the window ``[start, end)`` judged by ``contracts`` (the
    Revenue cycle page's list)."""
    read = Read("underpaid_lines", end - start, (), end, contracts=tuple(contracts))
    return underpaid_rows(conn, read, limit)


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "underpaid_lines": underpayments,
    "underpayment_usd": underpayments,
}
