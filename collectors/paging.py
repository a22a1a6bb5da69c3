"""Walking a paged search, fetching the next page while this one is converted and
committed.

A page's next link is read as soon as the page arrives, and the next request goes out on
a helper thread while the caller validates, maps and commits the page in hand: the
network (or the source's own work on the next page) overlaps with ours. Pages are still
handed over and committed strictly in order, one at a time, so the watermark and
exactly-once argument of ``collectors.base`` is unchanged; a failure of page N+1
surfaces only after page N was committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from core.errors import RecordError


@dataclass
class Fetched:
    url: str  # the URL asked for, query included (for quarantine positions)
    body: Any
    call: dict[str, Any] | None  # its api_calls row, to count its records on
    raw: bytes = b""  # the body as received, for a worker process to read again
    next_url: str | None = None  # the page after it, as its body links it


def walk(http: Any, url: str, params: dict[str, str] | None,
         next_of: Callable[[Any], str | None]) -> Iterator[Fetched]:
    """Yield each page of a search from ``url`` on, following ``next_of(body)``."""

    def fetch(target: str, query: dict[str, str] | None) -> Fetched:
        shown = target if query is None else str(http.client.build_request(
            "GET", target, params=query).url)
        body, raw, call = http.fetch_page(target, query)
        return Fetched(shown, body, call, raw)

    with ThreadPoolExecutor(1, thread_name_prefix="prefetch") as pool:
        pending: Future[Fetched] | None = pool.submit(fetch, url, params)
        try:
            while pending is not None:
                page = pending.result()
                pending = None
                try:
                    following = next_of(page.body)
                except RecordError:
                    following = None  # the caller's parser rejects the page with its reason
                if following:
                    # a relative link is read against the page that gave it
                    page.next_url = urljoin(page.url, following)
                    pending = pool.submit(fetch, page.next_url, None)
                yield page
        finally:
            if pending is not None:
                pending.cancel()
