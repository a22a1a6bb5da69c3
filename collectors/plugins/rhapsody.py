"""Rhapsody as a source (kind ``rhapsody``): one snapshot of every communication point's
counters a pass, through the engine's REST monitoring API.

``base_url`` is the API root (``https://rhapsody.example.org:8444/api``); every call
sends HTTP basic credentials (``login``) and ``Accept: application/json``. A pass reads
``/components/status`` (the locker tree, states, queue sizes), then
``/commpoint/<id>`` of each communication point (its counts). Parsing:
``collectors.rhapsody_records``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

from collectors import jsonio
from collectors.base import CollectContext, Reject
from collectors.engine_access import engine_credentials, facility_for_group
from collectors.http import HttpRefused
from collectors.incremental import format_instant
from collectors.registry import register
from collectors.rhapsody_records import (
    COMM_POINT,
    channel_stats,
    parse_commpoint,
    parse_components,
    state_notes,
)
from core.errors import RecordError, SourceError

log = logging.getLogger("chargeline.collectors.rhapsody")


@register
class RhapsodyCollector:
    kind: ClassVar[str] = "rhapsody"

    def poll(self, ctx: CollectContext) -> None:
        auth = engine_credentials(ctx.source)
        url = f"{ctx.source.base_url}/components/status"
        body = _get(ctx, url, auth)
        try:
            components = parse_components(body, url)
        except RecordError as exc:  # the tree is the snapshot: without it, nothing
            ctx.commit_page("channels", [], None, [Reject(url, exc.reason,
                                                          jsonio.dumps_payload(body),
                                                          "channel_stats")])
            raise SourceError(exc.reason) from None
        points = []
        rejects: list[Reject] = []
        for component in components:
            if component.type != COMM_POINT:
                continue
            where = f"{ctx.source.base_url}/commpoint/{component.id}"
            try:
                points.append((component, parse_commpoint(_get(ctx, where, auth), where)))
            except RecordError as exc:  # one point, never the snapshot
                rejects.append(Reject(where, exc.reason, exc.reason, "channel_stats"))
        observed = datetime.now(UTC)
        records, bad = channel_stats(points, observed,
                                     lambda locker: facility_for_group(locker, ctx.source), url)
        for note in state_notes(components):
            log.info("source %s: %s", ctx.source.name, note)
        ctx.http.set_rows(len(records))
        ctx.commit_page("channels", records, format_instant(observed), [*rejects, *bad],
                        newest=observed)


def _get(ctx: CollectContext, url: str, auth: tuple[str, str]) -> Any:
    """GET ``url`` as JSON; a refusal says what to check, an answer that is not JSON is
    quarantined and fails the pass."""
    try:
        response = ctx.http.send("GET", url, auth=auth,
                                 headers={"Accept": "application/json"})
    except HttpRefused as exc:
        hint = ("check the source's login and the user's 'View components REST API' right"
                if exc.status in (401, 403) else
                "check the source's base_url (the API root, e.g. "
                "https://rhapsody.example.org:8444/api)")
        raise SourceError(f"{exc} — {hint}") from None
    try:
        return jsonio.loads(response.content)
    except ValueError as exc:
        reason = getattr(exc, "reason", "the answer is not JSON")
        ctx.commit_page("channels", [], None, [Reject(url, reason, response.content,
                                                      "channel_stats")])
        raise SourceError(f"{url}: {reason}") from None
