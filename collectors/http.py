"""HTTP for collectors: timeouts, retries of transient failures, OAuth2, and a log row per call.

Transient (retried with exponential backoff and full jitter, up to ``max_retries``):
5xx, connection errors, timeouts, 429 (waiting at least its ``Retry-After``), and a 200
whose JSON body is cut off. Anything else (404, 400, a 401 after a fresh token, a URL
with no http scheme) fails the stream at once. Every attempt, retries included, is one
``api_calls`` row (source, endpoint, duration, status, rows, error class, attempt) and
one DEBUG line on the ``chargeline.collectors.http`` logger (WARNING when it failed).
"""

from __future__ import annotations

import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection

from collectors import jsonio
from collectors.data.api_calls import write_api_calls
from core.config import OAuth2Client, SourceConfig
from core.errors import SourceError, SourceUnavailable

log = logging.getLogger("chargeline.collectors.http")
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 10.0
RETRY_AFTER_MAX_SECONDS = 60.0


def secret_variable(source_name: str) -> str:
    """The environment variable that holds a source's OAuth2 client secret."""
    return "CHARGELINE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", source_name.upper())


def client_secret(source: SourceConfig) -> str:
    """A source's client secret: ``CHARGELINE_SECRET_<SOURCE>`` when set, else the
    config value, where ``env:NAME`` reads the variable NAME. Secrets stay out of config
    files this way (``sources`` is a list, so CHARGELINE_SOURCES__... cannot reach it)."""
    assert source.oauth2 is not None
    from_env = os.environ.get(secret_variable(source.name))
    if from_env:
        return from_env
    value = source.oauth2.client_secret.get_secret_value()
    if value.startswith("env:"):
        name = value[4:]
        if not os.environ.get(name):
            raise SourceError(f"source {source.name}: client_secret is env:{name} but {name} "
                              f"is not set — export it (or {secret_variable(source.name)})")
        return os.environ[name]
    return value


class BadPayload(SourceError):
    """The answer arrived but is not valid JSON even after retries. ``reason`` says what
    it was, for the quarantine row; ``error_class`` is the call log's class."""

    def __init__(self, message: str, url: str, raw: bytes,
                 reason: str = "truncated or invalid JSON page",
                 error_class: str = "TruncatedJson") -> None:
        super().__init__(message)
        self.url = url
        self.raw = raw
        self.reason = reason
        self.error_class = error_class


def _not_json(url: str, response: httpx.Response) -> BadPayload:
    """The failure of an answer that did not parse: a web page or XML said as such,
    with its status and type (a sign-in or maintenance page is not a cut-off page)."""
    content_type = response.headers.get("content-type", "")
    markup = jsonio.markup_kind(response.content, content_type)
    if not markup:
        return BadPayload(f"{url}: the JSON answer is cut off or invalid", str(response.url),
                          response.content)
    return BadPayload(
        f"{url}: the answer is {markup}, not JSON (HTTP {response.status_code}, Content-Type "
        f"{content_type or 'not given'}) — a sign-in, proxy or maintenance page? check the "
        "source's base_url and credentials", str(response.url), response.content,
        reason=f"{markup} answer instead of JSON (HTTP {response.status_code}, "
               f"{content_type or 'no Content-Type'})",
        error_class=f"{markup.title()}Answer")


@dataclass
class TokenCache:
    """An OAuth2 client-credentials token, fetched on first use and on expiry or 401."""

    oauth: OAuth2Client
    token: str = ""
    expires_at: float = 0.0

    def valid(self) -> bool:
        return bool(self.token) and time.monotonic() < self.expires_at

    def store(self, token: str, expires_in: float) -> None:
        # renew a little early (a tenth of the lifetime, at most 10 s) so a token never
        # expires between the check and the server reading it
        self.token = token
        self.expires_at = time.monotonic() + expires_in - min(10.0, expires_in / 10)


@dataclass
class SourceHttp:
    """The HTTP edge of one source for one pass (wraps an injected ``httpx.Client``)."""

    client: httpx.Client
    source: SourceConfig
    run_id: str
    sleep: Callable[[float], None] = time.sleep
    tokens: TokenCache | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    # a page may be fetched on a prefetch thread while the last one is committed
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.source.oauth2 is not None and self.tokens is None:
            self.tokens = TokenCache(self.source.oauth2)

    # --- the call log ---------------------------------------------------------------
    def _log(self, url: str, started: datetime, seconds: float, status: int | None,
             rows: int, error_class: str, attempt: int, *, pending: bool = False
             ) -> dict[str, Any]:
        endpoint = urlsplit(url).path[:200]  # never the query: it may carry anything
        row = {
            "run_id": self.run_id, "source": self.source.name,
            "endpoint": endpoint, "started_at": started,
            "duration_ms": seconds * 1000.0, "status_code": status, "rows": rows,
            "error_class": error_class, "attempt": attempt,
            "_pending": pending,  # a page whose row count is not known yet
        }
        with self._lock:
            self.calls.append(row)
        log.log(logging.WARNING if error_class else logging.DEBUG,
                "%s %s attempt %d: status %s, %.0f ms%s", self.source.name, endpoint, attempt,
                status, seconds * 1000.0, f", {error_class}" if error_class else "")

        return row

    def set_rows(self, rows: int, call: dict[str, Any] | None = None) -> None:
        """Record how many records a page (default: the last one fetched) delivered."""
        target = call if call is not None else self._last
        if target is not None:
            target["rows"] = rows
            target["_pending"] = False

    def flush(self, conn: Connection, everything: bool = False) -> None:
        """Write the buffered call rows (inside the caller's transaction); a page still
        being fetched or counted waits for the next flush unless ``everything``."""
        with self._lock:
            ready = [c for c in self.calls if everything or not c["_pending"]]
            self.calls = [c for c in self.calls if not (everything or not c["_pending"])]
        if ready:
            write_api_calls(conn, [{k: v for k, v in c.items() if k != "_pending"}
                                   for c in ready])

    def fetch_page(self, url: str, params: dict[str, str] | None = None
                   ) -> tuple[Any, bytes, dict[str, Any] | None]:
        """GET ``url``: its JSON, its raw bytes (for a worker process to read again) and
        the call-log row to count its records on."""
        body, raw = self._get(url, params)
        return body, raw, self._last

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with the source's retries and call log, its answer as it came (any
        2xx, whatever its type: an engine's XML); a 4xx other than 429 raises
        ``HttpRefused`` with its status (a 401 there is for the caller's sign-in)."""
        try:
            response: httpx.Response = self._send(method, url, **kwargs)
        except _ClientRefused as exc:
            raise HttpRefused(f"{method} {exc.url}: HTTP {exc.status} {exc.detail}",
                              exc.status) from None
        with self._lock:
            self._last = self.calls[-1] if self.calls else None
        return response

    # --- OAuth2 -----------------------------------------------------------------------
    def _token(self, force: bool = False) -> str:
        assert self.tokens is not None
        if self.tokens.valid() and not force:
            return self.tokens.token
        oauth = self.tokens.oauth
        form = {"grant_type": "client_credentials"}
        if oauth.scope:
            form["scope"] = oauth.scope
        auth = (oauth.client_id, client_secret(self.source))
        try:
            response = self._send("POST", oauth.token_url, data=form, auth=auth)
        except _ClientRefused as exc:
            raise SourceError(
                f"the token endpoint {oauth.token_url} refused the client credentials "
                f"(HTTP {exc.status} {exc.detail}) — check the source's oauth2 client_id and "
                f"client_secret (or set {secret_variable(self.source.name)})") from None
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{oauth.token_url} answered without an access_token — check "
                              "the source's oauth2 token_url") from None
        self.tokens.store(str(token), expires_in)
        return self.tokens.token

    # --- requests ---------------------------------------------------------------------
    def get_json(self, url: str, params: dict[str, str] | None = None) -> Any:
        """GET ``url`` and return its JSON, retrying transient failures."""
        return self._get(url, params)[0]

    def _get(self, url: str, params: dict[str, str] | None) -> tuple[Any, bytes]:
        refreshed = False
        while True:
            headers = {}
            if self.tokens is not None:
                headers["Authorization"] = f"Bearer {self._token()}"
            try:
                return self._send("GET", url, params=params, headers=headers, parse=True)
            except _ClientRefused as exc:
                raise SourceError(f"GET {exc.url}: HTTP {exc.status} {exc.detail} — check the "
                                  "source's base_url and mapping") from None
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
                    raise _ClientRefused(str(response.url), status, response.text[:200])
                elif not parse:
                    self._log(url, started, time.perf_counter() - t0, status, 0, "", attempt)
                    return response
                else:
                    try:
                        body = jsonio.loads(response.content)
                    except jsonio.JsonBoundError as exc:
                        # too big or too deep: the same again on a retry, so none
                        self._log(url, started, time.perf_counter() - t0, status, 0,
                                  "JsonBound", attempt)
                        raise BadPayload(f"{url}: {exc.reason}", str(response.url),
                                         response.content, reason=exc.reason,
                                         error_class="JsonBound") from None
                    except ValueError:
                        failure = _not_json(url, response)
                        self._log(url, started, time.perf_counter() - t0, status, 0,
                                  failure.error_class, attempt)
                    else:
                        self._last = self._log(url, started, time.perf_counter() - t0, status,
                                               0, "", attempt, pending=True)
                        return body, response.content
            except TRANSIENT_ERRORS as exc:
                if _untrusted_certificate(exc):  # the same on every retry: say the fix
                    self._log(url, started, time.perf_counter() - t0, None, 0,
                              "UntrustedCertificate", attempt)
                    raise SourceError(
                        f"{method} {url}: the server's TLS certificate is not trusted "
                        f"({exc}) — an engine with a self-signed certificate: export it "
                        "(openssl s_client -showcerts) and set ca_file: <that PEM file> on "
                        f"source {self.source.name}") from None
                self._log(url, started, time.perf_counter() - t0, None, 0,
                          type(exc).__name__, attempt)
                failure = SourceUnavailable(f"{method} {url}: {type(exc).__name__} {exc}")
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a bad URL: not transient
                self._log(url, started, time.perf_counter() - t0, None, 0,
                          type(exc).__name__, attempt)
                raise SourceError(f"{method} {url}: {type(exc).__name__} {exc} — check the "
                                  "source's base_url") from None
            if attempt == attempts:
                raise failure
            self.sleep(_backoff(attempt, wait))
        raise AssertionError("unreachable")


def _untrusted_certificate(exc: BaseException) -> bool:
    """A TLS handshake refused for the server's certificate (not a network failure)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


# Worth another attempt: the server or the network may recover. A malformed URL, a
# proxy refusal or a protocol error on our side will not.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Unauthorized(Exception):
    pass


class HttpRefused(SourceError):
    """A 4xx answer (not 429) to ``SourceHttp.send``: our request or credentials are
    wrong, retrying will not help. ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _ClientRefused(Exception):
    """A 4xx other than 401/429: our request is wrong; retrying will not help."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        super().__init__(url)
        self.url = url
        self.status = status
        self.detail = detail


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked us to wait: ``Retry-After`` as seconds or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = 1.0
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def _backoff(attempt: int, at_least: float | None) -> float:
    """Exponential backoff with full jitter; never shorter than a server's Retry-After."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)
    return max(delay, at_least) if at_least is not None else delay
