"""The interface-engine statistics collector: one snapshot of every channel's counters."""

from __future__ import annotations

from typing import Any, ClassVar

from chargeline.errors import RecordError, SourceError
from chargeline.model import ChannelStats, build_record
from collectors.base import CollectContext, Reject, register
from collectors.incremental import parse_instant
from collectors.mapping import RecordMapping


def parse_channels(body: Any, mapping: RecordMapping, url: str
                   ) -> tuple[list[ChannelStats], list[Reject], str]:
    """Turn a ``/engine/api/channels`` answer into one ChannelStats per channel (pure)."""
    if not isinstance(body, dict):
        raise RecordError(f"{url}: the answer is not a JSON object")
    observed = body.get(mapping.options.get("observed", "generatedAt"))
    channels = body.get(mapping.options.get("list", "channels"))
    if not isinstance(observed, str) or not isinstance(channels, list):
        raise RecordError(f"{url}: no generatedAt time or channels list")
    records, rejects = [], []
    for index, row in enumerate(channels):
        where = f"{url}#channel{index}"
        try:
            values = mapping.apply(row) if isinstance(row, dict) else {}
            values["observed_at"] = observed
            records.append(build_record(ChannelStats, values, where=where))
        except RecordError as exc:
            rejects.append(Reject(where, exc.reason, str(row), "channel_stats"))
    return records, rejects, observed


@register
class EngineStatsCollector:
    kind: ClassVar[str] = "engine_stats"

    def poll(self, ctx: CollectContext) -> None:
        mapping = ctx.mappings()["channels"]
        # base_url is the engine's statistics API root, e.g. http://host:8700/engine/api
        url = f"{ctx.source.base_url}/channels"
        body = ctx.http.get_json(url)
        try:
            records, rejects, observed = parse_channels(body, mapping, url)
        except RecordError as exc:
            ctx.commit_page("channels", [], None, [Reject(url, exc.reason, str(body))])
            raise SourceError(exc.reason) from None
        ctx.http.set_rows(len(records))
        ctx.commit_page("channels", records, observed, rejects, newest=parse_instant(observed))
