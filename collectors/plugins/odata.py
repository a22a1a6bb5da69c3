"""The ERP collector: every OData v4 entity set of the mapping, incremental by its
modified-at field (``$filter=ModifiedAt ge ...``), paged by ``@odata.nextLink``."""

from __future__ import annotations

from typing import ClassVar

from collectors.base import CollectContext, Reject
from collectors.http import BadPayload
from collectors.incremental import advance, parse_instant, since
from collectors.mapping import RecordMapping
from collectors.page_tasks import ODATA_TASK, ConvertedPage, convert_in_order
from collectors.paging import Fetched, walk
from collectors.registry import register
from core.errors import SourceError


def poll_entity_set(ctx: CollectContext, entity_set: str, mapping: RecordMapping) -> None:
    """Read one entity set from its watermark on, committing page by page (pages of a
    long stream converted on the pass's workers, committed in order)."""
    source = ctx.source
    modified = mapping.options.get("modified", "ModifiedAt")
    keys = [k.strip() for k in str(mapping.options.get("key", "")).split(",") if k.strip()]
    watermark = ctx.watermark(entity_set)
    params = {"$top": str(source.page_size), "$orderby": ",".join([modified, *keys])}
    start = since(watermark, source.overlap_seconds)
    if start:
        params["$filter"] = f"{modified} ge {start}"
    pages = walk(ctx.http, f"{source.base_url}/{entity_set}", params, _next_link)

    def commit(fetched: Fetched, page: ConvertedPage) -> None:
        nonlocal watermark
        if page.error:
            ctx.commit_page(entity_set, [], None, [Reject(
                fetched.url, page.error, str(fetched.body)[:100_000], entity_set)])
            raise SourceError(page.error)
        ctx.http.set_rows(page.rows.records + len(page.rejects), fetched.call)
        watermark = advance(watermark, page.newest)
        ctx.commit_page(entity_set, [], watermark, page.rejects,
                        newest=parse_instant(page.newest) if page.newest else None,
                        prepared=page.rows)

    try:
        # in-process: an OData row costs about as much to convert as to send to a worker
        convert_in_order(ctx, pages, ODATA_TASK,
                         (source.kind, source.mapping, entity_set, source.name), commit)
    except BadPayload as exc:
        reject = Reject(exc.url, f"{exc.reason} (still bad after retries)",
                        exc.raw, entity_set)
        ctx.commit_page(entity_set, [], None, [reject])
        raise


def _next_link(body: object) -> str | None:
    link = body.get("@odata.nextLink") if isinstance(body, dict) else None
    return link if isinstance(link, str) and link else None


@register
class ODataErpCollector:
    """Polls each entity set of the ERP mapping, one stream each."""

    kind: ClassVar[str] = "odata_erp"

    def poll(self, ctx: CollectContext) -> None:
        for entity_set, mapping in ctx.mappings().items():
            if mapping.options.get("enabled", True) is False:
                continue  # a stream this source does not serve (mapping: enabled: false)
            try:
                poll_entity_set(ctx, entity_set, mapping)
            except SourceError as exc:
                ctx.totals.stream_errors.append(f"{entity_set}: {type(exc).__name__}: {exc}")
