"""API pages converted in order, on the pass's worker processes once a stream is long.

A FHIR searchset Bundle or an OData page becomes rows ready to write (validated, mapped,
hashed: ``collectors.data.pages.prepare_rows``) in a task (``fhir_page_task``,
``odata_page_task``) that runs in-process for a short stream and on the pass's workers
(``collectors.workers``) when a stream is a backlog (``worth_workers``): a first load or a
catch-up, where starting the processes (~0.5 s of CPU each, as much as converting
thousands of records) pays for itself, or when an earlier stream or pass left them
running. ``convert_in_order`` hands the converted pages to the stream's commit
strictly in the order they were read, one transaction each, so the watermark and the
exactly-once argument of ``collectors.base`` are those of a sequential read; a fetch
failure surfaces only after every page read before it was committed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from collectors import jsonio
from collectors.base import CollectContext, Reject
from collectors.data.pages import PreparedRows, prepare_rows
from collectors.fhir_records import ClaimOutcome, parse_bundle
from collectors.mapping import RecordMapping, load_mapping
from collectors.odata_records import parse_odata_page
from collectors.paging import Fetched
from collectors.workers import Done, run_task
from core.errors import RecordError

FHIR_TASK = "collectors.page_tasks:fhir_page_task"
ODATA_TASK = "collectors.page_tasks:odata_page_task"
START_BACKLOG = 20_000  # records still to come that pay for starting the workers
START_AFTER_PAGES = 20  # without a count from the source, a stream this long is a backlog


@dataclass(slots=True)
class ConvertedPage:
    """One page as rows ready to write, or why the whole page is unusable."""

    rows: PreparedRows = field(default_factory=PreparedRows)
    rejects: list[Reject] = field(default_factory=list)
    newest: str = ""  # greatest modified instant on the page (the watermark candidate)
    outcomes: list[ClaimOutcome] = field(default_factory=list)  # FHIR ClaimResponse
    claim_ids: set[str] = field(default_factory=set)  # FHIR Claim: outcomes to re-apply
    error: str = ""  # the page itself is unusable (not a Bundle, not an OData page)


@lru_cache(maxsize=64)
def _mapping(kind: str, mapping_file: str, stream: str) -> RecordMapping:
    return load_mapping(kind, mapping_file)[stream]


def _body(body: Any) -> Any:
    # a worker gets the page's bytes (cheaper to send than the parsed tree)
    return jsonio.loads(body) if isinstance(body, bytes) else body


def _body_nested(body: Any) -> tuple[Any, int | None]:
    """The page and, read from bytes, its depth (``jsonio.loads_nested``)."""
    return jsonio.loads_nested(body) if isinstance(body, bytes) else (body, None)


def fhir_page_task(setup: tuple[str, str, str, str, str], page: tuple[str, Any]
                   ) -> ConvertedPage:
    """Validate, map and prepare one searchset page. ``setup`` is (source kind, mapping
    file, resource type, PHI secret, source name); ``page`` is (URL, body or bytes)."""
    kind, mapping_file, resource_type, secret, source = setup
    url, body = page
    mapping = _mapping(kind, mapping_file, resource_type)
    try:
        bundle, nesting = _body_nested(body)
        parsed = parse_bundle(bundle, resource_type, mapping, secret, url, nesting=nesting)
    except RecordError as exc:
        return ConvertedPage(error=exc.reason)
    claim_ids = {r.key()[0] for r in parsed.records if r.kind == "claim"}
    return ConvertedPage(prepare_rows(parsed.records, source=source), parsed.rejects,
                         parsed.newest, parsed.outcomes, claim_ids)


def odata_page_task(setup: tuple[str, str, str, str], page: tuple[str, Any]) -> ConvertedPage:
    """Map and prepare one OData page. ``setup`` is (source kind, mapping file, entity
    set, source name); ``page`` is (URL, body or bytes)."""
    kind, mapping_file, entity_set, source = setup
    url, body = page
    mapping = _mapping(kind, mapping_file, entity_set)
    try:
        parsed = parse_odata_page(_body(body), entity_set, mapping, url)
    except RecordError as exc:
        return ConvertedPage(error=exc.reason)
    return ConvertedPage(prepare_rows(parsed.records, source=source), parsed.rejects,
                         parsed.newest)


def worth_workers(running: bool, fetched: Fetched, pages: int, records: int,
                  total: int | None) -> bool:
    """Whether a stream's later pages go to the worker processes: when more pages follow
    and the workers already run (warm from an earlier stream or pass), or the backlog
    still to come pays for starting them: ``START_BACKLOG`` records by the source's own
    count (``total``), or, without one, a stream already ``START_AFTER_PAGES`` long."""
    if not fetched.next_url:
        return False
    if running:
        return True
    if total is not None:
        return total - records >= START_BACKLOG
    return pages >= START_AFTER_PAGES


def convert_in_order(ctx: CollectContext, pages: Iterator[Fetched], task: str, setup: Any,
                     commit: Callable[[Fetched, ConvertedPage], None],
                     total_of: Callable[[Any], int | None] | None = None) -> None:
    """Convert every page of a stream with ``task`` and ``commit`` each, in order.
    ``total_of(body)`` reads the source's count of matching records, when it gives one;
    without it the stream is converted in-process (a page whose conversion costs about
    what sending it to a worker and its rows back would, as OData rows do)."""
    pool = ctx.worker_pool()
    pending: deque[tuple[Fetched, Any]] = deque()

    def commit_oldest() -> None:
        fetched, job = pending.popleft()
        commit(fetched, job.result())

    seen, parallel = 0, False
    while True:
        try:
            fetched = next(pages)
        except StopIteration:
            break
        except BaseException:
            while pending:  # what was read before the failure is committed first
                commit_oldest()
            raise
        if total_of is not None and not parallel and worth_workers(
                bool(pool.workers), fetched, seen, seen * ctx.source.page_size,
                total_of(fetched.body)):
            parallel = pool.start()
        seen += 1
        if parallel:
            body = fetched.raw or fetched.body
            pending.append((fetched, pool.submit(task, setup, (fetched.url, body))))
        else:
            pending.append((fetched, Done(run_task(task, setup, (fetched.url, fetched.body)))))
        while len(pending) >= (pool.in_flight if parallel else 1):
            commit_oldest()
    while pending:
        commit_oldest()
