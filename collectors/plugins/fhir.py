"""FHIR R4 collectors: billing (ChargeItem, Encounter, Claim, ClaimResponse) and EHR usage
(SupplyDelivery). Incremental by ``_lastUpdated``, paged by Bundle ``next`` links."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Connection

from collectors.base import CollectContext, Reject
from collectors.data.claims import apply_claim_outcomes
from collectors.fhir_records import next_link
from collectors.http import BadPayload
from collectors.incremental import advance, parse_instant, since
from collectors.mapping import RecordMapping
from collectors.page_tasks import FHIR_TASK, ConvertedPage, convert_in_order
from collectors.paging import Fetched, walk
from collectors.registry import register
from core.errors import SourceError


def poll_fhir_stream(ctx: CollectContext, resource_type: str, mapping: RecordMapping) -> None:
    """Read one resource type from its watermark on, committing page by page (pages of
    a long stream converted on the pass's workers, committed in order)."""
    source = ctx.source
    watermark = ctx.watermark(resource_type)
    params = {"_count": str(source.page_size), "_sort": "_lastUpdated"}
    start = since(watermark, source.overlap_seconds)
    if start:
        params["_lastUpdated"] = f"ge{start}"
    setup = (source.kind, source.mapping, resource_type, ctx.phi_secret, source.name)
    pages = walk(ctx.http, f"{source.base_url}/{resource_type}", params,
                 lambda body: next_link(body) if isinstance(body, dict) else None)
    is_claim = mapping.options.get("record") == "claim"

    def commit(fetched: Fetched, page: ConvertedPage) -> None:
        nonlocal watermark
        if page.error:
            ctx.commit_page(resource_type, [], None, [Reject(
                fetched.url, page.error, str(fetched.body)[:100_000], resource_type)])
            raise SourceError(page.error)
        ctx.http.set_rows(page.rows.records + len(page.outcomes) + len(page.rejects),
                          fetched.call)
        watermark = advance(watermark, page.newest)
        extra = None
        if page.outcomes or (is_claim and page.rows.records):
            outcomes, claim_ids = page.outcomes, page.claim_ids

            def extra(conn: Connection) -> int:
                return apply_claim_outcomes(conn, outcomes, claim_ids, source.name)

        ctx.commit_page(resource_type, [], watermark, page.rejects, extra=extra,
                        newest=parse_instant(page.newest) if page.newest else None,
                        prepared=page.rows)
        ctx.totals.fetched += len(page.outcomes)

    try:
        convert_in_order(ctx, pages, FHIR_TASK, setup, commit, _bundle_total)
    except BadPayload as exc:
        reject = Reject(exc.url, f"{exc.reason} (still bad after retries)",
                        exc.raw, resource_type)
        ctx.commit_page(resource_type, [], None, [reject])
        raise


def _bundle_total(body: object) -> int | None:
    """Bundle.total, the source's count of matching resources (a backlog's size)."""
    total = body.get("total") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class FhirCollector:
    """Polls every resource type of the source's mapping, one stream each."""

    kind: ClassVar[str] = "fhir_billing"

    def poll(self, ctx: CollectContext) -> None:
        for resource_type, mapping in ctx.mappings().items():
            if mapping.options.get("enabled", True) is False:
                continue  # a stream this source does not serve (mapping: enabled: false)
            try:
                poll_fhir_stream(ctx, resource_type, mapping)
            except SourceError as exc:
                # one failing stream must not starve the others; the run still ends in error
                ctx.totals.stream_errors.append(f"{resource_type}: {type(exc).__name__}: {exc}")


@register
class FhirBillingCollector(FhirCollector):
    kind: ClassVar[str] = "fhir_billing"


@register
class FhirUsageCollector(FhirCollector):
    kind: ClassVar[str] = "fhir_usage"
