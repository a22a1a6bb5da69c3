"""A small, scriptable estate served over real HTTP (uvicorn on a free loopback port).

It follows docs/wire-formats.md (FHIR searchset paging, ``_lastUpdated`` / ``$filter``
with ge/gt, OAuth2 client credentials, faults on a URL's first attempt) but lets a test
decide exactly which request faults and how (a 503, a 429 with Retry-After, a real
timeout, a body cut off, a page that stays cut off, a revoked token), which the
seeded simulator cannot. The acceptance tests run against the simulator itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _cmp(value: str, op: str, bound: str) -> bool:
    return {"gt": value > bound, "ge": value >= bound, "lt": value < bound,
            "le": value <= bound}[op]


@dataclass
class FakeEstate:
    fhir: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    odata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    channels: list[dict[str, Any]] = field(default_factory=list)
    # path+query -> fault kind on its first attempt: 5xx, 429, timeout, truncated,
    # always_truncated, always_5xx, 404
    fault_rule: Callable[[str], str] | None = None
    timeout_seconds: float = 1.0  # how long a "timeout" fault stalls before answering
    retry_after: str = "0"
    attempts: Counter = field(default_factory=Counter)
    token_expires_in: int = 300
    client_secret: str = "demo-secret"
    tokens_issued: int = 0
    revoked: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    on_request: Callable[[str], None] | None = None
    base_url: str = ""
    bundle_total: int | None = None  # Bundle.total to report (FHIR allows an estimate)

    # --- the app ------------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._endpoint,
                                       methods=["GET", "POST"])])

    async def _endpoint(self, request: Request) -> Response:
        query = request.url.query
        key = request.url.path + ("?" + query if query else "")
        auth = request.headers.get("authorization", "")
        if request.url.path == "/oauth/token":
            form = parse_qs((await request.body()).decode())
            secret = form.get("client_secret", [""])[0]
            if auth.lower().startswith("basic "):
                secret = base64.b64decode(auth[6:]).decode().partition(":")[2]
            if secret != self.client_secret or form.get("grant_type") != ["client_credentials"]:
                self.requests.append(key)
                return Response(b'{"error": "invalid_client"}', 401,
                                media_type="application/json")
        status, headers, body, delay = self.handle(request.method, request.url.path, query,
                                                   auth)
        if delay:
            await asyncio.sleep(delay)
        self.requests.append(key)
        return Response(body, status, headers=headers, media_type="application/json")

    def handle(self, method: str, path: str, query: str, auth: str
               ) -> tuple[int, dict[str, str], bytes, float]:
        key = path + ("?" + query if query else "")
        self.attempts[key] += 1
        if self.on_request is not None:
            self.on_request(key)
        if path == "/oauth/token":
            self.tokens_issued += 1
            return 200, {}, json.dumps({"access_token": f"tok{self.tokens_issued}",
                                        "token_type": "Bearer",
                                        "expires_in": self.token_expires_in}).encode(), 0
        fault = self.fault_rule(key) if self.fault_rule else ""
        first = self.attempts[key] == 1
        if fault == "404":
            return 404, {}, b'{"error": "no such thing"}', 0
        if fault == "always_5xx" or (fault == "5xx" and first):
            return 503, {}, b"busy", 0
        if fault == "429" and first:
            return 429, {"Retry-After": self.retry_after}, b"slow down", 0
        if fault == "timeout" and first:
            return 504, {}, b"late", self.timeout_seconds
        if fault == "always_truncated":
            return 200, {}, b'{"resourceType": "Bundle", "entr', 0
        params = parse_qs(query)
        if path.startswith(("/billing/fhir/", "/ehr/fhir/")):
            if path.startswith("/billing") and (not auth or auth[7:] in self.revoked):
                return 401, {}, b'{"resourceType": "OperationOutcome"}', 0
            body: Any = self._bundle(path.rsplit("/", 1)[1], params, path)
        elif path.startswith("/erp/odata/"):
            body = self._odata(path.rsplit("/", 1)[1], params, path)
        elif path == "/engine/api/channels":
            body = {"generatedAt": "2026-11-25T10:00:00.000Z", "channels": self.channels}
        else:
            return 404, {}, b"{}", 0
        content = json.dumps(body).encode()
        if fault == "truncated" and first:
            content = content[: len(content) // 2]
        return 200, {}, content, 0

    # --- searches -----------------------------------------------------------------------
    def _page(self, rows: list[dict[str, Any]], stamp: Callable[[dict[str, Any]], str],
              filters: list[tuple[str, str]], offset: int, size: int
              ) -> tuple[list[dict[str, Any]], bool]:
        chosen = [r for r in rows if all(_cmp(stamp(r), op, b) for op, b in filters)]
        chosen.sort(key=lambda r: (stamp(r), json.dumps(r, sort_keys=True)))
        return chosen[offset : offset + size], offset + size < len(chosen)

    def _bundle(self, rtype: str, query: dict[str, list[str]], path: str) -> dict[str, Any]:
        filters = [(v[:2], v[2:]) for v in query.get("_lastUpdated", [])]
        size = int(query.get("_count", ["100"])[0])
        offset = int(query.get("_offset", ["0"])[0])
        rows, more = self._page(self.fhir.get(rtype, []), lambda r: r["meta"]["lastUpdated"],
                                filters, offset, size)
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "total": len(rows) if self.bundle_total is None
                                  else self.bundle_total,
                                  "entry": [{"resource": r} for r in rows],
                                  "link": []}
        if more:
            q = {k: v for k, v in query.items() if k != "_offset"}
            nxt = urlencode([*[(k, x) for k, vs in q.items() for x in vs],
                             ("_offset", str(offset + size))])
            bundle["link"].append({"relation": "next", "url": f"{self.base_url}{path}?{nxt}"})
        return bundle

    def _odata(self, entity: str, query: dict[str, list[str]], path: str) -> dict[str, Any]:
        filters = []
        for clause in query.get("$filter", []):
            for part in clause.split(" and "):
                _field, op, bound = part.split(" ", 2)
                filters.append((op, bound))
        size = int(query.get("$top", ["100"])[0])
        offset = int(query.get("$skip", ["0"])[0])
        rows, more = self._page(self.odata.get(entity, []), lambda r: r["ModifiedAt"],
                                filters, offset, size)
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/erp/odata/$metadata#{entity}", "value": rows}
        if more:
            q = {k: v for k, v in query.items() if k != "$skip"}
            nxt = urlencode([*[(k, x) for k, vs in q.items() for x in vs],
                             ("$skip", str(offset + size))])
            body["@odata.nextLink"] = f"{self.base_url}{path}?{nxt}"
        return body


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           access_log=False, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve(estate: FakeEstate) -> Iterator[str]:
    """Serve ``estate`` on a free loopback port; yields its base URL."""
    with serve_app(estate.app()) as base_url:
        estate.base_url = base_url
        yield base_url


def free_port() -> int:
    """A loopback port nobody listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
