"""Denied lines whose cause Chargeline already knew: each denied remittance line stitched to
the charge it billed and that charge's usage, and the problem the compute pass had already
found there (issue 21, "denied lines whose cause Chargeline already knows").

Definitions (full text in ``metrics/README.md``, "Denials Chargeline saw coming"):

- The **denied lines** are the service lines of each claim's *initial remittance* (as the
  denial metrics take it, ``metrics.read.denials.claims``) paid in ``[since, until)``: every
  line of a claim that remittance denied whole, and a line it paid 0 with a CO/PI/OA
  adjustment other than CO-45 (a denied line, as the underpayment metrics leave it out).
- Each is stitched at read time (``metrics.read.claims``): remittance line -> claim line ->
  the charge it bills -> the usage the compute pass linked that charge to
  (``metric_charge_facts.usage_id``, else the duplicate's ``metric_duplicates.usage_id``).
- Its **known cause**, the first that holds, exactly as the facts say it: the usage's failed
  mapping (``metric_usage_facts.mapping_reason``: ``cdm_without_hcpcs``, ``no_crosswalk``,
  ...); the charge is a duplicate's extra (``duplicate``: a row of ``metric_duplicates``);
  the usage's surviving charges bill another quantity than was scanned
  (``quantity_mismatch``: the charge half of the facts' ``qty_mismatch``; an issue-only
  mismatch is the stock's problem, not the bill's). A line stitched to no charge, or to a
  charge no usage owns, has no known cause: nothing is guessed.

These $ are a view of denials, never added to revenue at risk: a line denied for a CDM
line without HCPCS is already that scan's failed-mapping $ before billing, a duplicate's
extra its overcharge $.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, exists, or_, select

from core.metric_values import MetricValue
from metrics.catalog import FAILED_MAPPING_REASONS
from metrics.read.answers import answers_current
from metrics.read.claims import (
    link_claim_lines,
    read_claim_lines,
    remittance_links,
)
from metrics.read.common import Read, chunks, value
from metrics.read.denials import REMIT_FEEDS, claims, denying_adjustment
from store.schema import remittance_adjustments, remittance_lines
from store.schema_metrics import metric_charge_facts, metric_duplicates, metric_usage_facts

DUPLICATE = "duplicate"
QUANTITY_MISMATCH = "quantity_mismatch"
CAUSES = (*FAILED_MAPPING_REASONS, DUPLICATE, QUANTITY_MISMATCH)
QTY_TOLERANCE = 1e-6  # as the usage facts compare quantities
SCOPE = {"facility": "facility_id", "payer": "payer_id"}


@dataclass(frozen=True)
class DeniedLine:
    """One denied remittance line, what it billed and what Chargeline knew of it."""

    facility_id: str
    payer_id: str
    claim_id: str
    remittance_id: str
    line_no: int  # the remittance (SVC) line
    claim_line_no: int | None  # the claim line it pays (None: stitched to none)
    procedure_code: str
    carcs: str  # the line's denying group-CARCs, "CO-16" (the claim's when it has none)
    remark_codes: str
    billed_usd: Decimal
    paid_at: datetime
    charge_id: str  # "" when the claim line bills no charge Chargeline holds
    usage_id: str  # "" when no usage owns the charge
    cause: str  # one of CAUSES, "" when Chargeline knew of no problem


@dataclass(frozen=True)
class CauseTotal:
    cause: str
    lines: int
    usd: Decimal


@dataclass(frozen=True)
class KnownCauses:
    """The window's denied lines and, per known cause, their count and $."""

    lines: tuple[DeniedLine, ...]

    @property
    def denied_usd(self) -> Decimal:
        return sum((x.billed_usd for x in self.lines), Decimal(0))

    @property
    def known(self) -> tuple[DeniedLine, ...]:
        return tuple(x for x in self.lines if x.cause)

    @property
    def known_usd(self) -> Decimal:
        return sum((x.billed_usd for x in self.known), Decimal(0))

    @property
    def share_pct(self) -> float | None:
        """Denied $ with a known cause over all denied $ (None: nothing was denied)."""
        total = self.denied_usd
        return None if not total else float(100 * self.known_usd / total)

    def by_cause(self) -> list[CauseTotal]:
        """Per known cause its lines and $, largest $ first."""
        count: dict[str, int] = defaultdict(int)
        usd: dict[str, Decimal] = defaultdict(Decimal)
        for x in self.known:
            count[x.cause] += 1
            usd[x.cause] += x.billed_usd
        return sorted((CauseTotal(c, count[c], usd[c]) for c in count),
                      key=lambda t: (-t.usd, t.cause))


def _denied_rows(conn: Connection, since: datetime, until: datetime,
                 facility: str) -> list:
    """The window's denied lines (see the module docstring) with their claim's scope."""
    whole = claims(Read("denial_rate_count_pct", until - since, (), until),
                   answers_current(conn))
    a, rl = remittance_adjustments.c, remittance_lines.c
    # a probe of the line's own adjustments (the primary key's prefix), not a grouping of
    # every line adjustment in the store
    denying = exists().where(a.remittance_id == rl.remittance_id, a.line_no == rl.line_no,
                             denying_adjustment())
    where = [whole.c.paid_at >= since,
             or_(whole.c.denied == 1, and_(rl.paid_amount == 0, denying))]
    if facility:
        where.append(whole.c.facility_id == facility)
    return list(conn.execute(select(
        whole.c.facility_id, whole.c.payer_id, whole.c.claim_id, whole.c.remittance_id,
        whole.c.paid_at, rl.line_no, rl.procedure_code, rl.charge_amount, rl.remark_codes,
    ).select_from(whole.join(remittance_lines, rl.remittance_id == whole.c.remittance_id))
        .where(*where).order_by(whole.c.facility_id, whole.c.claim_id, rl.line_no)).all())


def _carcs(conn: Connection, remittance_ids: Iterable[str]) -> dict[tuple[str, int], list[str]]:
    """Per (remittance, line; 0 = the claim) its denying group-CARCs in CAS order."""
    a = remittance_adjustments.c
    out: dict[tuple[str, int], list[str]] = defaultdict(list)
    for chunk in chunks(remittance_ids):
        for r in conn.execute(select(a.remittance_id, a.line_no, a.group_code, a.reason_code)
                              .where(a.remittance_id.in_(chunk), denying_adjustment())
                              .order_by(a.remittance_id, a.line_no, a.seq)):
            out[(r.remittance_id, r.line_no)].append(f"{r.group_code}-{r.reason_code}")
    return out


@dataclass(frozen=True)
class _Usage:
    mapping_reason: str
    charge_qty_off: bool


def _owners(conn: Connection, charge_ids: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """Per charge its linked usage (the charge facts', else its duplicate row's), and which
    charges are a duplicate's extra."""
    cf, md = metric_charge_facts.c, metric_duplicates.c
    owner: dict[str, str] = {}
    extras: set[str] = set()
    for chunk in chunks(charge_ids):
        for r in conn.execute(select(cf.charge_id, cf.usage_id).where(
                cf.charge_id.in_(chunk), cf.usage_id != "")):
            owner[r.charge_id] = r.usage_id
        for r in conn.execute(select(md.charge_id, md.usage_id).where(md.charge_id.in_(chunk))):
            extras.add(r.charge_id)
            if r.usage_id:
                owner.setdefault(r.charge_id, r.usage_id)
    return owner, extras


def _usages(conn: Connection, usage_ids: Iterable[str]) -> dict[str, _Usage]:
    uf = metric_usage_facts.c
    out: dict[str, _Usage] = {}
    for chunk in chunks(usage_ids):
        for r in conn.execute(select(uf.usage_id, uf.mapping_reason, uf.qty_mismatch,
                                     uf.charged_qty, uf.base_qty)
                              .where(uf.usage_id.in_(chunk))):
            off = bool(r.qty_mismatch) and r.charged_qty is not None \
                and r.base_qty is not None and abs(r.charged_qty - r.base_qty) > QTY_TOLERANCE
            out[r.usage_id] = _Usage(r.mapping_reason or "", off)
    return out


def _cause(charge_id: str, usage: _Usage | None, extras: set[str]) -> str:
    if usage is not None and usage.mapping_reason:
        return usage.mapping_reason
    if charge_id in extras:
        return DUPLICATE
    if usage is not None and usage.charge_qty_off:
        return QUANTITY_MISMATCH
    return ""


def known_causes(conn: Connection, since: datetime, until: datetime,
                 facility: str = "") -> KnownCauses:
    """The denied lines of the claims initially remitted in ``[since, until)`` (of one
    facility, or all), each with its charge, usage and known cause; the stitching reads the
    window's denied claims in chunks, never a query per line."""
    rows = _denied_rows(conn, since, until, facility)
    if not rows:
        return KnownCauses(())
    claim_ids = sorted({r.claim_id for r in rows})
    claim_lines = read_claim_lines(conn, claim_ids)
    billed = link_claim_lines(conn, claim_lines)
    pays = {(x.remittance_id, x.line_no): x.claim_line_no
            for x in remittance_links(conn, claim_ids, claim_lines)}
    carcs = _carcs(conn, {r.remittance_id for r in rows})
    charge_of: dict[tuple[str, int], str] = {}
    for r in rows:
        line = pays.get((r.remittance_id, r.line_no))
        link = billed.get((r.claim_id, line)) if line is not None else None
        charge_of[(r.remittance_id, r.line_no)] = link.charge_id if link else ""
    owner, extras = _owners(conn, charge_of.values())
    usages = _usages(conn, owner.values())
    out = []
    for r in rows:
        charge = charge_of[(r.remittance_id, r.line_no)]
        usage_id = owner.get(charge, "")
        codes = carcs.get((r.remittance_id, r.line_no)) or carcs.get((r.remittance_id, 0), [])
        out.append(DeniedLine(
            r.facility_id, r.payer_id, r.claim_id, r.remittance_id, r.line_no,
            pays.get((r.remittance_id, r.line_no)), r.procedure_code, ", ".join(codes),
            r.remark_codes, Decimal(r.charge_amount), r.paid_at, charge, usage_id,
            _cause(charge, usages.get(usage_id), extras) if charge else ""))
    return KnownCauses(tuple(out))


def parse_cause(text: str) -> str:
    """A known cause by name ("" = every one); refuse any other."""
    cause = text.strip().lower()
    if cause and cause not in CAUSES:
        raise ValueError(f"cause {text!r} is not a known cause of a denial; use one of "
                         f"{', '.join(CAUSES)} (or none for every one)")
    return cause


def denials_known_cause(conn: Connection, read: Read) -> list[MetricValue]:
    """``denials_known_cause_usd`` ($) or ``_count`` (lines) per scope with denied lines;
    ``numerator``/``denominator`` give the share of the scope's denied $ (lines)."""
    unknown = [k for k in read.scope_keys if k not in SCOPE]
    if unknown:
        raise ValueError(f"metric {read.metric} cannot be split by {unknown[0]!r}; "
                         f"use {', '.join(sorted(SCOPE))}")
    wanted = parse_cause(read.param("cause"))
    found = known_causes(conn, read.start, read.now)
    groups: dict[tuple[str, ...], list[DeniedLine]] = defaultdict(list)
    for x in found.lines:
        groups[tuple(getattr(x, SCOPE[k]) for k in read.scope_keys)].append(x)
    out = []
    for key in sorted(groups):
        lines = groups[key]
        hit = [x for x in lines if x.cause and (not wanted or x.cause == wanted)]
        usd = float(sum((x.billed_usd for x in hit), Decimal(0)))
        denied_usd = float(sum((x.billed_usd for x in lines), Decimal(0)))
        where = dict(zip(read.scope_keys, key, strict=True))
        detail = {"lines": float(len(hit)), "denied_lines": float(len(lines)),
                  "denied_usd": denied_usd}
        if read.metric == "denials_known_cause_count":
            out.append(value(read, where, float(len(hit)), amount=usd, numerator=len(hit),
                             denominator=len(lines), extra=detail, feeds=REMIT_FEEDS))
        else:
            out.append(value(read, where, usd, amount=usd, numerator=usd,
                             denominator=denied_usd, extra=detail, feeds=REMIT_FEEDS))
    return out


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "denials_known_cause_usd": denials_known_cause,
    "denials_known_cause_count": denials_known_cause,
}
