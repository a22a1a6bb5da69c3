"""Denial metrics read from the remittances (835 CLP/CAS, or FHIR ExplanationOfBenefit): the
initial denial rate by count and by $, denied $ still open, and denials by CARC.

Definitions (HFMA MAP Keys "Initial Denial Rate" and "Denials Rate, Initial, $"; full text
in ``metrics/README.md``): a claim's *initial remittance* is its earliest remittance (by
``paid_at``, then ``remittance_id``) that is not a reversal (CLP02 ``22``). The claim is
*initially denied* when that remittance is a denial: CLP02 ``4``, or it paid 0 with a
CO/PI/OA adjustment and leaves the patient nothing (no PR adjustment, CLP05 = 0) — a
zero payment that is all deductible is the payer working as agreed, not a denial. A claim
counts in the window of its initial remittance's ``paid_at``; it stays *open* while its
latest non-reversal remittance paid before ``now`` is still a denial.

Each claim's initial and latest remittance come from the pass's ``metric_claim_answers``
(a range of its ``paid_at`` index) while it holds every remittance stored
(``metrics.read.answers``), else by ranking the window's claims' remittances in the
canonical tables; one statement per value set, the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from core.metric_values import MetricValue
from metrics.catalog import DENIAL_GROUPS
from metrics.read.answers import answers_current
from metrics.read.common import Read, pct, scope_of, value
from store.schema import remittance_adjustments, remittances
from store.schema_metrics import metric_claim_answers

DENIED_STATUS = "4"  # CLP02: claim denied
REVERSAL_STATUS = "22"  # CLP02: reversal of a previous payment
PATIENT_GROUP = "PR"
REMIT_FEEDS = ("remittance",)

CLAIM_SCOPE = {"facility": "facility_id", "payer": "payer_id"}
CARC_SCOPE = {**CLAIM_SCOPE, "carc": "carc"}


def denying_adjustment() -> ColumnElement[bool]:
    """An adjustment row that denies what it adjusts: group CO, PI or OA, but not CO-45
    (the contractual write-down every paid line carries). A line paid 0 with one is a
    denied line (``metrics.read.underpayment`` leaves it out, ``denial_causes`` lists it)."""
    a = remittance_adjustments.c
    return and_(a.group_code.in_(DENIAL_GROUPS), or_(a.group_code != "CO", a.reason_code != "45"))


def is_denial() -> ColumnElement[bool]:
    """True for a remittance row that denies its claim (see the module docstring)."""
    r, a = remittances, remittance_adjustments
    adjusted = exists().where(a.c.remittance_id == r.c.remittance_id,
                              a.c.group_code.in_(DENIAL_GROUPS))
    patient = exists().where(a.c.remittance_id == r.c.remittance_id,
                             a.c.group_code == PATIENT_GROUP)
    return or_(r.c.status_code == DENIED_STATUS,
               and_(r.c.paid_amount == 0, r.c.patient_responsibility == 0,
                    adjusted, ~patient))


def ranked_remittances(*where: ColumnElement[bool]) -> Subquery:
    """The remittances matching ``where``, each with its claim's ``first_rank`` and
    ``last_rank`` (1 for the initial and the latest remittance of its claim and facility,
    by ``paid_at`` then id) and whether it denies the claim (``denied`` 0/1): the one
    ranking behind both the read-time ``claims`` and the pass's claim answers."""
    r = remittances
    claim = [r.c.facility_id, r.c.claim_id]
    return select(
        r.c.facility_id, r.c.claim_id, r.c.payer_id, r.c.remittance_id, r.c.charge_amount,
        r.c.paid_at, case((is_denial(), 1), else_=0).label("denied"),
        func.row_number().over(partition_by=claim, order_by=(r.c.paid_at, r.c.remittance_id))
        .label("first_rank"),
        func.row_number().over(partition_by=claim, order_by=(r.c.paid_at.desc(),
                                                             r.c.remittance_id.desc()))
        .label("last_rank"),
    ).where(*where).subquery("ranked")


def claims(read: Read, stored: bool = False) -> Subquery:
    """One row per claim whose initial remittance was paid in ``[start, now)``: facility,
    claim, payer and charge $ (CLP03) of that remittance, its id, whether it denied the
    claim (``denied`` 0/1) and whether the latest remittance before ``now`` still does
    (``still_denied``). ``stored``: from the pass's claim answers (when
    ``metrics.read.answers.answers_current`` says they hold every remittance), else by
    ranking the remittances (a row may then come with an initial remittance paid before
    ``start``: the callers keep ``paid_at >= start``)."""
    if stored:
        return _stored_claims(read)
    r = remittances
    live = [r.c.status_code != REVERSAL_STATUS, r.c.paid_at < read.now]
    # only claims with a payment in the window can have their initial one there: this
    # keeps the ranking to them (the paid_at index), not every claim ever remitted
    touched = select(r.c.claim_id).where(*live, r.c.paid_at >= read.start)
    ranked = ranked_remittances(*live, r.c.claim_id.in_(touched))
    k = ranked.c
    first = k.first_rank == 1

    def initial(col: ColumnElement) -> ColumnElement:  # the column of the initial remittance
        return func.max(case((first, col)))

    return select(
        k.facility_id, k.claim_id,
        initial(k.payer_id).label("payer_id"),
        initial(k.remittance_id).label("remittance_id"),
        initial(k.charge_amount).label("charge_amount"),
        initial(k.paid_at).label("paid_at"),
        initial(k.denied).label("denied"),
        func.max(case((k.last_rank == 1, k.denied))).label("still_denied"),
    ).group_by(k.facility_id, k.claim_id).subquery("claims")


def _stored_claims(read: Read) -> Subquery:
    """``claims`` from ``metric_claim_answers``: a range of its ``paid_at`` index. A claim
    whose latest remittance was paid at or after ``now`` has its answer as of ``now``
    looked up among its own remittances (an index probe; none when reading the present)."""
    t, r = metric_claim_answers, remittances
    as_of_now = select(case((is_denial(), 1), else_=0)).where(
        r.c.facility_id == t.c.facility_id, r.c.claim_id == t.c.claim_id,
        r.c.status_code != REVERSAL_STATUS, r.c.paid_at < read.now,
    ).order_by(r.c.paid_at.desc(), r.c.remittance_id.desc()).limit(1).scalar_subquery()
    still = case((t.c.last_paid_at < read.now, t.c.last_denied), else_=as_of_now)
    return select(
        t.c.facility_id, t.c.claim_id, t.c.payer_id, t.c.remittance_id, t.c.charge_amount,
        t.c.paid_at, t.c.denied, still.label("still_denied"),
    ).where(t.c.paid_at >= read.start, t.c.paid_at < read.now).subquery("claims")


def by_day(conn: Connection, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """Per payment date and payer, the claims initially remitted in ``[start, end)``: (day,
    payer, claims, denied, charge $, denied charge $) — the trend behind the initial denial
    rate, counted exactly as the metric counts (a remittance's ``paid_at`` is a date)."""
    sub = claims(Read("denial_rate_count_pct", end - start, (), end), answers_current(conn))
    day = sub.c.paid_at
    charge = cast(sub.c.charge_amount, Float)
    return [tuple(row) for row in conn.execute(
        select(day, sub.c.payer_id, func.count(), func.sum(sub.c.denied), func.sum(charge),
               func.sum(charge * sub.c.denied))
        .where(day >= start).group_by(day, sub.c.payer_id).order_by(day, sub.c.payer_id))]


def _scope(read: Read, sub: Subquery, mapping: dict[str, str]) -> list[ColumnElement]:
    unknown = [key for key in read.scope_keys if key not in mapping]
    if unknown:
        raise ValueError(f"metric {read.metric} cannot be split by {unknown[0]!r}; "
                         f"use {', '.join(sorted(mapping))}")
    return [sub.c[mapping[key]].label(key) for key in read.scope_keys]


def rates(conn: Connection, read: Read) -> list[MetricValue]:
    """The initial denial rate by count or $, or denied $ still open, per scope."""
    c = claims(read, answers_current(conn))
    scope = _scope(read, c, CLAIM_SCOPE)
    charge = cast(c.c.charge_amount, Float)
    denied_usd = case((c.c.denied == 1, charge), else_=0.0)
    rows = conn.execute(select(
        *scope, func.count(), func.coalesce(func.sum(c.c.denied), 0),
        func.coalesce(func.sum(charge), 0.0), func.coalesce(func.sum(denied_usd), 0.0),
        func.coalesce(func.sum(case((and_(c.c.denied == 1, c.c.still_denied == 1), 1),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((and_(c.c.denied == 1, c.c.still_denied == 1), charge),
                                    else_=0.0)), 0.0),
    ).where(c.c.paid_at >= read.start).group_by(*scope).order_by(*scope)).all()
    n = len(scope)
    out = []
    for row in rows:
        claims_n, denied_n = int(row[n]), int(row[n + 1])
        billed, denied, open_n, open_usd = (float(x) for x in row[n + 2:n + 6])
        where = scope_of(read, row)
        if read.metric == "denial_rate_count_pct":
            out.append(value(read, where, pct(denied_n, claims_n), amount=denied,
                             numerator=denied_n, denominator=claims_n, feeds=REMIT_FEEDS))
        elif read.metric == "denial_rate_usd_pct":
            out.append(value(read, where, pct(denied, billed), amount=denied,
                             numerator=denied, denominator=billed, feeds=REMIT_FEEDS))
        else:  # denied_open_usd
            out.append(value(read, where, open_usd, amount=open_usd, nodata=claims_n == 0,
                             extra={"claims": float(open_n), "denied_claims": float(denied_n)},
                             feeds=REMIT_FEEDS))
    return out


def parse_reason(text: str) -> tuple[str, str]:
    """``CO-16`` -> ("CO", "16"); ``PI`` -> ("PI", ""); "" -> ("", "") (every reason)."""
    group, _, reason = text.strip().upper().partition("-")
    if text and (group not in DENIAL_GROUPS or (_ and not reason)):
        raise ValueError(f"reason {text!r} is not a denial group or CARC; use a group "
                         f"({', '.join(DENIAL_GROUPS)}) or group-CARC, e.g. CO-16")
    return group, reason


def by_reason(conn: Connection, read: Read) -> list[MetricValue]:
    """Adjustments (claim and line level, CO/PI/OA) of the initial remittances that denied
    their claims: count and $ per scope, ``carc`` = ``group-reason`` (CO-16)."""
    group, reason = parse_reason(read.param("reason"))
    c, a = claims(read, answers_current(conn)), remittance_adjustments
    carc = (a.c.group_code + literal("-") + a.c.reason_code).label("carc")
    adj = select(c.c.facility_id, c.c.payer_id, carc, a.c.amount).select_from(
        c.join(a, a.c.remittance_id == c.c.remittance_id)).where(
        c.c.paid_at >= read.start, c.c.denied == 1,
        a.c.group_code.in_((group,) if group else DENIAL_GROUPS),
        *((a.c.reason_code == reason,) if reason else ())).subquery("adj")
    scope = _scope(read, adj, CARC_SCOPE)
    rows = conn.execute(select(
        *scope, func.count(adj.c.amount), func.coalesce(func.sum(cast(adj.c.amount, Float)),
                                                        0.0),
    ).group_by(*scope).order_by(*scope)).all()
    n = len(scope)
    out = []
    for row in rows:
        count, usd = int(row[n]), float(row[n + 1])
        number = float(count) if read.metric == "denial_reason_count" else usd
        out.append(value(read, scope_of(read, row), number, amount=usd, nodata=count == 0,
                         extra={"adjustments": float(count)}, feeds=REMIT_FEEDS))
    return out


READERS: dict[str, Callable[[Connection, Read], list[MetricValue]]] = {
    "denial_rate_count_pct": rates,
    "denial_rate_usd_pct": rates,
    "denied_open_usd": rates,
    "denial_reason_count": by_reason,
    "denial_reason_usd": by_reason,
}
