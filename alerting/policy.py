"""The notification policy (Alertmanager-like, as data): timing, extra routes, steward
quiet hours, silences, and inhibition along the lineage graph. Pure; no I/O but ``load``.

The lineage graph is a mapping ``node -> dependents``; a node is ``key=value`` of an alert
scope (``source=billing``, ``facility=*`` for every facility) or, for a channel,
``channel=<facility>/<name>`` (``channel=FAC01/DFT_OUT``): a channel is named per engine,
so two facilities' ``DFT_OUT`` are two nodes, as they are two alert instances. A firing
alert tagged with an inhibition ``source_tags`` tag suppresses alerts tagged with
``target_tags`` on its own nodes and everything downstream of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from rules.model import Duration, Severity

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    """Extra recipients for alerts whose owner/severity match (e.g. critical -> on-call)."""

    owner: str = ""
    severity: tuple[Severity, ...] = ()
    add: tuple[str, ...] = Field(min_length=1)


class StewardPrefs(_Strict):
    """Quiet hours (local time of ``timezone``): digests wait, critical fails may override."""

    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "UTC"
    critical_overrides: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r}; e.g. America/Chicago") from None
        return value

    def in_quiet_hours(self, now: datetime) -> bool:
        """True when ``now`` falls in the quiet window (which may cross midnight)."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        start, end = self.quiet_start, self.quiet_end
        return start <= local < end if start <= end else (local >= start or local < end)


class Inhibition(_Strict):
    source_tags: tuple[str, ...] = ("outage",)
    target_tags: tuple[str, ...] = ("freshness", "latency")


class NotificationPolicy(_Strict):
    """Timing and routing of digests; see alerting/policy.yaml for the shipped default."""

    group_wait: Duration = timedelta(seconds=30)
    group_interval: Duration = timedelta(minutes=5)
    repeat_interval: Duration = timedelta(hours=4)
    send_resolved: bool = True
    routes: tuple[Route, ...] = ()
    stewards: dict[str, StewardPrefs] = Field(default_factory=dict)
    inhibit: tuple[Inhibition, ...] = (Inhibition(),)
    lineage: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Add the estate's live lineage (metrics.lineage.graph: sources, channels, facilities seen in
    # the store) to the edges above; the shipped policy turns it on.
    lineage_from_store: bool = False

    def with_lineage(self, extra: Mapping[str, Iterable[str]]) -> NotificationPolicy:
        """This policy with ``extra`` edges merged into its lineage."""
        merged = {k: list(v) for k, v in self.lineage.items()}
        for node, dependents in extra.items():
            have = merged.setdefault(node, [])
            have.extend(d for d in dependents if d not in have)
        return self.model_copy(update={"lineage": {k: tuple(v) for k, v in merged.items()}})

    def prefs(self, recipient: str) -> StewardPrefs:
        return self.stewards.get(recipient, _NO_PREFS)

    def recipients(self, owner: str, severity: Severity, stewards: Iterable[str]) -> list[str]:
        """The rule's stewards plus every matching route's additions, in order, once each."""
        out = list(dict.fromkeys(stewards))
        for route in self.routes:
            if route.owner and route.owner != owner:
                continue
            if route.severity and severity not in route.severity:
                continue
            out.extend(a for a in route.add if a not in out)
        return out


_NO_PREFS = StewardPrefs()


def load_policy(path: Path | None = None) -> NotificationPolicy:
    """Read a policy YAML file (default: the shipped one); errors name the key and fix."""
    path = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return NotificationPolicy.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the alerting policy: {exc}") from None
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc'])} — "
                 f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


# --- silences -----------------------------------------------------------------------------

_MATCHER = re.compile(r"^\s*([a-z_]+)\s*(=~|!=|=)\s*(.+?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    """``label=value``, ``label!=value`` or ``label=~regex`` (full match)."""

    label: str
    op: Literal["=", "!=", "=~"]
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``rule=nack-rate`` / ``facility!=FAC02`` / ``channel=~FAC01_.*``."""
        match = _MATCHER.match(text)
        if match is None or match.group(3).startswith(("=", "~")):
            raise ConfigError(f"matcher {text!r} is not label=value, label!=value or "
                              "label=~regex — e.g. rule=nack-rate or channel=~FAC01_.*")
        label, op, value = match.groups()
        if op == "=~":
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"matcher {text!r}: bad regex: {exc}") from None
        return cls(label, op, value)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        return re.fullmatch(self.value, actual) is not None

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """True when active at ``now`` and every matcher matches."""
        return self.starts_at <= now < self.ends_at and all(m.matches(labels) for m in
                                                            self.matchers)


# --- inhibition along lineage ---------------------------------------------------------------

def downstream(lineage: Mapping[str, Iterable[str]], nodes: Iterable[str]) -> set[str]:
    """``nodes`` and everything that depends on them, transitively."""
    seen: set[str] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(lineage.get(node, ()))
    return seen


def channel_node(facility: str, channel: str) -> str:
    """The lineage node of one facility's channel (``metrics.lineage.graph.channel_key``)."""
    return f"channel={facility}/{channel}"


def scope_nodes(scope: Mapping[str, str], *, wildcards: bool = False) -> set[str]:
    """The lineage nodes of an alert scope: ``key=value``, a channel as
    ``channel=<facility>/<name>``; for targets (``wildcards``) plus ``key=*``.

    An outage (not a target) also starts from ``channel=<name>``, so an edge written by
    hand from a bare channel name applies to that name in every facility; a target never
    answers to the bare name, or one facility's outage would reach another's channel."""
    nodes = {f"{k}={v}" for k, v in scope.items() if k != "channel"}
    if "channel" in scope:
        nodes.add(channel_node(scope.get("facility", ""), scope["channel"]))
        if not wildcards:
            nodes.add(f"channel={scope['channel']}")
    return nodes | {f"{k}=*" for k in scope} if wildcards else nodes
