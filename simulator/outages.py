"""Billing outages: the destination of a facility's charge channel goes down for a while.

While billing is down the engine keeps receiving DFT^P03 messages and queues them; when
billing comes back the queue drains (about 60x faster than it filled) and every queued
message is acknowledged then. So the channel's queue depth and oldest-queued age grow for
the length of the outage, and its charges post later by as much.

An outage lasts 30 to 60 minutes and ends at least six hours before the truth's as-of time
(the window end, or the live horizon in live mode). That bound keeps the truth file exact:
a charge delayed by an outage still posts inside the tightest charge SLA (implants, 120
minutes: at most ~32 minutes of normal delay, 60 of outage and a NACK's re-send on top),
so an outage adds no late charge the truth does not list, and by the as-of time every
queued message has been sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.timefmt import DAY, HOUR, MINUTE

OUTAGE_MINUTES = (30, 60)
END_MARGIN_MS = 6 * HOUR
DRAIN_SPEEDUP = 60  # the queue drains this many times faster than it filled
FIRST_ACK_MS = 150  # the first queued message's ACK, after billing is back


@dataclass(frozen=True, slots=True)
class Outage:
    """Billing unreachable from ``start_ms`` (inclusive) to ``end_ms`` (exclusive)."""

    channel: str
    start_ms: int
    end_ms: int

    def holds(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms

    def ack_after(self, received_ms: int) -> int:
        """When a message received during the outage is acknowledged: in order of
        receipt, once billing is back."""
        return self.end_ms + FIRST_ACK_MS + (received_ms - self.start_ms) // DRAIN_SPEEDUP


def draw_outages(rng: random.Random, channel: str, start_ms: int, end_ms: int,
                 rate: float) -> list[Outage]:
    """Each UTC day of the window has an outage with chance ``rate``, at a random time;
    one that would come within an hour of the previous or end too close to the window
    end is dropped. Every day makes the same three draws whatever falls out, so no day's
    outage shifts the next day's."""
    out: list[Outage] = []
    if rate <= 0:
        return out
    for day in range(start_ms - start_ms % DAY, end_ms, DAY):
        hit = rng.random() < rate
        begin = day + rng.randrange(DAY // MINUTE) * MINUTE
        length = rng.randint(*OUTAGE_MINUTES) * MINUTE
        if not hit or begin < start_ms or begin + length > end_ms - END_MARGIN_MS:
            continue
        if out and begin < out[-1].end_ms + HOUR:
            continue
        out.append(Outage(channel, begin, begin + length))
    return out


def outage_at(outages: list[Outage], t_ms: int) -> Outage | None:
    """The outage holding at ``t_ms``, if any (a handful per facility: a scan is fine)."""
    for o in outages:
        if o.holds(t_ms):
            return o
    return None
