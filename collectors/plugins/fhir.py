"""FHIR R4 collectors: billing (ChargeItem, Encounter, Claim, ClaimResponse) and EHR usage
(SupplyDelivery). Incremental by ``_lastUpdated``, paged by Bundle ``next`` links."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Connection, bindparam, or_, select, update

from collectors.base import CollectContext, Reject, register
from collectors.fhir_records import ClaimOutcome, next_link
from collectors.http import BadPayload
from collectors.incremental import advance, parse_instant, since
from collectors.mapping import RecordMapping
from collectors.page_tasks import FHIR_TASK, ConvertedPage, convert_in_order
from collectors.paging import Fetched, walk
from core.errors import SourceError
from store.schema import claims
from store.schema_collectors import claim_outcomes
from store.upsert import dialect_insert


def apply_claim_outcomes(conn: Connection, outcomes: list[ClaimOutcome],
                         claim_ids: set[str], source: str) -> int:
    """Store ClaimResponses and copy the newest outcome of each touched claim onto it;
    return how many outcomes were new or changed."""
    written = 0
    if outcomes:
        rows = {o.response_id: {"response_id": o.response_id, "claim_id": o.claim_id,
                                "outcome": o.outcome, "paid_amount": o.paid_amount,
                                "last_updated": o.last_updated, "source": source}
                for o in outcomes}
        stmt = dialect_insert(conn, claim_outcomes).values(list(rows.values()))
        changing = ["claim_id", "outcome", "paid_amount", "last_updated", "source"]
        stmt = stmt.on_conflict_do_update(
            index_elements=["response_id"], set_={c: stmt.excluded[c] for c in changing},
            # an outcome read again unchanged (the overlap window) is not a write
            where=or_(*[claim_outcomes.c[c].is_distinct_from(stmt.excluded[c])
                        for c in changing]))
        written = len(conn.execute(stmt.returning(claim_outcomes.c.response_id)).all())
    ids = sorted(claim_ids | {o.claim_id for o in outcomes})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        newest = (select(claim_outcomes.c.claim_id, claim_outcomes.c.outcome,
                         claim_outcomes.c.paid_amount)
                  .where(claim_outcomes.c.claim_id.in_(chunk))
                  .order_by(claim_outcomes.c.claim_id, claim_outcomes.c.last_updated))
        latest = {row.claim_id: row for row in conn.execute(newest)}
        if latest:  # one statement run for every claim, not a statement each
            conn.execute(update(claims).where(claims.c.claim_id == bindparam("claim"))
                         .values(outcome=bindparam("new_outcome"),
                                 paid_amount=bindparam("new_paid")),
                         [{"claim": claim_id, "new_outcome": row.outcome,
                           "new_paid": row.paid_amount} for claim_id, row in latest.items()])
    return written


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
