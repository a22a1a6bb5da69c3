"""The interface-engine statistics collector: one snapshot of every channel's counters."""

from __future__ import annotations

from typing import Any, ClassVar

from collectors import jsonio
from collectors.base import CollectContext, Reject
from collectors.http import BadPayload
from collectors.incremental import parse_instant
from collectors.mapping import RecordMapping
from collectors.registry import register
from collectors.rejects import unexpected_reason
from core.errors import RecordError, SourceError
from core.model import ChannelStats, build_record
from store.bounds import check_record


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
            if not isinstance(row, dict):
                raise RecordError(f"channel is {type(row).__name__}, not a JSON object")
            if jsonio.deeper_than(row, jsonio.RECORD_DEPTH):
                raise RecordError(f"channel nested deeper than {jsonio.RECORD_DEPTH} levels")
            values = mapping.apply(row)
            values["observed_at"] = observed
            records.append(check_record(build_record(ChannelStats, values, where=where), where))
        except RecordError as exc:
            rejects.append(Reject(where, exc.reason, jsonio.dumps_payload(row), "channel_stats"))
        except Exception as exc:  # one channel, never the snapshot (collectors.rejects)
            rejects.append(Reject(where, unexpected_reason(exc, where),
                                  jsonio.dumps_payload(row), "channel_stats"))
    return records, rejects, observed


@register
class EngineStatsCollector:
    kind: ClassVar[str] = "engine_stats"

    def poll(self, ctx: CollectContext) -> None:
        mapping = ctx.mappings()["channels"]
        # base_url is the engine's statistics API root, e.g. http://host:8700/engine/api
        url = f"{ctx.source.base_url}/channels"
        try:
            body, raw, _call = ctx.http.fetch_page(url)
        except BadPayload as exc:  # not JSON, too big or too deep: kept, and said
            ctx.commit_page("channels", [], None, [Reject(
                exc.url, exc.reason, exc.raw, "channel_stats")])
            raise
        try:
            records, rejects, observed = parse_channels(body, mapping, url)
            parse_instant(observed)
        except (RecordError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, RecordError) else \
                f"{url}: generatedAt is not an ISO 8601 instant"
            ctx.commit_page("channels", [], None, [Reject(url, reason, raw, "channel_stats")])
            raise SourceError(reason) from None
        ctx.http.set_rows(len(records))
        ctx.commit_page("channels", records, observed, rejects, newest=parse_instant(observed))
