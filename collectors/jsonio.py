"""Reading JSON at orjson's speed with exactly the standard library's result.

orjson parses a page several times faster than ``json``, but not always to the same
values: an integer literal outside 64 bits becomes a float (``json`` keeps every digit),
and it refuses what ``json`` accepts (``NaN``, lone surrogates, a UTF-8 BOM). So orjson
reads a document only when no run of 19 digits appears anywhere in it (found in one C
pass over the bytes, far cheaper than parsing), and ``json`` reads whatever orjson
refuses, with its own errors. Floats and strings parse identically in both.

Hostile input has bounds: a document over ``MAX_BYTES`` is not parsed, one nested deeper
than ``MAX_DEPTH`` is refused (``json`` would raise ``RecursionError`` past ~1,000
levels, and every recursive walk after it — validation, dumps — fails earlier still),
each as a ``JsonBoundError``, a ``ValueError`` whose ``reason`` says which bound and what
to do. Converters bound each record tighter (``RECORD_DEPTH``) so one deep resource is
its own reject, not its page's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from typing import Any

import orjson

MAX_BYTES = 64 << 20  # one document (a page, a file); bulk data comes as NDJSON lines
MAX_DEPTH = 256  # nesting of a whole document; R4 resources nest about 10-20 deep
RECORD_DEPTH = 64  # nesting of one resource or row, inside its page

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19  # int64 has 19 digits; orjson turns some of those into floats


class JsonBoundError(ValueError):
    """A JSON document beyond a bound of this module; ``reason`` for the quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(raw: bytes | str) -> Any:
    """Parse JSON as ``json.loads`` would (raising ``ValueError`` when it is not JSON,
    ``JsonBoundError`` when it is too big or too deep)."""
    return loads_nested(raw)[0]


def loads_nested(raw: bytes | str) -> tuple[Any, int]:
    """``loads`` and how deep the document nests at most (``nesting``, or the bound
    ``RECORD_DEPTH + 2`` that ``within`` proved): a caller that bounds its parts tighter
    (``RECORD_DEPTH``) need not walk them again when the whole is shallow."""
    if len(raw) > MAX_BYTES:
        raise JsonBoundError(f"JSON document of {len(raw):,} bytes, over the {MAX_BYTES:,} "
                             "bytes read at once — split it into pages or NDJSON")
    value: Any = _NOT_PARSED
    if isinstance(raw, bytes) and raw.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) < 0:
        # on failure json.loads decides, with its own reading and its own error
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(raw)
    if value is _NOT_PARSED:
        try:
            value = json.loads(raw)
        except RecursionError:
            raise _too_deep(MAX_DEPTH) from None
    if within(value, RECORD_DEPTH + 2):  # a page of records at most RECORD_DEPTH deep
        return value, RECORD_DEPTH + 2
    depth = nesting(value, MAX_DEPTH)
    if depth > MAX_DEPTH:
        raise _too_deep(MAX_DEPTH)
    return value, depth


_NOT_PARSED = object()


def _too_deep(limit: int) -> JsonBoundError:
    return JsonBoundError(f"JSON nested deeper than {limit} levels — not a FHIR or OData "
                          "payload (a hostile or broken document)")


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests objects and arrays more than ``limit`` deep."""
    if type(value) not in _CONTAINERS:
        return False
    return not within(value, limit) and nesting(value, limit) > limit


def _orjson_depth() -> int:
    """How many levels of arrays and objects ``orjson.dumps`` writes (254 in orjson 3:
    one more and it raises "Recursion limit reached"), measured once; 0 when that is not
    plain (then ``within`` proves nothing and ``nesting`` decides)."""
    def writes(levels: int) -> bool:
        inner: Any = []
        for level in range(levels - 1):
            inner = [inner] if level % 2 else {"k": inner}
        try:
            orjson.dumps(inner)
        except orjson.JSONEncodeError:
            return False
        return True

    low, high = 1, 4096  # writes(low); the first depth refused is at most high
    if not writes(low) or writes(high):
        return 0
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if writes(middle) else (low, middle)
    return low


_ORJSON_DEPTH = _orjson_depth()
_PADDING = threading.local()  # a thread's chain of nested lists (see within)


def within(value: Any, limit: int) -> bool:
    """A quick proof that ``value`` (parsed JSON) nests at most ``limit`` deep: at the
    bottom of ``_ORJSON_DEPTH - limit`` nested lists, orjson writes it (in C, about
    four times faster than ``nesting`` walks it) only when it is that shallow. False
    means not proven: deeper, or something orjson does not write (an integer beyond 64
    bits, a lone surrogate), and ``nesting`` says."""
    pad = _ORJSON_DEPTH - limit
    if pad < 1 or limit < 1:
        return False
    chain = getattr(_PADDING, "chain", None)
    if chain is None:  # chain[i] == [chain[i + 1]]
        chain = [[] for _ in range(_ORJSON_DEPTH)]
        for outer, inner in itertools.pairwise(chain):
            outer.append(inner)
        _PADDING.chain = chain
    bottom = chain[pad - 1]  # the pad-th list from the top: value in place of the rest
    bottom[0] = value
    try:
        orjson.dumps(chain[0])
    except orjson.JSONEncodeError:
        return False
    finally:
        bottom[0] = chain[pad]
    return True


_CONTAINERS = frozenset((dict, list))


def nesting(value: Any, limit: int) -> int:
    """How deep ``value`` (parsed JSON) nests objects and arrays (a scalar 0, ``{}`` 1),
    counted up to ``limit + 1``: walked level by level without recursion (the point is to
    refuse what recursion cannot handle), one list of a level's objects and arrays at a
    time."""
    containers = _CONTAINERS
    level = [value] if type(value) in containers else []
    depth = 0
    while level and depth <= limit:
        depth += 1
        below: list[Any] = []
        add = below.append
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) in containers:
                    add(child)
        level = below
    return depth


def dumps_payload(value: Any) -> bytes:
    """A parsed value as JSON bytes for a quarantine row: exactly what was read, lone
    surrogates included (kept as their escapes), never an exception."""
    try:
        return json.dumps(value, sort_keys=True, default=str).encode("ascii")
    except (RecursionError, ValueError, TypeError):
        return repr(type(value)).encode()  # unreachable for parsed JSON within MAX_DEPTH


def markup_kind(raw: bytes, content_type: str = "") -> str:
    """What an answer that is not JSON is when it is markup: ``"HTML"`` (a proxy, sign-in
    or maintenance page), ``"XML"`` (an OData or SOAP fault), else ``""`` (JSON cut off
    or invalid). By its Content-Type, else its first bytes: error pages often come as
    text/plain or with no type at all."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return "HTML"
    if kind in ("application/xml", "text/xml") or kind.endswith("+xml"):
        return "XML"
    start = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "HTML"
    return "XML" if start.startswith(b"<") else ""
