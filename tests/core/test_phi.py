"""Patient tokens: stable per patient, keyed, and never the MRN itself."""

from core.phi import patient_token


def test_token_is_stable_and_keyed() -> None:
    a = patient_token("secret-1", "MRN0012345", "FAC01")
    assert a == patient_token("secret-1", " MRN0012345 ", "fac01")
    assert a != patient_token("secret-2", "MRN0012345", "FAC01")
    assert a != patient_token("secret-1", "MRN0012345", "FAC02")
    assert a.startswith("pt_") and "0012345" not in a and len(a) == 27


def test_empty_mrn_has_no_token() -> None:
    assert patient_token("s", "  ") == ""
