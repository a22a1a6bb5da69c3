"""``collectors.jsonio.loads`` reads every document exactly as ``json.loads`` does: the
same values and types (big integers stay integers), the same refusals."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import jsonio

LEAVES = (st.none() | st.booleans() | st.text()
          | st.integers(min_value=-(10**30), max_value=10**30)
          | st.floats(allow_nan=True, allow_infinity=True))
DOCUMENTS = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=5)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                         max_leaves=30)


def _outcome(parse: Any, raw: bytes) -> tuple[str, Any]:
    try:
        value = parse(raw)
    except ValueError:
        return ("error", None)
    # floats compared by repr: nan != nan, and 1 == 1.0 would hide a type change
    return ("ok", json.dumps(value, sort_keys=True, default=repr) + repr(_types(value)))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@settings(max_examples=1500, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_values_and_types_match_the_standard_library(document: Any, ascii_only: bool) -> None:
    raw = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert _outcome(jsonio.loads, raw) == _outcome(json.loads, raw)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_arbitrary_bytes_parse_or_fail_alike(raw: bytes) -> None:
    assert _outcome(jsonio.loads, raw) == _outcome(json.loads, raw)


def test_the_cases_orjson_reads_differently() -> None:
    for raw in (b"[12345678901234567890123]", b"-9945516050164619172", b"NaN",
                b'"\\ud800"', b"\xef\xbb\xbf{}", b"1e400", b'{"a": 18446744073709551615}'):
        assert _outcome(jsonio.loads, raw) == _outcome(json.loads, raw), raw
    assert jsonio.loads(b"[12345678901234567890123]") == [12345678901234567890123]
