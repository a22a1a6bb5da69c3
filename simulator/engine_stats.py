"""The interface engine's per-channel statistics, as of any clock time.

Counters are cumulative since the estate start: ``received`` every inbound message
(malformed ones and the filtered scans of non-chargeable items included), ``filtered``
the scans the engine's filter dropped (they are not in the log), ``sent`` messages
acknowledged AA, ``errored`` NACKed (AE/AR) and malformed messages, ``queued`` received
and not yet acknowledged. So received = filtered + queued + sent + errored.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from simulator.estate_record import Estate
from simulator.records import Message
from simulator.timefmt import iso


@dataclass(slots=True)
class ChannelTimeline:
    channel_id: str
    facility_id: str
    name: str
    received: list[int] = field(default_factory=list)  # good inbound messages
    acks: list[int] = field(default_factory=list)  # every ACK time
    sent: list[int] = field(default_factory=list)  # AA ACK times
    errored: list[int] = field(default_factory=list)  # AE/AR ACK and malformed times
    filtered: list[int] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)  # malformed messages' receipt times
    pending: list[tuple[int, int]] = field(default_factory=list)  # (received, ack) by received
    max_delay: int = 0
    state: str = "STARTED"  # as Mirth names it; the estate never stops a channel itself

    def add_messages(self, messages: list[Message]) -> None:
        for m in messages:
            ack = m.ack_ms if m.ack_ms is not None else 2**62
            self.received.append(m.received_ms)
            self.pending.append((m.received_ms, ack))
            self.acks.append(ack)
            (self.sent if m.ack_code == "AA" else self.errored).append(ack)
            self.max_delay = max(self.max_delay, ack - m.received_ms)

    def finish(self) -> None:
        for values in (self.received, self.acks, self.sent, self.errored, self.filtered,
                       self.bad):
            values.sort()
        self.pending.sort()

    def snapshot(self, now: int) -> dict[str, Any]:
        received = bisect_right(self.received, now)
        filtered = bisect_right(self.filtered, now)
        errored = bisect_right(self.errored, now)
        queued = received - bisect_right(self.acks, now)
        oldest = None
        i = bisect_right(self.pending, (now, 2**63)) - 1
        while i >= 0 and self.pending[i][0] >= now - self.max_delay:
            if self.pending[i][1] > now:
                oldest = self.pending[i][0]
            i -= 1
        return {
            "channelId": self.channel_id, "facilityId": self.facility_id, "name": self.name,
            "state": self.state,
            "statistics": {"received": received + filtered + self._malformed(now),
                           "filtered": filtered, "queued": queued,
                           "sent": bisect_right(self.sent, now), "errored": errored},
            "oldestQueuedAt": iso(oldest) if oldest is not None else None,
        }

    def _malformed(self, now: int) -> int:
        return bisect_right(self.bad, now)


def build_timelines(estate: Estate) -> list[ChannelTimeline]:
    """One timeline per channel: DFT^P03 to billing and ADT in, per facility."""
    out = []
    for fac in estate.facilities:
        f = fac.facility
        fid = f.facility_id
        chg = ChannelTimeline(f"{fid}_CHG_OUT", fid, f"{f.name}: charges to billing (DFT^P03)")
        adt = ChannelTimeline(f"{fid}_ADT_IN", fid, f"{f.name}: registration (ADT^A04/A08)")
        chg.add_messages(fac.messages)
        chg.filtered = list(fac.filtered_ms)
        adt.add_messages(fac.adt)
        for bad, _after in fac.malformed:
            target = chg if bad.channel == chg.channel_id else adt
            target.bad.append(bad.received_ms)
            target.errored.append(bad.received_ms)
        for timeline in (chg, adt):
            timeline.finish()
            out.append(timeline)
    return out


def channels_payload(timelines: list[ChannelTimeline], now: int) -> dict[str, Any]:
    """The ``GET /engine/api/channels`` answer as of ``now``."""
    return {"generatedAt": iso(now), "channels": [t.snapshot(now) for t in timelines]}
