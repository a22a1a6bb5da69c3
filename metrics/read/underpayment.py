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

One statement per read: the contracts, a handful of configured rows, become a CASE over
the line's payer, date of service, HCPCS and revenue code that gives its expected payment
in whole cents, in integer arithmetic so SQLite's floating point rounds exactly as
``core.payer_contracts`` does (half-up to the cent); the tests hold the two to the same
figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    func,
    null,
    or_,
    select,
)

from core.metric_values import MetricValue
from core.payer_contracts import ContractBook, ContractTerm, PayerContract
from metrics.read.answers import answers_current
from metrics.read.common import Read, value
from metrics.read.denials import REMIT_FEEDS, claims, denying_adjustment
from store.schema import remittance_adjustments, remittance_lines

TOLERANCE_CENTS = 1  # a cent of rounding either way is no finding
SCOPE = {"facility": "facility_id", "payer": "payer_id"}


def _cents(money: ColumnElement) -> ColumnElement[int]:
    """A money column in whole cents (exact on SQLite's floats too)."""
    return cast(func.round(money * 100), BigInteger)


def _hundredths(number: Decimal) -> int:
    return int(number * 100)


def _term_cents(term: ContractTerm, charge: ColumnElement[int],
                units_milli: ColumnElement[int]) -> ColumnElement[int]:
    """What ``term`` pays in cents, half-up: a fee per unit x units (units in thousandths),
    or a percent of the charge (percent in hundredths)."""
    if term.rate_per_unit is not None:
        return (units_milli * _hundredths(term.rate_per_unit) + 500) // 1000
    assert term.pct_of_charges is not None
    return (charge * _hundredths(term.pct_of_charges) + 5000) // 10000


def expected_cents(contracts: Sequence[PayerContract], payer: ColumnElement[str],
                   served: ColumnElement, procedure: ColumnElement[str],
                   revenue: ColumnElement[str], charge: ColumnElement[int],
                   units_milli: ColumnElement[int]) -> ColumnElement:
    """The line's expected payment in cents by the most specific term of the contract valid
    on its date of service (``core.payer_contracts``), or NULL when none judges it."""
    code = func.upper(procedure)
    whens: list[tuple[ColumnElement[bool], ColumnElement]] = []
    for c in contracts:
        valid = [payer == c.payer_id, served.is_not(None), served >= c.effective_from]
        if c.effective_to is not None:
            valid.append(served <= c.effective_to)
        # the HCPCS terms first, then the revenue codes, then the default: CASE takes the
        # first that holds, as the Python lookup does
        for term in sorted(c.lines, key=lambda t: not t.hcpcs):
            if term.hcpcs:
                hit = or_(code == term.hcpcs, code == f"HC:{term.hcpcs}",
                          code.like(f"HC:{term.hcpcs}:%"))
            else:
                hit = revenue == term.revenue_code
            whens.append((and_(*valid, hit), _term_cents(term, charge, units_milli)))
        if c.default_pct_of_charges is not None:
            pct = _hundredths(c.default_pct_of_charges)
            whens.append((and_(*valid), (charge * pct + 5000) // 10000))
    if not whens:
        return cast(null(), BigInteger)
    return cast(case(*whens, else_=null()), BigInteger)


def judged_lines(read: Read, stored: bool = False) -> CTE:
    """The window's initial-remittance lines: scope, claim, line, charge, paid and allowed
    (paid + PR) in cents, ``denied`` 0/1 and ``expected`` in cents (NULL: not judged).
    Materialized: the reads use the expected payment in several sums, and SQLite would
    evaluate the contracts' CASE again for each."""
    whole = claims(read, stored)
    c = select(whole).where(whole.c.paid_at >= read.start).cte("initial")
    rl, a = remittance_lines.c, remittance_adjustments.c
    denial = denying_adjustment()
    adj = select(
        a.remittance_id, a.line_no,
        func.sum(case((a.group_code == "PR", a.amount), else_=0)).label("patient"),
        func.max(case((denial, 1), else_=0)).label("denying"),
    ).select_from(c.join(remittance_adjustments, a.remittance_id == c.c.remittance_id)).where(
        a.line_no > 0).group_by(a.remittance_id, a.line_no).subquery("adj")
    charge, paid = _cents(rl.charge_amount), _cents(rl.paid_amount)
    units_milli = cast(func.round(rl.units * 1000), BigInteger)
    denied = and_(paid == 0, func.coalesce(adj.c.denying, 0) == 1)
    expected = expected_cents(read.contracts, c.c.payer_id, rl.service_on, rl.procedure_code,
                              rl.revenue_code, charge, units_milli)
    judged = and_(~denied, charge > 0, units_milli > 0)
    return select(
        c.c.facility_id, c.c.payer_id, c.c.claim_id, c.c.remittance_id, c.c.paid_at,
        rl.line_no, rl.procedure_code, rl.revenue_code, rl.units, rl.service_on,
        charge.label("charge"), paid.label("paid"),
        (paid + _cents(func.coalesce(adj.c.patient, 0))).label("allowed"),
        case((denied, 1), else_=0).label("denied"),
        case((judged, expected), else_=cast(null(), BigInteger)).label("expected"),
    ).select_from(c.join(remittance_lines, rl.remittance_id == c.c.remittance_id).outerjoin(
        adj, and_(adj.c.remittance_id == rl.remittance_id, adj.c.line_no == rl.line_no))
    ).cte("judged_lines").prefix_with("MATERIALIZED")


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
    j = judged_lines(read, answers_current(conn))
    scope = [j.c[SCOPE[k]].label(k) for k in keys]
    variance = j.c.expected - j.c.allowed
    under = and_(j.c.expected.is_not(None), variance > TOLERANCE_CENTS)
    over = and_(j.c.expected.is_not(None), variance < -TOLERANCE_CENTS)

    def total(cond: ColumnElement[bool], what: ColumnElement) -> ColumnElement:
        return func.coalesce(func.sum(case((cond, what), else_=0)), 0)

    rows = conn.execute(select(
        *scope, func.count(), func.coalesce(func.sum(j.c.denied), 0),
        func.count(j.c.expected), func.coalesce(func.sum(j.c.expected), 0),
        total(under, 1), total(under, variance), total(over, 1), total(over, -variance),
    ).group_by(*scope).order_by(*scope)).all()
    n = len(scope)
    out = []
    for row in rows:
        lines, denied, judged, expected, under_n, under_c, over_n, over_c = (
            int(x) for x in row[n:n + 8])
        where = {k: str(row[i]) for i, k in enumerate(keys)}
        usd = under_c / 100
        detail = {"judged_lines": float(judged),
                  "not_judged_lines": float(lines - denied - judged),
                  "denied_lines": float(denied), "expected_usd": expected / 100,
                  "over_lines": float(over_n), "over_usd": over_c / 100}
        if read.metric == "underpaid_lines":
            out.append(value(read, where, float(under_n), amount=usd, numerator=under_n,
                             denominator=judged, nodata=judged == 0, extra=detail,
                             feeds=REMIT_FEEDS))
        else:  # underpayment_usd
            out.append(value(read, where, usd, amount=usd, numerator=usd,
                             denominator=expected / 100, nodata=judged == 0,
                             extra={**detail, "underpaid_lines": float(under_n)},
                             feeds=REMIT_FEEDS))
    return out


def underpaid_rows(conn: Connection, read: Read, limit: int = 500) -> list[dict[str, object]]:
    """The drill-down: the window's underpaid lines, largest variance first — facility,
    payer, claim, remittance, line, procedure, date of service, payment date, charge,
    expected (and the term that set it), allowed, paid, patient, variance, CARCs."""
    j = judged_lines(read, answers_current(conn))
    variance = j.c.expected - j.c.allowed
    found = conn.execute(select(j, variance.label("variance")).where(
        j.c.expected.is_not(None), variance > TOLERANCE_CENTS).order_by(
        variance.desc(), j.c.claim_id, j.c.line_no).limit(limit)).mappings().all()
    a = remittance_adjustments.c
    carcs: dict[tuple[str, int], list[str]] = defaultdict(list)
    ids = sorted({r["remittance_id"] for r in found})
    for start in range(0, len(ids), 500):  # bound the IN list
        for adj in conn.execute(select(a.remittance_id, a.line_no, a.group_code,
                                       a.reason_code).where(
                a.remittance_id.in_(ids[start:start + 500]), a.line_no > 0)
                .order_by(a.remittance_id, a.line_no, a.seq)):
            carcs[(adj.remittance_id, adj.line_no)].append(f"{adj.group_code}-"
                                                           f"{adj.reason_code}")
    book = ContractBook(read.contracts)
    out: list[dict[str, object]] = []
    for r in found:
        got = book.expected(r["payer_id"], r["service_on"], r["procedure_code"],
                            r["revenue_code"], Decimal(r["units"]),
                            Decimal(r["charge"]) / 100)
        out.append({
            "facility_id": r["facility_id"], "payer_id": r["payer_id"],
            "claim_id": r["claim_id"], "remittance_id": r["remittance_id"],
            "line_no": r["line_no"], "procedure_code": r["procedure_code"],
            "revenue_code": r["revenue_code"], "units": float(r["units"]),
            "service_on": r["service_on"], "paid_at": r["paid_at"],
            "charge_usd": r["charge"] / 100, "expected_usd": r["expected"] / 100,
            "term": got.basis if got is not None else "",
            "allowed_usd": r["allowed"] / 100, "paid_usd": r["paid"] / 100,
            "patient_usd": (r["allowed"] - r["paid"]) / 100,
            "variance_usd": r["variance"] / 100,
            "carcs": ", ".join(carcs.get((r["remittance_id"], r["line_no"]), ()))})
    return out


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
