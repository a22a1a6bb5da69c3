"""Read a served estate back the way a client would: follow every next link, split logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

FHIR = {"ChargeItem": "billing", "Encounter": "billing", "Claim": "billing",
        "ClaimResponse": "billing", "SupplyDelivery": "ehr"}


def bearer(base_url: str) -> dict[str, str]:
    """Authorization header with a fresh demo token."""
    answer = httpx.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"},
                        auth=("chargeline", "demo-secret"))
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def fhir_pages(client: httpx.Client, resource: str, params: dict[str, Any] | None = None,
               count: int = 500) -> list[dict[str, Any]]:
    """Every Bundle page of a search, following ``next`` links."""
    url: str | None = f"/{FHIR[resource]}/fhir/{resource}"
    query: dict[str, Any] | None = {"_count": count, **(params or {})}
    pages = []
    while url:
        answer = client.get(url, params=query)
        assert answer.status_code == 200, answer.text
        bundle = answer.json()
        pages.append(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        query = None
    return pages


def fhir_all(client: httpx.Client, resource: str, params: dict[str, Any] | None = None,
             count: int = 500) -> list[dict[str, Any]]:
    """Every resource a search returns, in order."""
    return [e["resource"] for page in fhir_pages(client, resource, params, count)
            for e in page.get("entry", [])]


def odata_all(client: httpx.Client, entity_set: str, params: dict[str, Any] | None = None,
              top: int = 1000) -> list[dict[str, Any]]:
    """Every row of an entity set query, following ``@odata.nextLink``."""
    url: str | None = f"/erp/odata/{entity_set}"
    query: dict[str, Any] | None = {"$top": top, **(params or {})}
    rows: list[dict[str, Any]] = []
    while url:
        answer = client.get(url, params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows += body["value"]
        url, query = body.get("@odata.nextLink"), None
    return rows


def ext(resource: dict[str, Any], name: str) -> str:
    """The ``urn:chargeline:<name>`` extension value ('' when absent)."""
    for e in resource.get("extension", []):
        if e["url"] == f"urn:chargeline:{name}":
            return e["valueString"]
    return ""


def log_blocks(hl7_dir: Path) -> list[tuple[str, int, bytes]]:
    """(file relative to the hl7 folder, byte offset, message bytes) of every block."""
    out = []
    for path in sorted(hl7_dir.rglob("*.hl7")):
        data = path.read_bytes()
        pos = 0
        for line in data.split(b"\n")[:-1]:
            out.append((path.relative_to(hl7_dir).as_posix(), pos, line))
            pos += len(line) + 1
    return out


def unframe(block: bytes) -> bytes:
    """The message inside an MLLP frame (or the block itself)."""
    if block.startswith(b"\x0b") and block.endswith(b"\x1c\r"):
        return block[1:-2]
    return block


def segments(block: bytes) -> dict[str, list[list[str]]]:
    """Segment name -> fields of each such segment (MSH fields numbered as HL7 does)."""
    out: dict[str, list[list[str]]] = {}
    for seg in unframe(block).decode().split("\r"):
        if seg:
            fields = seg.split("|")
            if fields[0] == "MSH":
                fields.insert(1, "|")
            out.setdefault(fields[0], []).append(fields)
    return out
