"""The shape-remembering FHIR validator agrees with fhir.resources' own model validation
on every resource, valid or not (thousands of mutated resources)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from collectors.fhir_validate import FhirValidationError, PageValidator
from tests.collectors import payloads as p

TEMPLATES = {
    "ChargeItem": p.CHARGE_ITEM, "Encounter": p.ENCOUNTER, "Claim": p.CLAIM,
    "ClaimResponse": p.CLAIM_RESPONSE,
    "SupplyDelivery": {k: v for k, v in p.SUPPLY_DELIVERY.items() if k != "supplier"},
}
VALIDATORS = {name: PageValidator(name) for name in TEMPLATES}

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["", " ", "2026-11-18", "2026-11-18T10:00:00Z", "2026-13-01T00:00:00Z",
                     "2026-11-18T10:00:00", "billable", "bill able", "IMP", "1.5", "-0",
                     "urn:x", "http://x/y", "a b", "ChargeItem/1", "x" * 300, "€", "\t"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=2)
                    | st.dictionaries(st.sampled_from(["value", "code", "system", "x", "url",
                                                        "reference", "valueString"]),
                                      inner, max_size=2), max_leaves=4)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutate(resource: dict[str, Any], path: tuple[Any, ...], how: str, new: Any) -> None:
    parent: Any = resource
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "replace":
        parent[last] = new
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[f"{last}Extra" if isinstance(last, str) else "extra"] = new
    elif how == "wrap":
        parent[last] = [parent[last]] if not isinstance(parent[last], list) else parent[last][0]


def full_verdict(name: str, resource: dict[str, Any]) -> bool:
    try:
        VALIDATORS[name].model.model_validate(copy.deepcopy(resource))
        return True
    except (ValidationError, ValueError, TypeError):
        return False


def fast_verdict(name: str, resource: dict[str, Any]) -> bool:
    try:
        VALIDATORS[name].validate(resource)
        return True
    except FhirValidationError:
        return False


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(TEMPLATES)),
       how=st.sampled_from(["replace", "replace", "replace", "delete", "add", "wrap"]),
       count=st.integers(1, 3), new=JSON)
def test_agrees_with_the_model_on_mutated_resources(data: Any, name: str, how: str,
                                                    count: int, new: Any) -> None:
    resource = p.resource(TEMPLATES[name], data.draw(st.integers(0, 10**6)))
    assert fast_verdict(name, copy.deepcopy(resource))  # the template itself is valid
    for _ in range(count):
        candidates = paths(resource)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        try:
            mutate(resource, path, how, copy.deepcopy(new))
        except (KeyError, IndexError, TypeError):
            continue
    assert fast_verdict(name, resource) == full_verdict(name, resource), resource


def test_a_known_shape_with_a_bad_value_gets_the_models_error() -> None:
    validator = PageValidator("ChargeItem")
    validator.validate(p.resource(p.CHARGE_ITEM, 1))
    bad = p.resource(p.CHARGE_ITEM, 2)
    bad["occurrenceDateTime"] = "yesterday"
    try:
        validator.validate(bad)
    except FhirValidationError as exc:
        assert "occurrenceDateTime" in str(exc) and "yesterday" not in str(exc)
    else:
        raise AssertionError("a bad dateTime passed")
    assert len(validator.shapes) == 1
