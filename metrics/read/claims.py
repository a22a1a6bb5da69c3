"""Claim lines stitched to the money, at read time: each claim line to the charge it bills,
each remittance (835 service) line to the claim line it pays.

Nothing here is stored: a claim's links are worked out from its own rows when asked (a
trace, a drill-down, a test), so the metrics pass stays as incremental as it was
(metrics/README.md, "How a pass runs"); one claim's lines and its encounter's charges are a
handful of rows.

Claim line -> charge, first that applies:

1. ``charge_id``: the source named the charge (FHIR Claim.item's ChargeItem reference);
2. ``line_control``: the line item control number (837 REF*6R) is a charge id;
3. ``fallback``: a charge of the claim's encounter, posted (not a credit, not voided, not
   reversed by a credit) and not named by any claim line, with the line's HCPCS (else its
   revenue code when the line has no HCPCS) on its CDM line, the same service date and
   units; among several, the one with the line's amount first, then the earliest service
   (its instant, else its posting), posting and id: a claim lists its lines in service
   order. Each charge bills one line, lines taken in order.

Remittance line -> claim line of the same claim (CLP01 = the claim id): ``line_control``
(REF*6R equal), else ``line_no`` (the same line number with the same procedure: SVC01's
code, or its revenue code for ``NU:``), else ``procedure`` (the first line not yet paid
with that procedure).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, or_, select

from metrics.read.common import chunks
from store.schema import (
    cdm_entries,
    charges,
    claim_lines,
    claims,
    remittance_lines,
    remittances,
)


@dataclass(frozen=True)
class ClaimLineRow:
    claim_id: str
    line_no: int
    line_control: str
    revenue_code: str
    procedure_code: str
    modifiers: str
    units: Decimal
    charge_amount: Decimal | None  # None: the source gave none
    service_on: date | None
    charge_id: str
    created_at: datetime | None  # the claim's
    encounter_id: str  # the claim's ('' when its source did not say: an 837)


@dataclass(frozen=True)
class ChargeLink:
    """A claim line and the charge it bills, and how that was found."""

    claim_id: str
    line_no: int
    charge_id: str
    method: str  # charge_id | line_control | fallback


@dataclass(frozen=True)
class RemittanceLink:
    """A remittance line and the claim line it pays, and how that was found."""

    remittance_id: str
    line_no: int
    claim_id: str
    claim_line_no: int
    method: str  # line_control | line_no | procedure
    paid_amount: Decimal
    charge_amount: Decimal
    status_code: str  # its remittance's CLP02
    paid_at: datetime
    remark_codes: str


def read_claim_lines(conn: Connection, claim_ids: Iterable[str]) -> list[ClaimLineRow]:
    """The lines of these claims with their claim's encounter and creation, in order."""
    cl, c = claim_lines, claims
    out: list[ClaimLineRow] = []
    for chunk in chunks(claim_ids):
        rows = conn.execute(select(cl, c.c.encounter_id, c.c.created_at).select_from(
            cl.outerjoin(c, c.c.claim_id == cl.c.claim_id)).where(cl.c.claim_id.in_(chunk))
            .order_by(cl.c.claim_id, cl.c.line_no))
        out += [ClaimLineRow(r.claim_id, r.line_no, r.line_control, r.revenue_code,
                             r.procedure_code, r.modifiers, Decimal(r.units),
                             None if r.charge_amount is None else Decimal(r.charge_amount),
                             r.service_on, r.charge_id, r.created_at,
                             r.encounter_id or "") for r in rows]
    return out


def _existing_charges(conn: Connection, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(i for i in ids if i):
        found.update(conn.execute(select(charges.c.charge_id).where(
            charges.c.charge_id.in_(chunk))).scalars())
    return found


def _named_by_lines(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of these charges some claim line names (by charge id or control number)."""
    named: set[str] = set()
    cl = claim_lines
    for chunk in chunks(ids):
        named.update(conn.execute(select(cl.c.charge_id).where(
            cl.c.charge_id.in_(chunk))).scalars())
        named.update(conn.execute(select(cl.c.line_control).where(
            cl.c.line_control.in_(chunk))).scalars())
    return named


@dataclass(frozen=True)
class _Candidate:
    charge_id: str
    hcpcs: str
    revenue_code: str
    service_date: date
    quantity: Decimal
    amount: Decimal
    service_at: datetime | None
    posted_at: datetime


def _candidates(conn: Connection, encounter_ids: Iterable[str]) -> dict[str, list[_Candidate]]:
    """Each encounter's posted charges that no credit reverses, with their CDM codes."""
    c, cdm = charges, cdm_entries
    out: dict[str, list[_Candidate]] = {}
    for chunk in chunks(e for e in encounter_ids if e):
        rows = conn.execute(select(
            c.c.charge_id, c.c.encounter_id, c.c.status, c.c.reverses_charge_id,
            c.c.service_date, c.c.quantity, c.c.amount, c.c.service_at, c.c.posted_at,
            cdm.c.hcpcs,
            cdm.c.revenue_code).select_from(c.outerjoin(cdm, cdm.c.cdm_code == c.c.cdm_code))
            .where(c.c.encounter_id.in_(chunk))).all()
        reversed_ids = {r.reverses_charge_id for r in rows if r.reverses_charge_id}
        for r in rows:
            if r.status != "posted" or r.reverses_charge_id or r.charge_id in reversed_ids:
                continue
            out.setdefault(r.encounter_id, []).append(_Candidate(
                r.charge_id, r.hcpcs or "", r.revenue_code or "", r.service_date,
                Decimal(r.quantity), Decimal(r.amount), r.service_at, r.posted_at))
    return out


def _fits(line: ClaimLineRow, charge: _Candidate) -> bool:
    if line.procedure_code:
        coded = line.procedure_code == charge.hcpcs
    else:
        coded = bool(line.revenue_code) and line.revenue_code == charge.revenue_code
    return (coded and (line.service_on is None or line.service_on == charge.service_date)
            and line.units == charge.quantity)


def link_claim_lines(conn: Connection, lines: Sequence[ClaimLineRow]
                     ) -> dict[tuple[str, int], ChargeLink]:
    """The charge each of ``lines`` bills (see the module docstring), by (claim, line)."""
    known = _existing_charges(conn, [x for line in lines
                                     for x in (line.charge_id, line.line_control)])
    out: dict[tuple[str, int], ChargeLink] = {}
    rest: list[ClaimLineRow] = []
    for line in lines:
        key = (line.claim_id, line.line_no)
        if line.charge_id and line.charge_id in known:
            out[key] = ChargeLink(*key, line.charge_id, "charge_id")
        elif line.line_control and line.line_control in known:
            out[key] = ChargeLink(*key, line.line_control, "line_control")
        elif line.encounter_id:
            rest.append(line)
    if not rest:
        return out
    pools = _candidates(conn, {line.encounter_id for line in rest})
    named = _named_by_lines(conn, [c.charge_id for pool in pools.values() for c in pool])
    taken = named | {link.charge_id for link in out.values()}
    for line in rest:
        fitting = [c for c in pools.get(line.encounter_id, ())
                   if c.charge_id not in taken and _fits(line, c)]
        if not fitting:
            continue
        best = min(fitting, key=lambda c: (c.amount != line.charge_amount,
                                           c.service_at or c.posted_at, c.posted_at,
                                           c.charge_id))
        taken.add(best.charge_id)
        out[(line.claim_id, line.line_no)] = ChargeLink(line.claim_id, line.line_no,
                                                        best.charge_id, "fallback")
    return out


def claim_line_links(conn: Connection, claim_ids: Iterable[str]
                     ) -> dict[tuple[str, int], ChargeLink]:
    """The charge each line of these claims bills, by (claim, line)."""
    return link_claim_lines(conn, read_claim_lines(conn, claim_ids))


def _svc_code(procedure: str) -> tuple[str, str]:
    """(HCPCS, revenue code) of SVC01 as written: ``HC:C1776:RT`` -> (C1776, ''),
    ``NU:0278`` -> ('', 0278); a bare code is a HCPCS."""
    parts = procedure.split(":")
    if len(parts) == 1:
        return parts[0], ""
    qualifier, code = parts[0], parts[1]
    return ("", code) if qualifier == "NU" else (code, "")


def _same_procedure(paid_procedure: str, paid_revenue: str, line: ClaimLineRow) -> bool:
    hcpcs, revenue = _svc_code(paid_procedure)
    if hcpcs:
        return hcpcs == line.procedure_code
    revenue = revenue or paid_revenue
    return bool(revenue) and revenue == line.revenue_code and not line.procedure_code


def remittance_links(conn: Connection, claim_ids: Iterable[str],
                     lines: Sequence[ClaimLineRow] | None = None) -> list[RemittanceLink]:
    """Every remittance line of these claims with the claim line it pays (a line that
    pays none of them is left out), in payment order."""
    ids = sorted(set(claim_ids))
    lines = read_claim_lines(conn, ids) if lines is None else lines
    by_claim: dict[str, list[ClaimLineRow]] = {}
    for line in lines:
        by_claim.setdefault(line.claim_id, []).append(line)
    rl, r = remittance_lines, remittances
    out: list[RemittanceLink] = []
    for chunk in chunks(ids):
        rows = conn.execute(select(rl, r.c.status_code, r.c.paid_at).select_from(
            rl.join(r, r.c.remittance_id == rl.c.remittance_id))
            .where(rl.c.claim_id.in_(chunk))
            .order_by(r.c.paid_at, rl.c.remittance_id, rl.c.line_no)).all()
        paid: dict[str, set[int]] = {}  # per remittance: the claim lines it paid already
        for row in rows:
            mine = by_claim.get(row.claim_id, [])
            done = paid.setdefault(row.remittance_id, set())
            match, method = None, ""
            if row.line_control:
                match = next((x for x in mine if x.line_control == row.line_control), None)
                method = "line_control"
            if match is None:
                match = next((x for x in mine if x.line_no == row.line_no
                              and _same_procedure(row.procedure_code, row.revenue_code, x)
                              and x.line_no not in done), None)
                method = "line_no"
            if match is None:
                match = next((x for x in mine if x.line_no not in done
                              and _same_procedure(row.procedure_code, row.revenue_code, x)),
                             None)
                method = "procedure"
            if match is None:
                continue
            done.add(match.line_no)
            out.append(RemittanceLink(row.remittance_id, row.line_no, row.claim_id,
                                      match.line_no, method, Decimal(row.paid_amount),
                                      Decimal(row.charge_amount), row.status_code,
                                      row.paid_at, row.remark_codes))
    return out


def claims_billing(conn: Connection, charge_ids: Iterable[str], encounter_ids: Iterable[str]
                   ) -> list[str]:
    """The claims that may bill these charges: a line naming one of them, or a claim of one
    of these encounters (whose lines may bill them by the fallback)."""
    cl, c = claim_lines, claims
    found: set[str] = set()
    for chunk in chunks(charge_ids):
        found.update(conn.execute(select(cl.c.claim_id).where(or_(
            cl.c.charge_id.in_(chunk), cl.c.line_control.in_(chunk)))).scalars())
    for chunk in chunks(e for e in encounter_ids if e):
        found.update(conn.execute(select(c.c.claim_id).where(
            c.c.encounter_id.in_(chunk))).scalars())
    return sorted(found)
