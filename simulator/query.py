"""Search parameters of the FHIR and OData endpoints, and the opaque paging cursor (pure).

Bounds are inclusive integer milliseconds, so ``gt``/``ge``/``lt``/``le`` are exact at
millisecond precision: ``gt x`` is ``>= x+1 ms``, finer fractions round the right way.
A bad parameter raises ``QueryError`` naming it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from simulator.records import NEVER
from simulator.timefmt import parse_iso_us

MAX_PAGE = 10_000
FHIR_DEFAULT_COUNT = 100
ODATA_DEFAULT_TOP = 1000


class QueryError(ValueError):
    """A query parameter the server cannot honour; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(slots=True, frozen=True)
class Search:
    """One search: last-updated bounds, page size, clock snapshot and keyset position."""

    lo: int = 0
    hi: int = NEVER
    size: int = FHIR_DEFAULT_COUNT
    now: int | None = None  # frozen by the first page so a walk sees one snapshot
    after: tuple[int, str] | None = None

    def cursor(self, after: tuple[int, str], now: int) -> str:
        """The opaque token of the page after ``after``."""
        raw = json.dumps([1, self.lo, self.hi, self.size, now, after[0], after[1]],
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_cursor(parameter: str, token: str) -> Search:
    """Decode a cursor made by ``Search.cursor``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        v, lo, hi, size, now, lu, key = json.loads(raw)
        if v != 1 or not all(isinstance(x, int) for x in (lo, hi, size, now, lu)):
            raise ValueError
        if not isinstance(key, str):
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise QueryError(parameter, "not a cursor this server issued; follow the page's "
                                    "next link as given") from None
    return Search(lo, hi, size, now, (lu, key))


def _apply_bound(lo: int, hi: int, op: str, us: int) -> tuple[int, int]:
    floor_ms, rest = divmod(us, 1000)
    ceil_ms = floor_ms + (1 if rest else 0)
    if op == "gt":
        return max(lo, floor_ms + 1), hi
    if op == "ge":
        return max(lo, ceil_ms), hi
    if op == "lt":
        return lo, min(hi, ceil_ms - 1)
    if op == "le":
        return lo, min(hi, floor_ms)
    if op == "eq":
        return max(lo, ceil_ms), min(hi, floor_ms)
    raise AssertionError(op)


def _size(parameter: str, value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise QueryError(parameter, f"{value!r} is not a whole number; send e.g. "
                                    f"{parameter}=500") from None
    if not 0 <= size <= MAX_PAGE:
        raise QueryError(parameter, f"{size} is out of range 0..{MAX_PAGE}")
    return size


_FHIR_KNOWN = {"_lastUpdated", "_count", "_sort", "_cursor", "_format"}


def parse_fhir(params: list[tuple[str, str]]) -> Search:
    """``_lastUpdated`` (gt/ge/lt/le/eq, repeatable), ``_count``, ``_sort``, ``_cursor``."""
    names = {name for name, _ in params}
    unknown = sorted(names - _FHIR_KNOWN)
    if unknown:
        raise QueryError(unknown[0], "unsupported search parameter; this server supports "
                                     "_lastUpdated, _count, _sort=_lastUpdated")
    for name, value in params:
        if name == "_format" and value not in ("json", "application/fhir+json",
                                               "application/json"):
            raise QueryError("_format", f"{value!r}: only JSON is served")
    if "_cursor" in names:
        if names - {"_cursor", "_format"}:
            raise QueryError("_cursor", "a next link already carries the search; send it "
                                        "as given, without other parameters")
        return parse_cursor("_cursor", dict(params)["_cursor"])
    lo, hi, size = 0, NEVER, FHIR_DEFAULT_COUNT
    for name, value in params:
        if name == "_lastUpdated":
            op, when = value[:2], value[2:]
            if op not in ("gt", "ge", "lt", "le", "eq"):
                raise QueryError("_lastUpdated", f"{value!r} needs a prefix gt, ge, lt or le, "
                                                 "e.g. _lastUpdated=gt2026-11-18T10:00:00.000Z")
            try:
                lo, hi = _apply_bound(lo, hi, op, parse_iso_us(when))
            except ValueError as exc:
                raise QueryError("_lastUpdated", str(exc)) from None
        elif name == "_count":
            size = _size("_count", value)
        elif name == "_sort" and value not in ("_lastUpdated", "lastUpdated"):
            raise QueryError("_sort", f"{value!r}: results are sorted by _lastUpdated (then id) "
                                      "only; send _sort=_lastUpdated or leave it out")
    return Search(lo, hi, size)


_ODATA_KNOWN = {"$filter", "$top", "$orderby", "$skiptoken", "$format"}
_CLAUSE = re.compile(r"^\s*(\w+)\s+(gt|ge|lt|le|eq)\s+'?([0-9][0-9T:.+\-Z]*)'?\s*$",
                     re.IGNORECASE)


def parse_odata(params: list[tuple[str, str]], keys: tuple[str, ...],
                modified: str = "ModifiedAt") -> Search:
    """``$filter=ModifiedAt gt ... and ...``, ``$top``, ``$orderby``, ``$skiptoken``."""
    names = {name for name, _ in params}
    unknown = sorted(names - _ODATA_KNOWN)
    if unknown:
        raise QueryError(unknown[0], "unsupported query option; this service supports "
                                     "$filter on ModifiedAt, $top, $orderby")
    if len(names) != len(params):
        raise QueryError(next(n for n in names if sum(p == n for p, _ in params) > 1),
                         "given more than once; join conditions with 'and'")
    given = dict(params)
    if "$format" in given and given["$format"] not in ("json", "application/json"):
        raise QueryError("$format", f"{given['$format']!r}: only JSON is served")
    if "$skiptoken" in given:
        if names - {"$skiptoken", "$format"}:
            raise QueryError("$skiptoken", "a nextLink already carries the query; send it "
                                           "as given, without other options")
        return parse_cursor("$skiptoken", given["$skiptoken"])
    lo, hi = 0, NEVER
    if "$filter" in given:
        for clause in re.split(r"\s+and\s+", given["$filter"].strip(), flags=re.IGNORECASE):
            match = _CLAUSE.match(clause)
            if not match or match.group(1) != modified:
                raise QueryError("$filter", f"cannot filter on {clause.strip()!r}; use "
                                            f"{modified} gt|ge|lt|le <time> joined by 'and', "
                                            f"e.g. {modified} gt 2026-11-18T10:00:00.000Z")
            try:
                lo, hi = _apply_bound(lo, hi, match.group(2).lower(),
                                      parse_iso_us(match.group(3)))
            except ValueError as exc:
                raise QueryError("$filter", str(exc)) from None
    if "$orderby" in given:
        terms = [t.strip() for t in given["$orderby"].split(",")]
        allowed = (modified, *keys)
        for i, term in enumerate(terms):
            name, _, direction = term.partition(" ")
            if direction.strip().lower() not in ("", "asc") or i >= len(allowed) \
                    or name != allowed[i]:
                raise QueryError("$orderby", f"{given['$orderby']!r}: rows are ordered by "
                                             f"{','.join(allowed)} ascending only")
    size = _size("$top", given["$top"]) if "$top" in given else ODATA_DEFAULT_TOP
    return Search(lo, hi, size)
