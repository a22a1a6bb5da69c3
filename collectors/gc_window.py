"""Fewer garbage collections while a pass converts pages.

A page of 500 FHIR resources allocates hundreds of thousands of dicts, lists and models,
nearly all freed by reference counting the moment the page is written. CPython still
counts each container allocation toward a generation-0 collection (every 700 by
default), and each collection walks the young objects and, now and then, everything
older: measured on the collectors, about a third of the JSON parsing time and a sixth of
a whole pass went to collections that found almost nothing. During a pass the threshold
is raised so they run about seventy times less often; cyclic garbage is still collected,
just in larger batches. The setting is process-wide, so overlapping passes (scheduler
threads) share one window and the last to finish restores the previous thresholds.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PASS_GEN0_THRESHOLD = 50_000
_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections(gen0: int = PASS_GEN0_THRESHOLD) -> Iterator[None]:
    """Raise the generation-0 threshold to ``gen0`` for the duration (nestable)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            # 0 means automatic collection is off: leave a caller's choice alone
            if 0 < _saved[0] < gen0:
                gc.set_threshold(gen0, _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
