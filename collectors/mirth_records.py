"""NextGen Connect (Mirth) REST answers into canonical records (pure).

The API answers XML (XStream) by default and JSON on ``Accept: application/json``; its
JSON is that XML converted by Staxon (``JsonXmlUtil.xmlToJson``: auto-array, so ONE
child is an object and several a list; auto-primitive, so numbers are numbers). XML is
read here into the same shape, so both go through one reader:

- ``GET /api/channels/statistics`` -> ``<list><channelStatistics>`` (serverId, channelId,
  received, sent, error, filtered, queued: ``com.mirth.connect.model.ChannelStatistics``)
- ``GET /api/channels/statuses`` -> ``<list><dashboardStatus>`` (channelId, name, state
  (``DeployedState``: STARTED, PAUSED, STOPPED ...), queued, statistics, childStatuses:
  the source and destination connectors, each with metaDataId, state, queueEnabled,
  queued: ``com.mirth.connect.model.DashboardStatus``)
- ``GET /api/channels/idsAndNames`` -> ``<map><entry><string>id</string><string>name``
- ``GET /api/channelgroups`` -> ``<list><channelGroup>`` (id, name, channels/channel/id:
  ``com.mirth.connect.model.ChannelGroup``)
- ``POST /api/users/_login`` -> ``<com.mirth.connect.model.LoginStatus>`` (status, message)
- ``GET /api/channels/{id}/messages?status=ERROR&includeContent=true`` -> ``<list><message>``
  (messageId, receivedDate, connectorMessages: a map of metaDataId -> ``connectorMessage``
  with connectorName, status and ``raw`` content (``MessageContent``: encrypted,
  contentType, content, dataType) — ``com.mirth.connect.donkey.model.message.Message``,
  ``ConnectorMessage``; newest message first, only the connectors the filter matched)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors import jsonio
from collectors.base import Reject
from collectors.hl7_parse import Block
from collectors.hl7_records import Hl7Converter
from collectors.rejects import unexpected_reason
from core.errors import RecordError
from core.model import ChannelStats, MessageStatus, build_record
from store.bounds import check_record

MAX_XML_BYTES = 64 * 1024 * 1024  # as a JSON page (collectors.jsonio)
STARTED = "STARTED"
ERROR_WIDTH = 200


@dataclass(frozen=True, slots=True)
class ChannelCounters:
    """One ``channelStatistics``: a channel's counters since their last reset."""

    channel_id: str
    received: int
    filtered: int
    sent: int
    errored: int
    queued: int


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """A channel's source (metaDataId 0) or destination connector on the dashboard."""

    meta_data_id: int
    name: str
    state: str
    queue_enabled: bool
    queued: int

    @property
    def waiting(self) -> bool:
        """Messages wait in its queue (a receiver down or slow: Mirth's 'Queued')."""
        return self.queued > 0


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One ``dashboardStatus`` of type CHANNEL: its name, state and connectors."""

    channel_id: str
    name: str
    state: str
    queued: int
    connectors: tuple[ConnectorStatus, ...] = ()

    @property
    def started(self) -> bool:
        return self.state.upper() == STARTED

    @property
    def waiting_connectors(self) -> int:
        """Its connectors with messages waiting in their queues."""
        return sum(1 for k in self.connectors if k.waiting)


# --- the document reader ---------------------------------------------------------------

def read_document(content: bytes, where: str) -> Any:
    """An API answer, XML or JSON, as Staxon's JSON shape (``RecordError`` when it is
    neither, too big, too deep, or XML with a DTD)."""
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return _read_xml(content, where)
    try:
        return jsonio.loads(content)
    except jsonio.JsonBoundError as exc:
        raise RecordError(f"{where}: {exc.reason}") from None
    except ValueError:
        raise RecordError(f"{where}: the answer is neither XML nor JSON") from None


def _read_xml(content: bytes, where: str) -> Any:
    if len(content) > MAX_XML_BYTES:
        raise RecordError(f"{where}: XML answer larger than {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        # XStream never writes one; a DTD is how entity expansion attacks start
        raise RecordError(f"{where}: XML answer with a DTD refused")
    try:
        root = ET.fromstring(content)  # noqa: S314 - no DTD (above), so no entities
    except ET.ParseError as exc:
        raise RecordError(f"{where}: the XML answer does not parse ({exc})") from None
    depth = _depth(root)
    if depth > jsonio.MAX_DEPTH:
        raise RecordError(f"{where}: XML nested deeper than {jsonio.MAX_DEPTH} levels")
    return {root.tag: _element(root)}


def _depth(root: ET.Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level <= jsonio.MAX_DEPTH:
            stack.extend((child, level + 1) for child in node)
    return deepest


def _element(node: ET.Element) -> Any:
    """An element as Staxon writes it: text alone, or an object of ``@attributes`` and
    children (several of one name as a list), text beside them under ``$``."""
    children = list(node)
    if not children and not node.attrib:
        return node.text or ""
    out: dict[str, Any] = {f"@{k}": v for k, v in node.attrib.items()}
    for child in children:
        value = _element(child)
        if child.tag in out:
            previous = out[child.tag]
            if isinstance(previous, list):
                previous.append(value)
            else:
                out[child.tag] = [previous, value]
        else:
            out[child.tag] = value
    if node.text and node.text.strip():
        out["$"] = node.text
    return out


# --- shape helpers ---------------------------------------------------------------------

def _items(value: Any) -> list[Any]:
    """A Staxon child that may be absent, one object or a list, as a list."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _list_of(doc: Any, element: str, where: str) -> list[Any]:
    """The ``element`` children of a ``<list>`` answer (or the one element itself)."""
    if not isinstance(doc, dict) or len(doc) != 1:
        raise RecordError(f"{where}: expected one root element, <list> of <{element}>")
    (root, body), = doc.items()
    if root == element:
        return [body]
    if root not in ("list", "linked-list", "set"):
        raise RecordError(f"{where}: root element <{root}>, expected <list> of <{element}>")
    if body in (None, ""):
        return []
    if not isinstance(body, dict):
        raise RecordError(f"{where}: <{root}> holds {type(body).__name__}, not elements")
    return _items(body.get(element))


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("$", "")
    return "" if value is None else str(value)


def _count(row: dict[str, Any], key: str) -> int:
    value = row.get(key, 0)
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RecordError(f"{key} is {type(value).__name__}, not a count")
    try:
        return int(value)
    except ValueError:
        raise RecordError(f"{key} is not an integer") from None


def _flag(value: Any) -> bool:
    return value is True or _text(value).lower() == "true"


# --- the answers -----------------------------------------------------------------------

def parse_statistics(doc: Any, where: str) -> tuple[list[ChannelCounters], list[Reject]]:
    """``GET /channels/statistics``: each channel's counters; a bad row is a Reject."""
    counters, rejects = [], []
    for index, row in enumerate(_list_of(doc, "channelStatistics", where)):
        at = f"{where}#channel{index}"
        try:
            if not isinstance(row, dict):
                raise RecordError("channelStatistics is not an element with children")
            channel_id = _text(row.get("channelId"))
            if not channel_id:
                raise RecordError("channelStatistics without a channelId")
            counters.append(ChannelCounters(
                channel_id, _count(row, "received"), _count(row, "filtered"),
                _count(row, "sent"), _count(row, "error"), _count(row, "queued")))
        except RecordError as exc:
            rejects.append(Reject(at, exc.reason, jsonio.dumps_payload(row),
                                  "channel_stats"))
    return counters, rejects


def parse_statuses(doc: Any, where: str) -> dict[str, ChannelStatus]:
    """``GET /channels/statuses``: each channel's state and its connectors' queues."""
    out = {}
    for row in _list_of(doc, "dashboardStatus", where):
        if not isinstance(row, dict) or not _text(row.get("channelId")):
            continue  # a status without its channel says nothing we can use
        children = row.get("childStatuses")
        connectors = tuple(
            ConnectorStatus(_count(child, "metaDataId"), _text(child.get("name")),
                            _text(child.get("state")), _flag(child.get("queueEnabled")),
                            _count(child, "queued"))
            for child in _items(children.get("dashboardStatus") if isinstance(children, dict)
                                else None)
            if isinstance(child, dict))
        status = ChannelStatus(_text(row["channelId"]), _text(row.get("name")),
                               _text(row.get("state")), _count(row, "queued"), connectors)
        out[status.channel_id] = status
    return out


def parse_channel_names(doc: Any, where: str) -> dict[str, str]:
    """``GET /channels/idsAndNames``: channel id -> name."""
    if not isinstance(doc, dict) or "map" not in doc:
        raise RecordError(f"{where}: expected a <map> of channel ids to names")
    body = doc["map"]
    names = {}
    for entry in _items(body.get("entry") if isinstance(body, dict) else None):
        pair = _items(entry.get("string")) if isinstance(entry, dict) else []
        if len(pair) == 2:
            names[_text(pair[0])] = _text(pair[1])
    return names


def parse_channel_groups(doc: Any, where: str) -> dict[str, str]:
    """``GET /channelgroups``: channel id -> its group's name."""
    groups = {}
    for group in _list_of(doc, "channelGroup", where):
        if not isinstance(group, dict):
            continue
        name = _text(group.get("name"))
        channels = group.get("channels")
        for channel in _items(channels.get("channel") if isinstance(channels, dict) else None):
            channel_id = _text(channel.get("id")) if isinstance(channel, dict) else ""
            if channel_id:
                groups[channel_id] = name
    return groups


def parse_login(doc: Any) -> tuple[str, str]:
    """``POST /users/_login``: (status, message); SUCCESS or SUCCESS_GRACE_PERIOD is in."""
    if isinstance(doc, dict) and len(doc) == 1:
        body = next(iter(doc.values()))
        if isinstance(body, dict):
            return _text(body.get("status")), _text(body.get("message"))
    return "", ""


@dataclass(frozen=True, slots=True)
class ErroredMessage:
    """One message of the message API with a connector in ERROR: its id, the connector
    that failed and the HL7 that connector held (``""`` when the answer has none)."""

    message_id: int
    connector: str
    content: str
    encrypted: bool = False
    errored: bool = True  # False: no connector of it in ERROR in the answer (skipped)


CONTENT_ORDER = ("raw", "encoded", "sent", "processedRaw")  # what a connector held, in turn


def parse_messages(doc: Any, where: str) -> list[ErroredMessage]:
    """``GET /channels/{id}/messages?status=ERROR&includeContent=true``: each message's id,
    its (first) connector in ERROR and that connector's content; a message without an
    id is left out, one without a connector in ERROR kept as ``errored=False`` (it counts
    towards the page, but there is nothing to store)."""
    out = []
    for message in _list_of(doc, "message", where):
        if not isinstance(message, dict):
            continue
        try:
            message_id = _count(message, "messageId")
        except RecordError:
            continue
        entries = message.get("connectorMessages")
        connectors = [e.get("connectorMessage") for e in _items(
            entries.get("entry") if isinstance(entries, dict) else None) if isinstance(e, dict)]
        connectors = [c for c in connectors if isinstance(c, dict)]
        failed = sorted((c for c in connectors if _text(c.get("status")) == "ERROR"),
                        key=lambda c: _text(c.get("metaDataId")).zfill(6))
        if not message_id:
            continue
        if not failed:
            out.append(ErroredMessage(message_id, "", "", errored=False))
            continue
        connector = failed[0]
        content, encrypted = "", False
        for key in CONTENT_ORDER:
            held = connector.get(key)
            if isinstance(held, dict) and _text(held.get("content")):
                content, encrypted = _text(held.get("content")), _flag(held.get("encrypted"))
                break
        out.append(ErroredMessage(message_id, _text(connector.get("connectorName")),
                                  content, encrypted))
    return out


# --- the records -----------------------------------------------------------------------

def channel_stats(counters: list[ChannelCounters], statuses: dict[str, ChannelStatus],
                  names: dict[str, str], groups: dict[str, str], observed_at: datetime,
                  facility_of: Callable[[str], str], where: str
                  ) -> tuple[list[ChannelStats], list[Reject]]:
    """One ChannelStats per channel with counters: named by its channel name (the id when
    no name is known), its facility from its group, its state and waiting connectors from
    its dashboard status ('' and 0 for a channel without one)."""
    records, rejects = [], []
    for index, c in enumerate(counters):
        at = f"{where}#channel{index}"
        status = statuses.get(c.channel_id)
        name = names.get(c.channel_id) or (status.name if status else "") or c.channel_id
        values = {"channel": name, "facility_id": facility_of(groups.get(c.channel_id, "")),
                  "observed_at": observed_at, "received": c.received, "filtered": c.filtered,
                  "queued": c.queued, "sent": c.sent, "errored": c.errored,
                  "state": status.state if status else "",
                  "waiting_connectors": status.waiting_connectors if status else 0}
        try:
            records.append(check_record(build_record(ChannelStats, values, where=at), at))
        except RecordError as exc:
            rejects.append(Reject(at, exc.reason, jsonio.dumps_payload(_payload(c)),
                                  "channel_stats"))
        except Exception as exc:  # one channel, never the snapshot (collectors.rejects)
            rejects.append(Reject(at, unexpected_reason(exc, at),
                                  jsonio.dumps_payload(_payload(c)), "channel_stats"))
    return records, rejects


def _payload(c: ChannelCounters) -> dict[str, Any]:
    return {"channelId": c.channel_id, "received": c.received, "filtered": c.filtered,
            "sent": c.sent, "error": c.errored, "queued": c.queued}


def errored_records(messages: list[ErroredMessage], converter: Hl7Converter, facility: str,
                    where: str) -> tuple[list[Any], list[Reject]]:
    """The errored messages as the HL7 log collector reads them (``converter``: patient
    identity tokenised, usage links), each with status ERROR and the connector that
    failed; a message without a facility (MSH-4) takes its channel group's. Content the
    channel stores encrypted, or none at all, is quarantined with the reason."""
    records: list[Any] = []
    rejects = []
    for m in messages:
        at = f"{where}#message{m.message_id}"
        if not m.errored:
            continue
        if m.encrypted or not m.content:
            reason = ("the channel stores its content encrypted (Encrypt data), so its "
                      "control id cannot be read" if m.encrypted else
                      "no content for the errored connector (the channel stores metadata "
                      "only?)")
            rejects.append(Reject(at, reason, m.content, "interface_message"))
            continue
        raw = m.content.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8")
        batch = converter.convert([Block(0, len(raw), raw)], at)
        rejects.extend(Reject(r.position, r.reason, r.raw, "interface_message")
                       for r in batch.rejected)
        error = f"Mirth: connector {m.connector or '?'} in ERROR"[:ERROR_WIDTH]
        records.extend(message.model_copy(update={
            "status": MessageStatus.ERROR, "error": error,
            "facility_id": message.facility_id or facility}) for message in batch.messages)
        records.extend(batch.usages)
    return records, rejects


def state_notes(statuses: dict[str, ChannelStatus]) -> list[str]:
    """One line per channel not STARTED and per connector whose queue holds messages,
    e.g. ``DFT_OUT: PAUSED``, ``DFT_OUT/To billing: 12 queued (STARTED)``."""
    notes = []
    for status in statuses.values():
        if not status.started:
            notes.append(f"{status.name}: {status.state or 'no state'}")
        notes.extend(f"{status.name}/{k.name}: {k.queued} queued ({k.state})"
                     for k in status.connectors if k.waiting)
    return notes
