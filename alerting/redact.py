"""Keeping patient data out of e-mail (pure): alert scopes are ids, and anything that is
not shaped like one is replaced by the keyed patient token before it is rendered.

Scopes come from metric readers and errors from source systems, so neither is trusted: a
mis-mapped channel name or an exception quoting an HL7 segment could carry an MRN, a name
or a birth date. Scope keys outside the known list are dropped; scope values that are not
plain ids, or that hold a long digit run or a date, become ``pt_...`` tokens (the same
token the collectors give that identifier, so a steward can still join on it); free text
loses digit runs, dates and HL7 segments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.phi import patient_token
from rules.model import SCOPE_KEYS

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,79}$")
_PHI_HINT = re.compile(r"\d{5,}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|mrn|ssn|dob|patient|\^",
                       re.IGNORECASE)
_TEXT_PATTERNS = (
    re.compile(r"\b(?:PID|NK1|GT1|IN1|PV1)\|[^\n]*"),  # HL7 segments with identities
    re.compile(r"\b(?:MRN|SSN|DOB)\b\W*\S+", re.IGNORECASE),
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\S*"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),  # US dates
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"\d{5,}"),  # record numbers
)
MAX_TEXT = 300
# Organisations, not people: a payer id is often a 5-digit number (N1*PR N104), which the
# record-number hint would take for a patient's; a date or an HL7 segment still is not one.
_ORGANISATION_KEYS = frozenset({"payer"})
_NOT_AN_ORGANISATION = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|mrn|ssn|dob|patient|\^",
                                  re.IGNORECASE)


def safe_value(value: str, secret: str) -> str:
    """An id as is; anything else (or an id hiding digits/dates) as its keyed token."""
    if _ID.match(value) and not _PHI_HINT.search(value):
        return value
    return patient_token(secret, value)


def safe_scope(scope: Mapping[str, str], secret: str) -> dict[str, str]:
    """The scope with unknown keys dropped and every value an id or a token."""
    return {k: _organisation(str(v), secret) if k in _ORGANISATION_KEYS
            else safe_value(str(v), secret) for k, v in scope.items() if k in SCOPE_KEYS}


def _organisation(value: str, secret: str) -> str:
    """A payer's id as is, digits and all; anything else as its keyed token."""
    if _ID.match(value) and not _NOT_AN_ORGANISATION.search(value):
        return value
    return patient_token(secret, value)


def redact_text(text: str) -> str:
    """Free text (an error message) with identities, dates and record numbers removed."""
    if not text:
        return text
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
