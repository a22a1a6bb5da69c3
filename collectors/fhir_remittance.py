"""A FHIR R4 ExplanationOfBenefit -> the canonical remittance, its lines and adjustments
(pure): the records an X12 835 claim payment gives (collectors.x12_records), with the
same key semantics, so the denial metrics read either source alike.

The mapping (``collectors/mappings/fhir_billing.yaml``, ``ExplanationOfBenefit``) names
the elements; what it cannot say is here: the key, the amounts that come from
``total[]`` or ``adjudication[]`` by category, and the adjustments nested in each item.

- ``remittance_id`` is the 835's ``TRN02:CLP01:CLP07``: the payment's trace number
  (``payment.identifier``), the claim (``claim`` reference) and the payer's claim number
  (``identifier``), so a claim payment that arrives both as an 835 and as an EOB is one
  remittance (the upserts on natural keys keep one row); without a trace number it is
  ``ExplanationOfBenefit/<id>``.
- ``status_code`` as CLP02 (the mapping's ``map`` of ``outcome``): complete/partial 1,
  error 4 (denied); an EOB of
  status ``entered-in-error`` is the payer taking it back: a reversal (22), amounts
  negated as an 835 reversal writes them, keyed ``<remittance_id>:22`` beside the
  payment it reverses. A ``queued`` EOB (not adjudicated yet) gives nothing.
- ``paid_at`` is ``payment.date`` (else the date ``created``) at midnight UTC, as the
  835's BPR16; ``received_at`` when the payer created the EOB.
- Charge: ``total`` submitted, else the lines' sum; paid: ``payment.amount``, else
  ``total`` benefit, else the lines' sum; patient responsibility: ``total``
  memberliability, else the lines' PR adjustments.
- Each item: its charge is ``net`` (else its ``submitted`` adjudication), its payment the
  ``paidtoprovider`` (else ``benefit``) adjudication; ``procedure_code`` as the 835's
  SVC01 (``HC:<code>[:<modifier>...]`` for HCPCS/CPT, ``NU:<revenue code>`` for a line
  with none); every adjudication with a ``reason`` is an adjustment (its group from the
  extension ``urn:chargeline:adjustment-group``, else PR for the patient's categories and
  CO for the others), and so is a nonzero deductible/coinsurance/copay without one (PR-1,
  PR-2, PR-3), in the item's order (``seq`` from 1, as the CAS triplets).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from collectors.mapping import RecordMapping
from core.errors import RecordError
from core.model import (
    CanonicalRecord,
    Remittance,
    RemittanceAdjustment,
    RemittanceLine,
    build_record,
)
from store.bounds import check_record

REVERSAL = "22"
GROUP_EXT = "urn:chargeline:adjustment-group"
REMARK_EXT = "urn:chargeline:remark-code"
_CLP02 = ("1", "4")  # what the mapping makes of outcome complete/partial and error
# categories whose adjustment the patient owes (group PR), and the CARC of a category that
# comes without a reason
_PATIENT_CATEGORIES = frozenset({"deductible", "coinsurance", "copay", "memberliability",
                                 "paidbypatient"})
_CATEGORY_CARC = {"deductible": "1", "coinsurance": "2", "copay": "3"}
_PROCEDURE_SYSTEMS = ("hcpcs", "cpt", "ama-assn")  # a system URL naming HCPCS or CPT


def _money(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise RecordError(f"{what} is not a number") from None


def _codes(concept: Any) -> list[tuple[str, str]]:
    """(system, code) of each coding of a CodeableConcept."""
    coding = concept.get("coding") if isinstance(concept, dict) else None
    return [(str(c.get("system") or ""), str(c.get("code") or ""))
            for c in coding if isinstance(c, dict)] if isinstance(coding, list) else []


def _category(adjudication: dict[str, Any]) -> str:
    codes = _codes(adjudication.get("category"))
    return codes[0][1] if codes else ""


def _amount(adjudication: dict[str, Any], what: str) -> Decimal | None:
    amount = adjudication.get("amount")
    value = amount.get("value") if isinstance(amount, dict) else None
    return None if value is None else _money(value, what)


def _by_category(entries: Any, what: str) -> dict[str, Decimal]:
    """The first amount of each category in ``total[]`` or ``adjudication[]``."""
    out: dict[str, Decimal] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            amount = _amount(entry, f"{what}[{index}].amount.value")
            if amount is not None:
                out.setdefault(_category(entry), amount)
    return out


def _extension(element: dict[str, Any], url: str) -> list[Any]:
    found = []
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            found += [v for k, v in ext.items() if k.startswith("value")]
    return found


def _day(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise RecordError(f"{what} {str(value)[:40]!r} is not a date") from None


def _midnight(day: date) -> datetime:
    """A payer's calendar date as the store keeps a payment date (the 835's BPR16)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _instant(value: Any, what: str) -> datetime:
    """A FHIR dateTime as an instant; a date alone (or no zone) is midnight UTC."""
    text = str(value)
    if len(text) <= 10:
        return _midnight(_day(text, what))
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{what} {text[:40]!r} is not a date-time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _procedure(values: dict[str, Any]) -> str:
    """The line's code as the 835's SVC01 writes it."""
    code, system = str(values.pop("_code", "")), str(values.pop("_system", "")).lower()
    modifiers = values.pop("modifiers", None)
    if not code:
        revenue = values.get("revenue_code", "")
        return f"NU:{revenue}" if revenue else ""
    parts = [code]
    if any(name in system for name in _PROCEDURE_SYSTEMS):
        parts.insert(0, "HC")
    for concept in modifiers if isinstance(modifiers, list) else []:
        parts += [c for _, c in _codes(concept) if c][:1]
    return ":".join(parts)


def _adjustments(item: dict[str, Any], where: str) -> list[tuple[str, str, Decimal]]:
    """(group, CARC, amount) of each adjustment of one item, in its order."""
    out = []
    entries = item.get("adjudication")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        at = f"{where}.adjudication[{index}]"
        category = _category(entry)
        reasons = [code for _, code in _codes(entry.get("reason")) if code]
        amount = _amount(entry, f"{at}.amount.value")
        if not reasons:
            if category not in _CATEGORY_CARC or not amount:
                continue  # an amount of the line (submitted, eligible, paid), no adjustment
            reasons = [_CATEGORY_CARC[category]]
        groups = [str(g) for g in _extension(entry, GROUP_EXT) if g]
        group = groups[0] if groups else ("PR" if category in _PATIENT_CATEGORIES else "CO")
        if amount is None:
            raise RecordError(f"{at}: adjustment {group}-{reasons[0]} has no amount")
        out.append((group, reasons[0], amount))
    return out


def _line(item: dict[str, Any], lines: RecordMapping, position: int, where: str
          ) -> tuple[dict[str, Any], list[tuple[str, str, Decimal]]]:
    """One item's line values (keys still to add) and its adjustments."""
    values = lines.apply(item)
    values.setdefault("line_no", position)
    values["procedure_code"] = _procedure(values)
    amounts = _by_category(item.get("adjudication"), f"{where}.adjudication")
    charge = values.pop("charge_amount", None)
    charge = amounts.get("submitted") if charge is None else _money(charge, f"{where}.net")
    if charge is None:
        raise RecordError(f"{where}: no net nor submitted amount — a remittance line "
                          "needs its charge")
    values["charge_amount"] = charge
    values["paid_amount"] = amounts.get("paidtoprovider", amounts.get("benefit", Decimal(0)))
    remarks = [c.get("code") for c in _extension(item, REMARK_EXT) if isinstance(c, dict)]
    values["remark_codes"] = ",".join(str(r) for r in remarks if r)
    return values, _adjustments(item, where)


def eob_records(resource: dict[str, Any], mapping: RecordMapping, where: str
                ) -> list[CanonicalRecord]:
    """The remittance, lines and adjustments of one validated EOB (module docstring)."""
    values = mapping.apply(resource)
    eob_status = values.pop("_status", "")
    trace = values.pop("_trace", "")
    paid_on = values.pop("_paid_on", None)
    total = _by_category(resource.get("total"), f"{where} total")
    status = str(values.pop("status_code", ""))
    if status == "queued":
        return []  # not adjudicated yet (a later version will be)
    if status not in _CLP02:
        raise RecordError(f"{where}: ExplanationOfBenefit.outcome {status[:20]!r} is not "
                          "complete, partial, error or queued")
    reversal = eob_status == "entered-in-error"
    claim_id = values.get("claim_id")
    if not claim_id:
        raise RecordError(f"{where}: ExplanationOfBenefit.claim names no Claim — a "
                          "remittance is tied to the claim it pays")
    if paid_on is None:
        raise RecordError(f"{where}: ExplanationOfBenefit has no payment.date nor created — "
                          "a remittance needs its payment date")
    if mapping.lines is None:
        raise RecordError(f"mapping {mapping.name} has no lines: section (each: item)")
    eob_id = values.pop("_eob_id", "")
    remittance_id = (f"{trace}:{claim_id}:{values.get('payer_claim_id', '')}" if trace
                     else f"ExplanationOfBenefit/{eob_id}")
    if reversal:
        remittance_id, status = f"{remittance_id}:{REVERSAL}", REVERSAL
    sign = Decimal(-1) if reversal else Decimal(1)
    updated = _instant(values["last_updated"], f"{where} meta.lastUpdated")
    keys = {"remittance_id": remittance_id, "claim_id": claim_id, "last_updated": updated}
    lines: list[CanonicalRecord] = []
    adjustments: list[CanonicalRecord] = []
    items = resource.get("item")
    for position, item in enumerate(items if isinstance(items, list) else [], 1):
        at = f"{where} item[{position - 1}]"
        line, adjusted = _line(item, mapping.lines, position, at)
        for name in ("charge_amount", "paid_amount"):
            line[name] *= sign
        lines.append(check_record(build_record(RemittanceLine, {**line, **keys}, where=at), at))
        adjustments += [check_record(build_record(RemittanceAdjustment, {
            **keys, "line_no": line["line_no"], "seq": seq, "group_code": group,
            "reason_code": reason, "amount": amount * sign}, where=at), at)
            for seq, (group, reason, amount) in enumerate(adjusted, 1)]
    line_sum = sum((r.charge_amount for r in lines), Decimal(0))  # type: ignore[attr-defined]
    paid_sum = sum((r.paid_amount for r in lines), Decimal(0))  # type: ignore[attr-defined]
    patient_sum = sum((a.amount for a in adjustments  # type: ignore[attr-defined]
                       if a.group_code == "PR"), Decimal(0))  # type: ignore[attr-defined]
    paid = values.pop("paid_amount", None)
    header = {
        **values, **keys, "status_code": status,
        "charge_amount": total["submitted"] * sign if "submitted" in total else line_sum,
        "paid_amount": (_money(paid, f"{where} payment.amount.value") * sign
                        if paid is not None
                        else total["benefit"] * sign if "benefit" in total else paid_sum),
        "patient_responsibility": (total["memberliability"] * sign
                                   if "memberliability" in total else patient_sum),
        "paid_at": _midnight(_day(paid_on, f"{where} payment.date")),
        "received_at": (_instant(values["received_at"], f"{where} created")
                        if values.get("received_at") else None)}
    remittance = check_record(build_record(Remittance, header, where=where), where)
    return [remittance, *lines, *adjustments]
