"""Rhapsody Integration Engine REST monitoring answers into canonical records (pure).

From the Rhapsody 6.x REST API documentation ("Components Monitoring"); every answer is
``{"data": ..., "error": null}`` (``Accept: application/json``):

- ``GET /api/components/status``: the locker/folder tree (``childFolders``) with its
  components (``childComponents``): id, uuid, name, state, type (COMMUNICATION_POINT,
  ROUTE), and for communication points inboundQueueSize, outboundQueueSize,
  failedQueueSize.
- ``GET /api/commpoint/<id>``: one communication point: folderPath, mode (INPUT, OUTPUT,
  IN_OUT), state (RUNNING, STOPPED, RETRYING, ERROR ...), inQueueSize, outQueueSize,
  failedQueueSize, receivedCount, sentCount, failedCount (null where the mode has none).

A communication point is a channel: received and sent are its counts, errored its failed
count, queued its input plus output queue. Rhapsody reports no filtered count (routes
filter), so filtered is 0. The top folder (the locker) names the facility.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors import jsonio
from collectors.base import Reject
from collectors.rejects import unexpected_reason
from core.errors import RecordError
from core.model import ChannelStats, build_record
from store.bounds import check_record

COMM_POINT = "COMMUNICATION_POINT"
RUNNING = "RUNNING"
RETRYING = "RETRYING"


@dataclass(frozen=True, slots=True)
class Component:
    """A communication point or route of ``/api/components/status``."""

    id: str
    name: str
    type: str
    state: str
    folders: tuple[str, ...]  # locker first
    queued: int = 0
    failed_queue: int = 0

    @property
    def locker(self) -> str:
        return self.folders[0] if self.folders else ""

    @property
    def path(self) -> str:
        return "/".join((*self.folders, self.name))

    @property
    def waiting(self) -> bool:
        """Messages wait in its input or output queue, or it retries its connection."""
        return self.queued > 0 or self.state.upper() == RETRYING


@dataclass(frozen=True, slots=True)
class CommPointCounts:
    """The counters of ``/api/commpoint/<id>``."""

    received: int
    sent: int
    failed: int
    queued: int
    failed_queue: int


def _data(doc: Any, where: str) -> Any:
    if not isinstance(doc, dict) or "data" not in doc:
        raise RecordError(f"{where}: not a Rhapsody answer ({{\"data\": ..., \"error\": ...}})")
    if doc.get("error"):
        error = doc["error"]
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        raise RecordError(f"{where}: the engine answered an error: {str(message)[:200]}")
    return doc["data"]


def _count(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordError(f"{key} is not a count")
    return value


def parse_components(doc: Any, where: str) -> list[Component]:
    """Every component of the tree, with the folders above it (the locker first)."""
    root = _data(doc, where)
    if not isinstance(root, dict):
        raise RecordError(f"{where}: data is not the root folder")
    out: list[Component] = []
    stack: list[tuple[dict[str, Any], tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, path = stack.pop()
        for item in folder.get("childComponents") or []:
            if isinstance(item, dict):
                out.append(Component(
                    str(item.get("id", "")), str(item.get("name", "")),
                    str(item.get("type", "")), str(item.get("state", "")), path,
                    _count(item, "inboundQueueSize") + _count(item, "outboundQueueSize"),
                    _count(item, "failedQueueSize")))
        for child in reversed(folder.get("childFolders") or []):
            if isinstance(child, dict) and len(path) < jsonio.RECORD_DEPTH:
                stack.append((child, (*path, str(child.get("name", "")))))
    return out


def parse_commpoint(doc: Any, where: str) -> CommPointCounts:
    """One communication point's counters."""
    data = _data(doc, where)
    if not isinstance(data, dict):
        raise RecordError(f"{where}: data is not a communication point")
    return CommPointCounts(_count(data, "receivedCount"), _count(data, "sentCount"),
                           _count(data, "failedCount"),
                           _count(data, "inQueueSize") + _count(data, "outQueueSize"),
                           _count(data, "failedQueueSize"))


def channel_stats(points: list[tuple[Component, CommPointCounts]], observed_at: datetime,
                  facility_of: Callable[[str], str], where: str
                  ) -> tuple[list[ChannelStats], list[Reject]]:
    """One ChannelStats per communication point, named by its name (by its folder path
    where two of a facility share a name), its facility from its locker; its state that of
    the status tree (RUNNING started, STOPPED stopped ...), the point its one connector
    (``waiting_connectors`` 1 while messages wait in its queues or it retries)."""
    names = Counter((facility_of(c.locker), c.name) for c, _ in points)
    records, rejects = [], []
    for component, counts in points:
        at = f"{where}#commpoint{component.id}"
        facility = facility_of(component.locker)
        channel = component.name if names[(facility, component.name)] == 1 else component.path
        values = {"channel": channel, "facility_id": facility, "observed_at": observed_at,
                  "received": counts.received, "filtered": 0, "queued": counts.queued,
                  "sent": counts.sent, "errored": counts.failed, "state": component.state,
                  "waiting_connectors": int(component.waiting or counts.queued > 0)}
        try:
            records.append(check_record(build_record(ChannelStats, values, where=at), at))
        except RecordError as exc:
            rejects.append(Reject(at, exc.reason, jsonio.dumps_payload(
                {"id": component.id, "name": component.name}), "channel_stats"))
        except Exception as exc:  # one point, never the snapshot (collectors.rejects)
            rejects.append(Reject(at, unexpected_reason(exc, at), jsonio.dumps_payload(
                {"id": component.id}), "channel_stats"))
    return records, rejects


def state_notes(components: list[Component]) -> list[str]:
    """One line per component not RUNNING and per point with messages waiting."""
    notes = [f"{c.path}: {c.state or 'no state'}" for c in components
             if c.state.upper() not in (RUNNING, "NONE")]
    notes.extend(f"{c.path}: {c.queued} queued, {c.failed_queue} failed" for c in components
                 if c.type == COMM_POINT and (c.queued or c.failed_queue))
    return notes
