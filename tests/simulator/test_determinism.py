"""Same seed, same estate: byte-identical payloads, logs and truth; another seed differs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.simulator.walk import bearer

PAGES = ["/billing/fhir/ChargeItem?_count=200", "/billing/fhir/Encounter?_count=200",
         "/billing/fhir/Claim?_count=50", "/ehr/fhir/SupplyDelivery?_count=300",
         "/erp/odata/InventoryTransactions?$top=300", "/erp/odata/PurchaseRequisitions",
         "/erp/odata/ChargeMaster", "/erp/odata/Crosswalk", "/engine/api/channels"]


def _payloads(base_url: str) -> list[bytes]:
    """The first two pages of each endpoint, with the server's address blanked."""
    out = []
    with httpx.Client(base_url=base_url, headers=bearer(base_url)) as client:
        for path in PAGES:
            url: str | None = path
            for _ in range(2):
                if url is None:
                    break
                answer = client.get(url)
                assert answer.status_code == 200
                out.append(answer.content.replace(base_url.encode(), b"BASE"))
                body = answer.json()
                url = body.get("@odata.nextLink") or next(
                    (link["url"] for link in body.get("link", []) if link["relation"] == "next"),
                    None)
    return out


def _logs(out_dir: Path) -> dict[str, bytes]:
    root = out_dir / "hl7"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.hl7"))}


def test_same_seed_gives_identical_payloads_logs_and_truth(estate_factory) -> None:
    options = {"seed": 11, "days": 2, "volume_scale": 0.15, "faults": "default",
               "http_5xx": 0.0, "http_429": 0.0, "truncated_json": 0.0}
    one = estate_factory(fresh=True, **options)
    two = estate_factory(fresh=True, **options)
    assert one.base_url != two.base_url
    assert json.dumps(one.truth) == json.dumps(two.truth)
    assert (one.out_dir / "truth.json").read_bytes() == (two.out_dir / "truth.json").read_bytes()
    assert _logs(one.out_dir) == _logs(two.out_dir) != {}
    assert _payloads(one.base_url) == _payloads(two.base_url)

    other = estate_factory(fresh=True, **{**options, "seed": 12})
    assert other.truth["faults"] != one.truth["faults"]
    assert other.truth["counts"] != one.truth["counts"]
    assert _logs(other.out_dir) != _logs(one.out_dir)
    mine, theirs = _payloads(one.base_url), _payloads(other.base_url)
    assert mine[0] != theirs[0]  # ChargeItems
