"""A circuit breaker per source: after consecutive failed passes, skip the source for a
growing pause so a broken system is not hammered (and its failure stays visible as
``error`` runs, never as "no data")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

OPEN_AFTER_FAILURES = 3
BASE_PAUSE_SECONDS = 30.0
MAX_PAUSE_SECONDS = 900.0


@dataclass
class Circuit:
    failures: int = 0
    open_until: float = 0.0
    clock: object = field(default=time.monotonic)

    def allows(self) -> bool:
        """False while the circuit is open (the source is backing off)."""
        return self.clock() >= self.open_until  # type: ignore[operator]

    def record(self, ok: bool) -> None:
        if ok:
            self.failures = 0
            self.open_until = 0.0
            return
        self.failures += 1
        if self.failures >= OPEN_AFTER_FAILURES:
            pause = min(MAX_PAUSE_SECONDS,
                        BASE_PAUSE_SECONDS * 2 ** (self.failures - OPEN_AFTER_FAILURES))
            self.open_until = self.clock() + pause  # type: ignore[operator]

    def seconds_left(self) -> float:
        return max(0.0, self.open_until - self.clock())  # type: ignore[operator]


_CIRCUITS: dict[str, Circuit] = {}


def circuit_for(source: str) -> Circuit:
    """The process-wide circuit of one source."""
    return _CIRCUITS.setdefault(source, Circuit())


def reset_circuits() -> None:
    """Close every circuit (a fresh process; used by tests)."""
    _CIRCUITS.clear()
