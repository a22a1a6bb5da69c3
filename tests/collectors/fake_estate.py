"""A small in-memory stand-in for the estate's HTTP APIs, as an ``httpx.MockTransport``.

It follows docs/wire-formats.md (paging, ``_lastUpdated``/``$filter`` with ge/gt, OAuth2,
faults on a URL's first attempt) so collector tests run offline in milliseconds; the
end-to-end tests use the real simulator.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

BASE = "http://estate.test"


def _cmp(value: str, op: str, bound: str) -> bool:
    return {"gt": value > bound, "ge": value >= bound, "lt": value < bound,
            "le": value <= bound}[op]


@dataclass
class FakeEstate:
    fhir: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    odata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    channels: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)  # path+query -> kind, first attempt
    fault_rule: Callable[[str], str] | None = None
    attempts: Counter = field(default_factory=Counter)
    token_expires_in: int = 300
    tokens_issued: int = 0
    revoked: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = url.path + ("?" + url.query.decode() if url.query else "")
        self.requests.append(key)
        self.attempts[key] += 1
        if url.path == "/oauth/token":
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"tok{self.tokens_issued}",
                                             "token_type": "Bearer",
                                             "expires_in": self.token_expires_in})
        fault = self.faults.get(key) or (self.fault_rule(key) if self.fault_rule else "")
        if fault and self.attempts[key] == 1:
            if fault == "5xx":
                return httpx.Response(503, text="busy")
            if fault == "429":
                return httpx.Response(429, headers={"Retry-After": "0"})
            if fault == "timeout":
                raise httpx.ReadTimeout("fake timeout", request=request)
        if fault == "always_truncated":
            return httpx.Response(200, content=b'{"resourceType": "Bundle", "entr')
        query = parse_qs(url.query.decode())
        if url.path.startswith("/billing/fhir/") or url.path.startswith("/ehr/fhir/"):
            auth = request.headers.get("Authorization", "")
            if url.path.startswith("/billing") and (not auth or auth[7:] in self.revoked):
                return httpx.Response(401)
            body = self._bundle(url.path.rsplit("/", 1)[1], query, url.path)
        elif url.path.startswith("/erp/odata/"):
            body = self._odata(url.path.rsplit("/", 1)[1], query, url.path)
        elif url.path == "/engine/api/channels":
            body = {"generatedAt": "2026-11-25T10:00:00.000Z", "channels": self.channels}
        else:
            return httpx.Response(404)
        content = json.dumps(body).encode()
        if fault == "truncated" and self.attempts[key] == 1:
            content = content[: len(content) // 2]
        return httpx.Response(200, content=content,
                              headers={"Content-Type": "application/json"})

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
                                  "total": len(rows), "entry": [{"resource": r} for r in rows],
                                  "link": []}
        if more:
            q = {k: v for k, v in query.items() if k != "_offset"}
            nxt = urlencode([*[(k, x) for k, vs in q.items() for x in vs],
                             ("_offset", str(offset + size))])
            bundle["link"].append({"relation": "next", "url": f"{BASE}{path}?{nxt}"})
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
        body: dict[str, Any] = {"@odata.context": f"{BASE}/erp/odata/$metadata#{entity}",
                                "value": rows}
        if more:
            q = {k: v for k, v in query.items() if k != "$skip"}
            nxt = urlencode([*[(k, x) for k, vs in q.items() for x in vs],
                             ("$skip", str(offset + size))])
            body["@odata.nextLink"] = f"{BASE}{path}?{nxt}"
        return body
