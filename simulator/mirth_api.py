"""The demo estate's engine as NextGen Connect (Mirth) serves it: the part of its REST API
that Chargeline's ``mirth`` source reads, under ``/mirth/api``.

``POST /users/_login`` (form username, password; ``admin``/``admin`` as a fresh Mirth
install; a JSESSIONID cookie), ``POST /users/_logout``, ``GET /channels/statistics``,
``/channels/statuses``, ``/channels/idsAndNames`` and ``/channelgroups``; HTTP basic
credentials work too. As Mirth: 400 without ``X-Requested-With``, 401 without a session,
XML unless ``Accept: application/json`` (then the XML's Staxon form: one child an object,
several a list). The counters are the estate's channel timelines (simulator.engine_stats)
at the estate's clock; each channel is named by its id (FAC01_CHG_OUT), has a UUID
derived from it and sits in the channel group of its facility (named by its id).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.engine_stats import ChannelTimeline

DEMO_USER = "admin"
DEMO_PASSWORD = "admin"  # noqa: S105 - a fresh Mirth install's documented default
SERVER_ID = "5d3c1b2a-0f9e-4d8c-b7a6-958473625140"
STATUS = "com.mirth.connect.donkey.model.message.Status"
Tree = dict[str, Any]  # element name -> text, a Tree, or a list of them (repeated)


def channel_uuid(channel_id: str) -> str:
    """The stable Mirth-style id of an estate channel."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chargeline-demo:{channel_id}"))


def to_xml(tag: str, value: Any, attrs: dict[str, str] | None = None) -> str:
    """``value`` as XStream writes it under ``<tag>``."""
    attr = "".join(f' {k}="{escape(v)}"' for k, v in (attrs or {}).items())
    if isinstance(value, dict):
        inner = "".join(to_xml(k, item, value.get(f"@{k}"))
                        for k, v in value.items() if not k.startswith("@")
                        for item in (v if isinstance(v, list) else [v]))
        return f"<{tag}{attr}>{inner}</{tag}>"
    if value is None or value == "":
        return f"<{tag}{attr}/>"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{tag}{attr}>{escape(text)}</{tag}>"


def to_staxon(value: Any) -> Any:
    """``value`` as Staxon turns that XML into JSON (auto-array: a list of one is its
    element; empty elements null)."""
    if isinstance(value, dict):
        return {k: to_staxon(v[0] if isinstance(v, list) and len(v) == 1 else v)
                for k, v in value.items() if not k.startswith("@")}
    if isinstance(value, list):
        return [to_staxon(v) for v in value]
    return None if value == "" else value


def _counts(received: int, filtered: int, sent: int, errored: int) -> Tree:
    return {"entry": [{STATUS: s, "long": n} for s, n in
                      (("RECEIVED", received), ("FILTERED", filtered), ("SENT", sent),
                       ("ERROR", errored))]}


class MirthApi:
    """The routes' state: the engine's channel timelines, the estate's clock and the open
    sessions."""

    def __init__(self, timelines: list[ChannelTimeline], now: Callable[[], int]) -> None:
        self.timelines = timelines
        self.now = now
        self.sessions: set[str] = set()

    def _channels(self) -> list[dict[str, Any]]:
        now = self.now()
        return [t.snapshot(now) for t in self.timelines]

    def _answer(self, request: Request, root: str, tree: Any, status: int = 200) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            body = json.dumps({root: to_staxon(tree)}, separators=(",", ":"))
            return Response(body, status, media_type="application/json")
        return Response(to_xml(root, tree), status, media_type="application/xml")

    def _refusal(self, request: Request) -> Response | None:
        if not request.headers.get("x-requested-with", "").strip():
            return Response("All requests must have 'X-Requested-With' header", 400,
                            media_type="text/plain")
        if request.cookies.get("JSESSIONID", "") in self.sessions:
            return None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
            if (secrets.compare_digest(user, DEMO_USER)
                    and secrets.compare_digest(password, DEMO_PASSWORD)):
                return None
        return Response(b"", 401)

    async def login(self, request: Request) -> Response:
        if not request.headers.get("x-requested-with", "").strip():
            return Response("All requests must have 'X-Requested-With' header", 400)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not (secrets.compare_digest(form.get("username", ""), DEMO_USER)
                and secrets.compare_digest(form.get("password", ""), DEMO_PASSWORD)):
            return self._answer(request, "com.mirth.connect.model.LoginStatus",
                                {"status": "FAIL", "message": "Incorrect username or password."},
                                401)
        session = secrets.token_hex(16)
        self.sessions.add(session)
        response = self._answer(request, "com.mirth.connect.model.LoginStatus",
                                {"status": "SUCCESS", "message": ""})
        response.set_cookie("JSESSIONID", session, httponly=True, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        self.sessions.discard(request.cookies.get("JSESSIONID", ""))
        return Response(b"", 204)

    async def statistics(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        rows = [{"serverId": SERVER_ID, "channelId": channel_uuid(c["channelId"]),
                 "received": s["received"], "sent": s["sent"], "error": s["errored"],
                 "filtered": s["filtered"], "queued": s["queued"]}
                for c in self._channels() for s in [c["statistics"]]]
        return self._answer(request, "list", {"channelStatistics": rows} if rows else "")

    async def statuses(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        rows = []
        for c in self._channels():
            s, cid = c["statistics"], channel_uuid(c["channelId"])
            counts = _counts(s["received"], s["filtered"], s["sent"], s["errored"])
            source = {"channelId": cid, "name": "Source", "state": c["state"],
                      "statistics": _counts(s["received"], s["filtered"], 0, 0),
                      "childStatuses": "", "metaDataId": 0, "queueEnabled": False,
                      "queued": 0, "waitForPrevious": False, "statusType": "SOURCE_CONNECTOR"}
            destination = {"channelId": cid, "name": "Destination 1", "state": c["state"],
                           "statistics": counts, "childStatuses": "", "metaDataId": 1,
                           "queueEnabled": True, "queued": s["queued"],
                           "waitForPrevious": False, "statusType": "DESTINATION_CONNECTOR"}
            rows.append({"channelId": cid, "name": c["channelId"], "state": c["state"],
                         "deployedRevisionDelta": 0, "statistics": counts,
                         "lifetimeStatistics": counts,
                         "childStatuses": {"dashboardStatus": [source, destination]},
                         "queueEnabled": False, "queued": s["queued"],
                         "waitForPrevious": False, "statusType": "CHANNEL"})
        return self._answer(request, "list", {"dashboardStatus": rows} if rows else "")

    async def ids_and_names(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        entries = [{"string": [channel_uuid(t.channel_id), t.channel_id]}
                   for t in self.timelines]
        return self._answer(request, "map", {"entry": entries} if entries else "")

    async def channel_groups(self, request: Request) -> Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        facilities: dict[str, list[str]] = {}
        for t in self.timelines:
            facilities.setdefault(t.facility_id, []).append(channel_uuid(t.channel_id))
        groups = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"chargeline-demo-group:{f}")),
                   "name": f, "revision": 1, "description": f"Interfaces of {f}",
                   "channels": {"channel": [{"id": i, "revision": 0} for i in ids]}}
                  for f, ids in facilities.items()]
        return self._answer(request, "list", {"channelGroup": groups} if groups else "")


def mirth_routes(timelines: list[ChannelTimeline], now: Callable[[], int],
                 prefix: str = "/mirth/api") -> list[Route]:
    """The Mirth-shaped routes over the engine's ``timelines`` at the clock ``now`` (epoch
    ms), under ``prefix``."""
    api = MirthApi(timelines, now)
    return [Route(f"{prefix}/users/_login", api.login, methods=["POST"]),
            Route(f"{prefix}/users/_logout", api.logout, methods=["POST"]),
            Route(f"{prefix}/channels/statistics", api.statistics),
            Route(f"{prefix}/channels/statuses", api.statuses),
            Route(f"{prefix}/channels/idsAndNames", api.ids_and_names),
            Route(f"{prefix}/channelgroups", api.channel_groups)]
