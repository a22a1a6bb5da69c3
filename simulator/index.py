"""A served collection: records sorted by (last updated, id), searched by bisection.

Each record is visible from ``visible`` (usually its last-updated time; later for an
out-of-order record) until ``hidden`` (the next version of a versioned record, e.g. a
requisition moving OPEN -> ORDERED). Only the few records whose visibility is not simply
"from last-updated on" are kept apart as *specials*, so counting and paging at any clock
time cost a bisection plus a walk over the specials in range, never a scan of the set.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.records import NEVER

# (last updated ms, id / key for ties, visible from ms, hidden from ms, record)
Entry = tuple[int, str, int, int, Any]


@dataclass(slots=True)
class Page:
    records: list[Any]
    total: int  # visible records matching the bounds
    last: tuple[int, str] | None  # key of the last record on the page (the cursor)
    more: bool  # visible matching records remain after this page


@dataclass(slots=True)
class Collection:
    """One FHIR resource type or OData entity set."""

    name: str
    render: Callable[[Any], dict[str, Any]]
    updated: list[int] = field(default_factory=list)
    keys: list[tuple[int, str]] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    visible: list[int] = field(default_factory=list)
    hidden: list[int] = field(default_factory=list)
    specials: list[int] = field(default_factory=list)  # positions, ascending

    @classmethod
    def build(cls, name: str, entries: Iterable[Entry],
              render: Callable[[Any], dict[str, Any]]) -> Collection:
        """Sort ``entries`` by (last updated, id) and index them."""
        col = cls(name, render)
        for pos, (updated, key, visible, hidden, record) in enumerate(
                sorted(entries, key=lambda e: (e[0], e[1]))):
            if visible < updated:
                raise ValueError(f"{name} {key}: visible before it was last updated")
            col.updated.append(updated)
            col.keys.append((updated, key))
            col.records.append(record)
            col.visible.append(visible)
            col.hidden.append(hidden)
            if visible != updated or hidden != NEVER:
                col.specials.append(pos)
        return col

    def __len__(self) -> int:
        return len(self.records)

    def _is_visible(self, pos: int, now: int) -> bool:
        return self.visible[pos] <= now < self.hidden[pos]

    def _range(self, lo: int, hi: int, now: int) -> tuple[int, int]:
        """Positions of records last updated in ``[lo, min(hi, now)]`` (inclusive ms)."""
        return bisect_left(self.updated, lo), bisect_right(self.updated, min(hi, now))

    def _count(self, a: int, b: int, now: int) -> int:
        if a >= b:
            return 0
        hidden = 0
        specials = self.specials
        for i in range(bisect_left(specials, a), bisect_left(specials, b)):
            if not self._is_visible(specials[i], now):
                hidden += 1
        return b - a - hidden

    def count(self, now: int, lo: int = 0, hi: int = NEVER) -> int:
        """How many records are visible at ``now`` with last-updated in ``[lo, hi]``."""
        return self._count(*self._range(lo, hi, now), now)

    def page(self, now: int, lo: int, hi: int, after: tuple[int, str] | None,
             size: int) -> Page:
        """Up to ``size`` visible records in ``[lo, hi]`` that sort after ``after``."""
        a, b = self._range(lo, hi, now)
        total = self._count(a, b, now)
        start = a if after is None else max(a, bisect_right(self.keys, after))
        out: list[Any] = []
        pos = start
        if self.specials:
            while pos < b and len(out) < size:
                if self._is_visible(pos, now):
                    out.append(self.records[pos])
                pos += 1
        else:
            pos = min(b, start + size)
            out = self.records[start:pos]
        last = self.keys[pos - 1] if out else None
        return Page(out, total, last, self._count(pos, b, now) > 0)

    def visible_records(self, now: int) -> list[Any]:
        """Every record visible at ``now`` (for the truth file and tests)."""
        a, b = self._range(0, NEVER, now)
        if not self.specials:
            return self.records[a:b]
        return [self.records[i] for i in range(a, b) if self._is_visible(i, now)]
