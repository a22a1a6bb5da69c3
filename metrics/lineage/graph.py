"""The system graph of the estate with live health per edge, and the lineage adjacency
the alerting policy inhibits along: pure (its types and rules only; the store queries
that observe the estate are ``metrics.lineage.data``, which imports this module).

API (the dashboard draws this; ``metrics.lineage.data.system_graph`` reads the store and
builds it)::

    graph = metrics.lineage.data.system_graph(engine, settings, now)   # from the store
    graph = build_graph(settings.sources, observations, now, thresholds)   # pure
    for node in graph.nodes: node.node_id, node.kind, node.label, node.column, node.sources
    for edge in graph.edges: edge.source, edge.target, edge.kind, edge.label,
                             edge.health, edge.reason
    lineage_map(graph)  # {"source=billing": ["facility=*"], "channel=FAC01/X": [...], ...}

Nodes: the systems ``device_tracking``, ``ehr``, ``engine``, ``billing``, ``erp``,
``supplier``; one ``channel:<facility>/<name>`` per interface-engine channel seen in
``interface_messages`` / ``channel_stats`` (``parent`` = ``engine``): a channel is the pair
(facility, name), as the store keys its messages and the report its channels — two
facilities' engines each have their own ``DFT_OUT``; ``chargeline`` (the store). A
system's ``sources`` are the collector sources that read it (from ``settings.sources`` by
kind, plus sources seen in ``collector_runs`` / ``api_calls``).
``column`` orders nodes left to right as data flows.

Edges, each with ``health`` in ``ok | degraded | down | unknown`` and a ``reason``:

- ``flow`` — the estate's own hops: device tracking -> EHR (the p95 lag from scan to EHR
  record over each facility's newest scans: above ``stale_after`` degraded, above
  ``down_after`` down; unknown where the EHR does not say when it recorded a scan);
  EHR -> channel (errored share of the channel's messages in the window); channel ->
  its destination, labelled ``delivery`` (NACK rate, queue age of the newest
  ``channel_stats`` snapshot, and, when the destination is billing, billing posting
  nothing for longer than the implant charge SLA after the engine delivered);
  EHR -> ERP (the newest inventory issue lagging the newest scan, per facility, by more
  than the inventory SLA); ERP -> supplier (requisitions waiting for an order).
- ``collect`` — one per collector source, system -> ``chargeline``: the latest finished
  run (``error`` -> degraded, or down once no run succeeded for ``down_after``), no run at
  all for ``stale_after`` (the collector stopped), the API error rate in the window.
  Freshness of the newest record is stated in the reason but never makes an edge worse: a
  quiet feed is not a failing one.

A flow edge whose evidence comes from a source that is down is ``unknown``, never ``ok``:
a collector failure must not hide (or fake) a problem downstream.

A channel's destination (``route_of``), first that applies:

1. ``lineage.channel_targets`` in the settings: the channel id exactly, else the first
   fnmatch glob (``*_SUP_OUT``) that matches, in file order;
2. the HL7 type of its newest message: ``MFN``, ``OMS``, ``RQ`` -> ``erp``, any other ->
   ``billing``;
3. a whole ``_``/``-``/``.``-separated token of its id: ``ERP``, ``SUP``, ``SUPPLY``,
   ``MM``, ``INV``, ``INVENTORY``, ``MFN``, ``OMS``, ``RQ`` -> ``erp``; ``CHG``, ``DFT``,
   ``BAR``, ``ADT``, ``BILL``, ``BILLING``, ``RCM`` -> ``billing`` (tokens naming both say
   nothing);
4. else ``billing``, *assumed*: the edge is labelled ``delivery (destination assumed)``,
   its reason says so and names the setting, and the billing-only no-charge check is not
   applied, so the guess alone never makes the edge worse.

Rules 3 and 4 decide only where no message type is known: typically when the engine
statistics source is collected without the message log.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from core.config import ChargeSla, SourceConfig

HEALTH_ORDER = ("ok", "unknown", "degraded", "down")
# 835 remittance files (x12_files) are the billing side's: the payer's answer to the claims
# the RCM system sent, delivered to it through the clearinghouse.
SYSTEM_OF_KIND = {"fhir_usage": "ehr", "fhir_billing": "billing", "odata_erp": "erp",
                  "hl7_log": "engine", "engine_stats": "engine", "mllp": "engine",
                  "x12_files": "billing"}
SYSTEMS: dict[str, tuple[str, int]] = {  # node id -> (label, column)
    "device_tracking": ("Device tracking", 0),
    "ehr": ("EHR", 1),
    "engine": ("Interface engine", 2),
    "billing": ("Billing (RCM)", 3),
    "erp": ("ERP supply chain", 3),
    "supplier": ("Supplier portal", 4),
    "other": ("Other system", 3),  # an unplaced source, or a configured channel target
    "chargeline": ("Chargeline store", 5),
}
_NAME_HINTS = (("bill", "billing"), ("rcm", "billing"), ("erp", "erp"), ("ehr", "ehr"),
               ("usage", "ehr"), ("engine", "engine"), ("hl7", "engine"), ("mirth", "engine"))
_TARGET_OF_MESSAGE = {"MFN": "erp", "OMS": "erp", "RQ": "erp"}  # else billing (DFT, ADT, BAR)
# Whole tokens only, so that "MM" does not fire inside "COMM" nor "INV" inside "INVOICE".
# The message types among them agree with _TARGET_OF_MESSAGE, so a channel lands on the
# same system whether or not its message log is collected.
_CHANNEL_HINTS = {
    **dict.fromkeys(("ERP", "SUP", "SUPPLY", "MM", "INV", "INVENTORY", "MFN", "OMS", "RQ"),
                    "erp"),
    **dict.fromkeys(("CHG", "DFT", "BAR", "ADT", "BILL", "BILLING", "RCM"), "billing"),
}
_TOKEN_SPLIT = re.compile(r"[_\-.\s]+")
ASSUMED_TARGET = "billing"


@dataclass(frozen=True)
class Thresholds:
    """When an edge turns degraded or down. Defaults follow the shipped rule pack (its
    ``warn`` levels are *degraded*); the Interfaces page labels its rows by the same."""

    window: timedelta = timedelta(hours=1)
    stale_after: timedelta = timedelta(minutes=15)
    down_after: timedelta = timedelta(minutes=60)
    api_error_degraded: float = 0.05
    api_p95_degraded_ms: float = 2000.0
    errored_degraded: float = 0.05
    errored_down: float = 0.5
    nack_degraded: float = 0.02
    nack_down: float = 0.5
    queue_degraded: timedelta = timedelta(minutes=15)
    queue_down: timedelta = timedelta(minutes=60)
    order_degraded: timedelta = timedelta(hours=48)
    order_down: timedelta = timedelta(days=7)
    sla: ChargeSla = field(default_factory=ChargeSla)


@dataclass(frozen=True)
class SourceObservation:
    """What ``collector_runs`` and ``api_calls`` say about one source."""

    source: str
    last_status: str = ""  # of the latest finished run: ok | nodata | error
    last_run_at: datetime | None = None
    last_error: str = ""
    last_success_at: datetime | None = None
    newest_record_at: datetime | None = None
    calls: int = 0  # in the window
    failed_calls: int = 0
    throttled: int = 0


@dataclass(frozen=True)
class ChannelObservation:
    """One engine channel: its messages in the window and its newest counter snapshot."""

    channel: str
    facility_id: str = ""
    message_type: str = ""
    messages: int = 0
    errored: int = 0
    nacks: int = 0
    acked: int = 0
    newest_received_at: datetime | None = None
    queued: int | None = None
    oldest_queued_at: datetime | None = None
    snapshot_at: datetime | None = None


@dataclass(frozen=True)
class FacilityFlow:
    """Newest posting per feed in one facility (for hop lag), and the seconds from scan to
    EHR record of its newest scans that carry a record time."""

    facility_id: str
    newest_usage_at: datetime | None = None
    newest_issue_at: datetime | None = None
    newest_charge_at: datetime | None = None
    record_lags: tuple[float, ...] = ()


@dataclass(frozen=True)
class Observations:
    sources: Mapping[str, SourceObservation] = field(default_factory=dict)
    # keyed by channel_key(facility, name); build_graph reads the values alone
    channels: Mapping[str, ChannelObservation] = field(default_factory=dict)
    facilities: Mapping[str, FacilityFlow] = field(default_factory=dict)
    newest_requisition_at: datetime | None = None
    newest_order_at: datetime | None = None


@dataclass(frozen=True)
class LineageNode:
    node_id: str
    kind: str  # system | channel | store
    label: str
    column: int
    sources: tuple[str, ...] = ()
    parent: str = ""
    facility_id: str = ""


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    kind: str  # flow | collect
    label: str
    health: str
    reason: str
    collector: str = ""  # the collector source of a collect edge


@dataclass(frozen=True)
class LineageGraph:
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    generated_at: datetime

    def node(self, node_id: str) -> LineageNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def edge(self, source: str, target: str, collector: str = "") -> LineageEdge:
        """The edge ``source -> target`` (a collect edge also by its collector source)."""
        return next(e for e in self.edges if e.source == source and e.target == target
                    and (not collector or e.collector == collector))


def worst(healths: Iterable[str]) -> str:
    """The worst of several health values (``unknown`` for none)."""
    values = list(healths)
    return max(values, key=HEALTH_ORDER.index) if values else "unknown"


def system_of(source: str, kind: str = "") -> str:
    """The system a collector source reads: by its configured kind, else by its name."""
    if kind in SYSTEM_OF_KIND:
        return SYSTEM_OF_KIND[kind]
    lowered = source.lower()
    return next((system for hint, system in _NAME_HINTS if hint in lowered), "other")


def channel_key(facility: str, channel: str) -> str:
    """A channel's identity: ``FAC01/DFT_OUT`` (``/DFT_OUT`` when its messages name no
    facility), the report's key (``metrics.read.report_data.channel_key``) and the alert
    scope's lineage node (``alerting.policy.scope_nodes``)."""
    return f"{facility}/{channel}"


def channel_node_id(facility: str, channel: str) -> str:
    """The graph node of one facility's channel."""
    return f"channel:{channel_key(facility, channel)}"


def _minutes(delta: timedelta) -> str:
    """Whole minutes of a duration; never ``-0 min`` (a clock a few seconds apart)."""
    return f"{max(delta.total_seconds(), 0.0) / 60:.0f} min"


def _age(at: datetime | None, now: datetime) -> str:
    """``12 min ago``; a time a little ahead of ``now`` (a source's clock, or a record
    stamped between the graph's minute and the read) is ``just now``, never ``-0 min``."""
    if at is None:
        return "never"
    if now - at < timedelta(minutes=1):
        ahead = at - now
        if ahead > timedelta(minutes=5):
            return f"{_minutes(ahead)} in the future (clock ahead?)"
        return "just now"
    return f"{_minutes(now - at)} ago"


def source_health(obs: SourceObservation | None, config: SourceConfig | None,
                  now: datetime, th: Thresholds) -> tuple[str, str]:
    """Health of one collector source, and why."""
    if config is not None and not config.enabled:
        return "unknown", "disabled in the configuration"
    if obs is None or obs.last_run_at is None:
        return "unknown", "never collected"
    fresh = f"; newest record {_age(obs.newest_record_at, now)}"
    if obs.last_status == "error":
        since = obs.last_success_at
        down = since is None or now - since > th.down_after
        return ("down" if down else "degraded",
                f"last run failed ({_age(obs.last_run_at, now)}): {obs.last_error or 'error'}"
                f"; last success {_age(since, now)}")
    idle = now - obs.last_run_at
    if idle > th.down_after:
        return "down", f"no collection for {_minutes(idle)} (is the collector running?)"
    if idle > th.stale_after:
        return "degraded", f"no collection for {_minutes(idle)}{fresh}"
    rate = obs.failed_calls / obs.calls if obs.calls else 0.0
    if obs.calls and rate >= th.api_error_degraded:
        return "degraded", (f"{rate:.0%} of {obs.calls} API calls failed in the last "
                            f"{_minutes(th.window)} ({obs.throttled} throttled){fresh}")
    calls = f", {rate:.1%} API errors" if obs.calls else ""
    return "ok", f"last run {obs.last_status} {_age(obs.last_run_at, now)}{calls}{fresh}"


def _inbound(ch: ChannelObservation, th: Thresholds) -> tuple[str, str]:
    if not ch.messages:
        if ch.newest_received_at is None and ch.snapshot_at is None:
            return "unknown", "no messages seen"
        return "ok", f"no messages in the last {_minutes(th.window)}"
    share = ch.errored / ch.messages
    text = f"{ch.messages} messages, {share:.1%} errored in the last {_minutes(th.window)}"
    if share >= th.errored_down:
        return "down", text
    return ("degraded" if share >= th.errored_degraded else "ok"), text


@dataclass(frozen=True)
class ChannelRoute:
    """Where a channel delivers, and on what grounds."""

    target: str  # a system id of SYSTEMS
    by: str  # config | message type | name | assumed
    why: str = ""  # for an assumed route: what was missing

    @property
    def assumed(self) -> bool:
        return self.by == "assumed"


def route_of(ch: ChannelObservation, targets: Mapping[str, str] | None = None
             ) -> ChannelRoute:
    """The destination of a channel: configured, else by message type, else by a name
    hint, else billing assumed (see the module docstring)."""
    targets = targets or {}
    if ch.channel in targets:
        return ChannelRoute(targets[ch.channel], "config")
    for pattern, target in targets.items():
        if fnmatchcase(ch.channel, pattern):
            return ChannelRoute(target, "config")
    head = ch.message_type.split("^")[0].strip().upper()
    if head:
        return ChannelRoute(_TARGET_OF_MESSAGE.get(head, "billing"), "message type")
    hinted = {_CHANNEL_HINTS[t] for t in _TOKEN_SPLIT.split(ch.channel.upper())
              if t in _CHANNEL_HINTS}
    if len(hinted) == 1:
        return ChannelRoute(hinted.pop(), "name")
    why = (f"its id hints at both {' and '.join(sorted(hinted))}" if hinted
           else "no message type seen and its id names no system")
    return ChannelRoute(ASSUMED_TARGET, "assumed", why)


def _outbound(ch: ChannelObservation, flow: FacilityFlow | None, now: datetime,
              th: Thresholds, check_charges: bool) -> tuple[str, str]:
    found: list[tuple[str, str]] = []
    if ch.acked:
        rate = ch.nacks / ch.acked
        level = "down" if rate >= th.nack_down else "degraded" if rate >= th.nack_degraded \
            else "ok"
        found.append((level, f"NACK rate {rate:.1%} of {ch.acked} acknowledged"))
    if ch.snapshot_at is not None:
        age = now - ch.oldest_queued_at if ch.oldest_queued_at else timedelta(0)
        level = "down" if age >= th.queue_down else "degraded" if age >= th.queue_degraded \
            else "ok"
        found.append((level, f"queue {ch.queued or 0}, oldest {_minutes(age)}"))
    if check_charges and ch.newest_received_at is not None:
        newest_charge = flow.newest_charge_at if flow else None
        limit = timedelta(minutes=th.sla.implant_charge_minutes)
        where = ch.facility_id or "the facility"
        if newest_charge is None:
            found.append(("degraded", f"no charge posted in {where} yet"))
        elif ch.newest_received_at - newest_charge > limit:
            found.append(("degraded", f"no charge posted in {where} for "
                          f"{_minutes(ch.newest_received_at - newest_charge)} before the "
                          "engine's newest message"))
    if not found:
        return "unknown", "no acknowledgements or counters seen"
    return worst(h for h, _ in found), "; ".join(text for _, text in found)


def _issue_lag(flows: Mapping[str, FacilityFlow], th: Thresholds) -> tuple[str, str]:
    limit = timedelta(minutes=th.sla.inventory_issue_minutes)
    scanning = [f for f in flows.values() if f.newest_usage_at is not None]
    if not scanning:
        return "unknown", "no scans seen"
    never = sorted(f.facility_id for f in scanning if f.newest_issue_at is None)
    if never:
        return "degraded", f"no inventory issue seen in {', '.join(never)}"
    lag, facility = max((f.newest_usage_at - f.newest_issue_at, f.facility_id)
                        for f in scanning)  # type: ignore[operator]
    text = (f"newest inventory issue {_minutes(max(lag, timedelta(0)))} behind the newest "
            f"scan (worst: {facility}; SLA {_minutes(limit)})")
    if lag > 4 * limit:
        return "down", text
    return ("degraded" if lag > limit else "ok"), text


def nearest_rank(values: Sequence[float], p: float) -> float:
    """The smallest value with at least ``p`` (0..1) of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _record_lag(flows: Mapping[str, FacilityFlow], th: Thresholds) -> tuple[str, str]:
    """Device tracking -> EHR: how long scans take to be recorded in the EHR. A p95, not
    the worst scan: one scan documented by hand an hour later is not a broken feed."""
    scanning = [f for f in flows.values() if f.newest_usage_at is not None]
    if not scanning:
        return "unknown", "no scans seen"
    timed = [f for f in scanning if f.record_lags]
    if not timed:
        return "unknown", "the EHR does not say when it recorded the scans"
    lag, facility = max((nearest_rank(f.record_lags, 0.95), f.facility_id) for f in timed)
    n = sum(len(f.record_lags) for f in timed)
    text = (f"p95 scan-to-EHR lag {_minutes(timedelta(seconds=max(lag, 0.0)))} over the "
            f"newest {n} scans (worst: {facility})")
    if lag > th.down_after.total_seconds():
        return "down", text
    return ("degraded" if lag > th.stale_after.total_seconds() else "ok"), text


def _order_lag(obs: Observations, th: Thresholds) -> tuple[str, str]:
    if obs.newest_requisition_at is None:
        return "unknown", "no requisitions seen"
    if obs.newest_order_at is None or obs.newest_order_at >= obs.newest_requisition_at:
        return "ok", "requisitions are being ordered"
    lag = obs.newest_requisition_at - obs.newest_order_at
    text = f"newest order {lag.total_seconds() / 3600:.0f} h behind the newest requisition"
    if lag > th.order_down:
        return "down", text
    return ("degraded" if lag > th.order_degraded else "ok"), text


def build_graph(sources: Sequence[SourceConfig], obs: Observations, now: datetime,
                th: Thresholds = Thresholds(),
                channel_targets: Mapping[str, str] | None = None) -> LineageGraph:
    """The system graph from configuration and observed traffic, each edge with health.
    ``channel_targets`` is ``settings.lineage.channel_targets`` (see ``route_of``)."""
    configured = {s.name: s for s in sources}
    names = list(dict.fromkeys([*configured, *sorted(obs.sources)]))
    readers: dict[str, list[str]] = {}
    health_of: dict[str, tuple[str, str]] = {}
    for name in names:
        config = configured.get(name)
        readers.setdefault(system_of(name, config.kind if config else ""), []).append(name)
        health_of[name] = source_health(obs.sources.get(name), config, now, th)

    def blind(system: str) -> str:
        """Why a system cannot be seen (no source reads it, or all are down), or ''."""
        seen = readers.get(system, [])
        if not seen:
            return f"no source reads the {SYSTEMS[system][0]}"
        if all(health_of[s][0] == "down" for s in seen):
            return f"cannot see the {SYSTEMS[system][0]}: " + ", ".join(
                f"{s} down" for s in seen)
        return ""

    channels = sorted(obs.channels.values(), key=lambda c: (c.facility_id, c.channel))
    routes = {channel_node_id(ch.facility_id, ch.channel): route_of(ch, channel_targets)
              for ch in channels}
    # every edge needs both its nodes (lineage_map looks them up), so "other" is drawn once
    # a source or a channel's configured destination uses it
    drawn_other = bool(readers.get("other")) or any(r.target == "other"
                                                     for r in routes.values())
    nodes = [LineageNode(sid, "store" if sid == "chargeline" else "system", label, column,
                         tuple(readers.get(sid, ())))
             for sid, (label, column) in SYSTEMS.items()
             if sid != "other" or drawn_other]
    hidden = blind("ehr")
    edges = [LineageEdge("device_tracking", "ehr", "flow", "scans",
                         *(("unknown", hidden) if hidden else _record_lag(obs.facilities, th)))]
    for ch in channels:
        node_id = channel_node_id(ch.facility_id, ch.channel)
        route = routes[node_id]
        nodes.append(LineageNode(node_id, "channel", ch.channel, 2, parent="engine",
                                 facility_id=ch.facility_id))
        hidden = blind("engine")
        inbound = ("unknown", hidden) if hidden else _inbound(ch, th)
        # judging a channel by billing's charges is only fair once billing is known to be
        # where it delivers: a supply-chain channel posts no charges by design
        check_charges = route.target == "billing" and not route.assumed \
            and not blind("billing")
        health, reason = ("unknown", hidden) if hidden else _outbound(
            ch, obs.facilities.get(ch.facility_id), now, th, check_charges)
        label = "delivery"
        if route.assumed:
            label = "delivery (destination assumed)"
            reason += (f"; destination assumed: {route.target} ({route.why}); set "
                       "lineage.channel_targets")
        edges.append(LineageEdge("ehr", node_id, "flow", ch.message_type or "HL7", *inbound))
        edges.append(LineageEdge(node_id, route.target, "flow", label, health, reason))
    hidden = blind("erp")
    edges.append(LineageEdge("ehr", "erp", "flow", "inventory issues",
                             *(("unknown", hidden) if hidden else _issue_lag(obs.facilities,
                                                                            th))))
    edges.append(LineageEdge("erp", "supplier", "flow", "replenishment",
                             *(("unknown", hidden) if hidden else _order_lag(obs, th))))
    for name in names:
        config = configured.get(name)
        system = system_of(name, config.kind if config else "")
        label = f"{name} ({config.kind})" if config else f"{name} (not configured)"
        edges.append(LineageEdge(system, "chargeline", "collect", label, *health_of[name],
                                 collector=name))
    return LineageGraph(tuple(nodes), tuple(edges), now)


def _scope(node: LineageNode) -> list[str]:
    if node.kind == "channel":
        return [f"channel={channel_key(node.facility_id, node.label)}"]
    if node.kind == "store":
        return ["facility=*"]
    return [f"source={s}" for s in node.sources]


def lineage_map(graph: LineageGraph) -> dict[str, list[str]]:
    """Alert-scope adjacency (``node -> dependents``) for ``alerting.policy.downstream``.

    Scope nodes: ``source=<collector source>`` for a system, ``channel=<facility>/<name>``
    for a channel (the facility's own: another facility's channel of the same name is
    another node), ``facility=*`` for the store (every facility's metrics). A system's
    sources also lead to the channels it hosts, so an engine collector outage covers its
    channels.

    A channel leads to its facility and nowhere else. Its destination still receives every
    other channel's messages, so a channel's outage does not blind the destination's
    collector; linking it there would, through ``source=billing -> facility=*``, suppress
    every facility's alerts for one facility's queue."""
    by_id = {n.node_id: n for n in graph.nodes}
    out: dict[str, list[str]] = {}

    def link(a: str, b: str) -> None:
        if a != b and b not in out.setdefault(a, []):
            out[a].append(b)

    for edge in graph.edges:
        if by_id[edge.source].kind == "channel":
            continue  # see above: its facility only
        for a in _scope(by_id[edge.source]):
            for b in _scope(by_id[edge.target]):
                link(a, b)
    for node in graph.nodes:
        if node.kind == "channel":
            (own,) = _scope(node)
            for a in _scope(by_id[node.parent]):
                link(a, own)
            out.setdefault(own, [])
            if node.facility_id:
                link(own, f"facility={node.facility_id}")
    return out
