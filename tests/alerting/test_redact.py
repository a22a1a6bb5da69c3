"""Scopes in e-mail and payloads: ids pass, anything shaped like patient data becomes its
keyed token; a payer's id passes digits and all (an organisation, not a person)."""

from __future__ import annotations

import pytest

from alerting.redact import safe_scope
from core.phi import patient_token

SECRET = "redact-test-secret"


@pytest.mark.parametrize(("scope", "expected"), [
    ({"facility": "FAC01", "payer": "99101"}, {"facility": "FAC01", "payer": "99101"}),
    ({"payer": "CMS-MEDICARE-A"}, {"payer": "CMS-MEDICARE-A"}),
    # a record number in a facility or channel is a patient's, not an id
    ({"facility": "MRN0012345"}, {"facility": patient_token(SECRET, "MRN0012345")}),
    ({"channel": "00123456"}, {"channel": patient_token(SECRET, "00123456")}),
    # a payer value shaped like a birth date or an HL7 name is still no payer id
    ({"payer": "1961-04-12"}, {"payer": patient_token(SECRET, "1961-04-12")}),
    ({"payer": "DOE^JANE"}, {"payer": patient_token(SECRET, "DOE^JANE")}),
    ({"patient": "x", "facility": "FAC02"}, {"facility": "FAC02"}),  # unknown key dropped
])
def test_scope_values_are_ids_or_tokens(scope: dict[str, str],
                                        expected: dict[str, str]) -> None:
    assert safe_scope(scope, SECRET) == expected
