"""Faults on the HTTP side: which requests fail on their first attempt, and how.

Whether a request faults is a pure function of (seed, method, path, query): a hash mapped
onto the cumulative fault rates, so a run is reproducible. Only the first attempt of a
URL faults; the server counts attempts per URL, so a retry succeeds.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.config import FaultRates

FAULTABLE_PREFIXES = ("/billing/fhir/", "/ehr/fhir/", "/erp/odata/", "/engine/api/")
_KINDS = ("http_5xx", "http_429", "timeout", "truncated_json")


@dataclass(slots=True, frozen=True)
class HttpFault:
    kind: str  # http_5xx | http_429 | timeout | truncated_json
    status: int  # the status answered (504 after a timeout, 200 for a truncated page)
    retry_after: int = 0  # seconds, for 429


def _unit(seed: int, *parts: str) -> float:
    digest = hashlib.blake2b("\n".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def decide(seed: int, rates: FaultRates, method: str, path: str, query: str
           ) -> HttpFault | None:
    """The fault a first attempt of this request gets, or None (pure)."""
    if not path.startswith(FAULTABLE_PREFIXES):
        return None
    r = _unit(seed, method, path, query)
    acc = 0.0
    for kind in _KINDS:
        acc += getattr(rates, kind)
        if r < acc:
            pick = _unit(seed, "detail", method, path, query)
            if kind == "http_5xx":
                return HttpFault(kind, (500, 502, 503)[int(pick * 3)])
            if kind == "http_429":
                return HttpFault(kind, 429, 1 + int(pick * 2))
            if kind == "timeout":
                return HttpFault(kind, 504)
            return HttpFault(kind, 200)
    return None


@dataclass
class FaultInjector:
    """Counts attempts per URL and records every fault it serves."""

    seed: int
    rates: FaultRates
    served: list[dict[str, Any]] = field(default_factory=list)
    attempts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, method: str, path: str, query: str) -> HttpFault | None:
        """Count this attempt; the fault to serve when it is a faulting first attempt."""
        key = (method, path, query)
        with self.lock:
            self.attempts[key] += 1
            if self.attempts[key] > 1:
                return None
        fault = decide(self.seed, self.rates, method, path, query)
        if fault is not None:
            with self.lock:
                self.served.append({"kind": fault.kind, "method": method, "path": path,
                                    "query": query, "status": fault.status})
        return fault
