"""The demo estate over real HTTP: one Starlette app, four systems (docs/wire-formats.md).

``create_app(estate)`` builds the app; ``serve_in_thread(estate)`` runs it under uvicorn
in a background thread for tests and the demo::

    with serve_in_thread(estate) as server:
        httpx.get(f"{server.base_url}/health")

A page is rendered only from its own records (bisection over the served collections), so
a page of 500 costs the same at any depth. The clock is the estate end (a fixed snapshot)
unless ``live``, where it is the wall clock and records appear as their time passes.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from simulator.engine_stats import build_timelines, channels_payload
from simulator.estate_record import Estate
from simulator.httpfaults import FaultInjector, HttpFault
from simulator.index import Collection, Page
from simulator.mirth_api import mirth_routes
from simulator.odata import KEYS
from simulator.query import QueryError, Search, parse_fhir, parse_odata
from simulator.rendering import Rendering
from simulator.served import BILLING, EHR, build_collections

DEMO_CLIENT_ID = "chargeline"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the documented demo client
FHIR_JSON = "application/fhir+json"
ODATA_JSON = "application/json;odata.metadata=minimal"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _outcome(status: int, code: str, message: str, parameter: str = "") -> Response:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    if parameter:
        issue["expression"] = [parameter]
    return Response(_dumps({"resourceType": "OperationOutcome", "issue": [issue]}), status,
                    media_type=FHIR_JSON)


def _odata_error(status: int, code: str, message: str, target: str = "") -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if target:
        error["target"] = target
    return Response(_dumps({"error": error}), status, media_type=ODATA_JSON)


@dataclass
class EstateServer:
    """The state behind the app: estate, clock, tokens and the HTTP fault injector;
    ``rendering`` says how records are written (simulator.rendering; default plain)."""

    estate: Estate
    live: bool = False
    clock: Callable[[], int] | None = None
    token_ttl_seconds: float = 300.0
    timeout_fault_seconds: float = 15.0
    rendering: Rendering | None = None

    def __post_init__(self) -> None:
        plain = self.rendering is None or self.rendering.is_plain
        self.collections = (self.estate.collections if plain
                            else build_collections(self.estate, self.rendering))
        self.timelines = build_timelines(self.estate)
        self.faults = FaultInjector(self.estate.seed, self.estate.config.faults,
                                    served=self.estate.truth.setdefault("http_faults", []))
        self.tokens: dict[str, float] = {}
        self.tokens_lock = threading.Lock()

    def now(self) -> int:
        """The estate's clock in epoch ms."""
        if self.clock is not None:
            return self.clock()
        return int(time.time() * 1000) if self.live else self.estate.end_ms

    # --- OAuth2 -------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = ""
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "use grant_type=client_credentials"},
                                400)
        if not (secrets.compare_digest(client_id, DEMO_CLIENT_ID)
                and secrets.compare_digest(secret, DEMO_CLIENT_SECRET)):
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "unknown client id or wrong secret"},
                                401, headers={"WWW-Authenticate": 'Basic realm="billing"'})
        token = secrets.token_urlsafe(24)
        with self.tokens_lock:
            self.tokens[token] = time.monotonic() + self.token_ttl_seconds
        return JSONResponse({"access_token": token, "token_type": "Bearer",
                             "expires_in": int(self.token_ttl_seconds)})

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            problem = "no bearer token; get one from /oauth/token (client credentials)"
        else:
            expiry = self.tokens.get(header[7:].strip())
            if expiry is None:
                problem = "unknown access token; get a new one from /oauth/token"
            elif time.monotonic() >= expiry:
                problem = "the access token has expired; get a new one from /oauth/token"
            else:
                return None
        response = _outcome(401, "login", problem)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    # --- pages --------------------------------------------------------------------------
    def _page(self, col: Collection, search: Search) -> tuple[Page, int]:
        now = search.now if search.now is not None else self.now()
        return col.page(now, search.lo, search.hi, search.after, search.size), now

    async def fhir(self, request: Request) -> Response:
        system = request.url.path.split("/")[1]
        name = request.path_params["resource"]
        col = self.collections.get(f"{system}/{name}")
        if col is None:
            served = ", ".join(BILLING if system == "billing" else EHR)
            return _outcome(404, "not-supported", f"{name} is not served here; try {served}")
        if system == "billing":
            denied = self._unauthorized(request)
            if denied is not None:
                return denied
        try:
            search = parse_fhir(list(request.query_params.multi_items()))
        except QueryError as exc:
            return _outcome(400, "invalid", str(exc), exc.parameter)
        page, now = self._page(col, search)
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        links = [{"relation": "self", "url": str(request.url)}]
        if page.more and page.last is not None:
            links.append({"relation": "next",
                          "url": f"{base}?_cursor={search.cursor(page.last, now)}"})
        root = base.rsplit("/", 1)[0]
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": page.total,
                  "link": links,
                  "entry": [{"fullUrl": f"{root}/{name}/{res['id']}", "resource": res,
                             "search": {"mode": "match"}}
                            for res in map(col.render, page.records)]}
        return await self._answer(request, _dumps(bundle), FHIR_JSON)

    async def odata(self, request: Request) -> Response:
        name = request.path_params["entity"]
        col = self.collections.get(f"erp/{name}")
        if col is None:
            return _odata_error(404, "NotFound", f"no entity set {name!r}; the service has "
                                                 f"{', '.join(KEYS)}")
        try:
            search = parse_odata(list(request.query_params.multi_items()), KEYS[name])
        except QueryError as exc:
            return _odata_error(400, "BadRequest", str(exc), exc.parameter)
        page, now = self._page(col, search)
        root = f"{request.url.scheme}://{request.url.netloc}/erp/odata"
        body: dict[str, Any] = {"@odata.context": f"{root}/$metadata#{name}",
                                "value": [col.render(r) for r in page.records]}
        if page.more and page.last is not None:
            body["@odata.nextLink"] = f"{root}/{name}?$skiptoken={search.cursor(page.last, now)}"
        return await self._answer(request, _dumps(body), ODATA_JSON)

    async def service_document(self, request: Request) -> Response:
        root = f"{request.url.scheme}://{request.url.netloc}/erp/odata"
        return Response(_dumps({"@odata.context": f"{root}/$metadata", "value": [
            {"name": n, "kind": "EntitySet", "url": n} for n in KEYS]}), media_type=ODATA_JSON)

    async def channels(self, request: Request) -> Response:
        return await self._answer(request, _dumps(channels_payload(self.timelines, self.now())),
                                  "application/json")

    async def _answer(self, request: Request, body: bytes, media_type: str) -> Response:
        """The page, or the fault its first attempt gets."""
        fault = self.faults.on_request(request.method, request.url.path, request.url.query)
        if fault is None:
            return Response(body, media_type=media_type)
        return await self._fault(fault, body, media_type)

    async def _fault(self, fault: HttpFault, body: bytes, media_type: str) -> Response:
        if fault.kind == "http_429":
            return Response(b'{"error":"too many requests"}', 429, media_type="application/json",
                            headers={"Retry-After": str(fault.retry_after)})
        if fault.kind == "timeout":
            await asyncio.sleep(self.timeout_fault_seconds)
            return Response(b'{"error":"gateway timeout"}', 504, media_type="application/json")
        if fault.kind == "truncated_json":
            return Response(body[: max(1, len(body) // 2)], 200, media_type=media_type)
        return Response(b'{"error":"upstream failure"}', fault.status,
                        media_type="application/json")

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def served_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": list(self.faults.served)})

    def app(self) -> Starlette:
        """The Starlette application."""
        return Starlette(routes=[
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/billing/fhir/{resource}", self.fhir),
            Route("/ehr/fhir/{resource}", self.fhir),
            Route("/erp/odata/", self.service_document),
            Route("/erp/odata/{entity}", self.odata),
            Route("/engine/api/channels", self.channels),
            *mirth_routes(self.timelines, self.now),  # the engine as NextGen Connect serves it
            Route("/health", self.health),
            Route("/_faults", self.served_faults),
        ])


def create_app(estate: Estate, **options: Any) -> Starlette:
    """The Starlette app serving ``estate`` (options: see ``EstateServer``)."""
    return EstateServer(estate, **options).app()


def freeze_heap() -> None:
    """Move every object alive now (the estate) out of the cycle collector's sight.

    Rendering pages allocates many short-lived dicts; each full collection would otherwise
    walk the whole estate, which triples the cost of a page (and of the client's parse in
    the same process). Objects frozen here are still freed by reference counting."""
    gc.collect()
    gc.freeze()


@dataclass
class RunningServer:
    base_url: str
    server: EstateServer


@contextmanager
def serve_in_thread(estate: Estate, host: str = "127.0.0.1", port: int = 0,
                    freeze: bool = True, **options: Any) -> Iterator[RunningServer]:
    """Serve ``estate`` under uvicorn in a daemon thread (``port=0``: a free port); stop
    it on exit. ``options`` go to ``EstateServer`` (live, clock, token_ttl_seconds,
    timeout_fault_seconds, rendering). ``freeze`` freezes the process heap first (``freeze_heap``):
    right for benchmarks and the demo, a process-wide side effect tests may not want."""
    state = EstateServer(estate, **options)
    if freeze:
        freeze_heap()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(state.app(), log_level="warning", lifespan="off",
                                           access_log=False, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"estate-server-{sock.getsockname()[1]}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the estate server did not start (see the log above)")
        time.sleep(0.01)
    try:
        yield RunningServer(f"http://{host}:{sock.getsockname()[1]}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
