"""HTTP for collectors: timeouts, retries of transient failures, OAuth2, and a log row per call.

Transient (retried with exponential backoff and full jitter, up to ``max_retries``):
5xx, connection errors, timeouts, 429 (waiting at least its ``Retry-After``), and a 200
whose JSON body is cut off. Anything else (404, 400, a 401 after a fresh token) fails
the stream at once. Every attempt, retries included, is one ``api_calls`` row: source,
endpoint, duration, status, rows, error class, attempt.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, insert

from chargeline.config import OAuth2Client, SourceConfig
from chargeline.errors import SourceError, SourceUnavailable
from store.schema import api_calls

BACKOFF_BASE_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 10.0
RETRY_AFTER_MAX_SECONDS = 60.0


class BadPayload(SourceError):
    """The answer arrived but is not valid JSON even after retries."""

    def __init__(self, message: str, url: str, raw: bytes) -> None:
        super().__init__(message)
        self.url = url
        self.raw = raw


@dataclass
class TokenCache:
    """An OAuth2 client-credentials token, fetched on first use and on expiry or 401."""

    oauth: OAuth2Client
    token: str = ""
    expires_at: float = 0.0

    def valid(self) -> bool:
        return bool(self.token) and time.monotonic() < self.expires_at - 10


@dataclass
class SourceHttp:
    """The HTTP edge of one source for one pass (wraps an injected ``httpx.Client``)."""

    client: httpx.Client
    source: SourceConfig
    run_id: str
    sleep: Callable[[float], None] = time.sleep
    tokens: TokenCache | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.source.oauth2 is not None and self.tokens is None:
            self.tokens = TokenCache(self.source.oauth2)

    # --- the call log ---------------------------------------------------------------
    def _log(self, url: str, started: datetime, seconds: float, status: int | None,
             rows: int, error_class: str, attempt: int) -> None:
        parts = urlsplit(url)
        self.calls.append({
            "run_id": self.run_id, "source": self.source.name,
            "endpoint": parts.path[:200], "started_at": started,
            "duration_ms": seconds * 1000.0, "status_code": status, "rows": rows,
            "error_class": error_class, "attempt": attempt,
        })

    def set_rows(self, rows: int) -> None:
        """Record how many records the last successful call delivered."""
        if self.calls:
            self.calls[-1]["rows"] = rows

    def flush(self, conn: Connection) -> None:
        """Write the buffered call rows (inside the caller's transaction)."""
        if self.calls:
            conn.execute(insert(api_calls), self.calls)
            self.calls = []

    # --- OAuth2 -----------------------------------------------------------------------
    def _token(self, force: bool = False) -> str:
        assert self.tokens is not None
        if self.tokens.valid() and not force:
            return self.tokens.token
        oauth = self.tokens.oauth
        form = {"grant_type": "client_credentials"}
        if oauth.scope:
            form["scope"] = oauth.scope
        auth = (oauth.client_id, oauth.client_secret.get_secret_value())
        response = self._send("POST", oauth.token_url, data=form, auth=auth)
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError):
            raise SourceError(f"{oauth.token_url} answered without an access_token — check "
                              "the client id and secret of the source") from None
        self.tokens.token = token
        self.tokens.expires_at = time.monotonic() + float(body.get("expires_in", 300))
        return token

    # --- requests ---------------------------------------------------------------------
    def get_json(self, url: str, params: dict[str, str] | None = None) -> Any:
        """GET ``url`` and return its JSON, retrying transient failures."""
        refreshed = False
        while True:
            headers = {}
            if self.tokens is not None:
                headers["Authorization"] = f"Bearer {self._token()}"
            try:
                return self._send("GET", url, params=params, headers=headers, parse=True)
            except _Unauthorized:
                if self.tokens is None or refreshed:
                    raise SourceError(f"{url}: 401 Unauthorized — check the source's OAuth2 "
                                      "client credentials") from None
                self._token(force=True)
                refreshed = True

    def _send(self, method: str, url: str, *, parse: bool = False, **kwargs: Any) -> Any:
        attempts = self.source.max_retries + 1
        for attempt in range(1, attempts + 1):
            started = datetime.now(UTC)
            t0 = time.perf_counter()
            wait: float | None = None
            try:
                response = self.client.request(method, url, **kwargs)
                status = response.status_code
                if status == 401 and parse:
                    self._log(url, started, time.perf_counter() - t0, status, 0,
                              "Unauthorized", attempt)
                    raise _Unauthorized
                if status == 429 or status >= 500:
                    error = "TooManyRequests" if status == 429 else "ServerError"
                    self._log(url, started, time.perf_counter() - t0, status, 0, error, attempt)
                    if status == 429:
                        wait = _retry_after(response)
                    failure: Exception = SourceUnavailable(f"{url}: HTTP {status}")
                elif status >= 400:
                    self._log(url, started, time.perf_counter() - t0, status, 0, "ClientError",
                              attempt)
                    raise SourceError(f"{method} {url}: HTTP {status} {response.text[:200]!r}")
                elif not parse:
                    self._log(url, started, time.perf_counter() - t0, status, 0, "", attempt)
                    return response
                else:
                    try:
                        body = json.loads(response.content)
                    except ValueError:
                        self._log(url, started, time.perf_counter() - t0, status, 0,
                                  "TruncatedJson", attempt)
                        failure = BadPayload(f"{url}: the JSON answer is cut off or invalid",
                                             str(response.url), response.content)
                    else:
                        self._log(url, started, time.perf_counter() - t0, status, 0, "",
                                  attempt)
                        return body
            except httpx.TransportError as exc:
                self._log(url, started, time.perf_counter() - t0, None, 0,
                          type(exc).__name__, attempt)
                failure = SourceUnavailable(f"{method} {url}: {type(exc).__name__} {exc}")
            if attempt == attempts:
                raise failure
            self.sleep(_backoff(attempt, wait))
        raise AssertionError("unreachable")


class _Unauthorized(Exception):
    pass


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX_SECONDS)
    except ValueError:
        return 1.0


def _backoff(attempt: int, at_least: float | None) -> float:
    """Exponential backoff with full jitter; never shorter than a server's Retry-After."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)
    return max(delay, at_least) if at_least is not None else delay
