"""HTTP faults on first attempts (reproducible, listed, retry succeeds) and OAuth2."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from simulator.config import FaultRates
from simulator.httpfaults import decide
from tests.simulator.walk import bearer

PATHS = ["/billing/fhir/ChargeItem", "/ehr/fhir/SupplyDelivery", "/erp/odata/Items",
         "/engine/api/channels"]


def _only(kind: str) -> dict[str, float]:
    rates = {k: 0.0 for k in ("http_5xx", "http_429", "timeout", "truncated_json")}
    rates[kind] = 1.0
    return rates


def _get(client: httpx.Client, path: str, query: str = "") -> httpx.Response:
    return client.get(f"{path}?{query}" if query else path)


def test_429_carries_retry_after_and_the_retry_succeeds(estate_factory) -> None:
    running = estate_factory(faults="none", fresh=True, **_only("http_429"))
    with httpx.Client(base_url=running.base_url, headers=bearer(running.base_url)) as client:
        for path in PATHS:
            first = _get(client, path, "_count=5" if "fhir" in path else "")
            assert first.status_code == 429
            assert first.headers["Retry-After"] in ("1", "2")
            again = _get(client, path, "_count=5" if "fhir" in path else "")
            assert again.status_code == 200 and again.json()
        listed = client.get("/_faults").json()["faults"]
    assert [(f["kind"], f["path"]) for f in listed] == [("http_429", p) for p in PATHS]
    assert running.truth["http_faults"] == listed


def test_truncated_pages_are_invalid_json_and_the_retry_is_whole(estate_factory) -> None:
    running = estate_factory(faults="none", fresh=True, **_only("truncated_json"))
    with httpx.Client(base_url=running.base_url, headers=bearer(running.base_url)) as client:
        cut = client.get("/erp/odata/Items", params={"$top": 50})
        whole = client.get("/erp/odata/Items", params={"$top": 50})
    assert cut.status_code == 200 and whole.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert whole.content.startswith(cut.content) and len(whole.json()["value"]) == 50


def test_5xx_and_timeouts_on_first_attempts_only(estate_factory) -> None:
    running = estate_factory(faults="none", fresh=True, **_only("http_5xx"))
    with httpx.Client(base_url=running.base_url) as client:
        first = client.get("/engine/api/channels")
        assert first.status_code in (500, 502, 503)
        assert client.get("/engine/api/channels").status_code == 200
        assert client.get("/health").status_code == 200  # the simulator's own routes never fault
    slow = estate_factory(faults="none", fresh=True, timeout_fault_seconds=0.3,
                          **_only("timeout"))
    with httpx.Client(base_url=slow.base_url) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/erp/odata/Items", timeout=0.1)
        started = time.perf_counter()
        assert client.get("/erp/odata/Items").status_code == 200
        assert time.perf_counter() - started < 0.3
    assert [f["kind"] for f in slow.truth["http_faults"]] == ["timeout"]


def test_which_requests_fault_is_a_pure_function_of_the_request() -> None:
    rates = FaultRates.preset("none", http_5xx=0.1, http_429=0.1, truncated_json=0.1)
    queries = [f"_count=500&_lastUpdated=ge2026-11-1{d}T0{h}:00:00.000Z"
               for d in range(10) for h in range(10)] * 10
    paths = [f"/billing/fhir/{r}" for r in ("ChargeItem", "Claim")] * 5
    calls = [(p, q + str(i)) for i, (p, q) in enumerate(zip(paths * 100, queries, strict=True))]
    first = [decide(7, rates, "GET", p, q) for p, q in calls]
    assert first == [decide(7, rates, "GET", p, q) for p, q in calls]
    assert first != [decide(8, rates, "GET", p, q) for p, q in calls]
    share = sum(f is not None for f in first) / len(first)
    assert 0.25 < share < 0.35
    assert decide(7, FaultRates.preset("high"), "GET", "/health", "") is None


def test_oauth_tokens_are_required_checked_and_expire(estate_factory) -> None:
    running = estate_factory(faults="none", fresh=True, token_ttl_seconds=1)
    base = running.base_url
    with httpx.Client(base_url=base) as client:
        assert client.get("/billing/fhir/Claim").status_code == 401
        wrong = client.get("/billing/fhir/Claim", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "invalid_token" in wrong.headers["WWW-Authenticate"]
        bad_client = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                       "client_id": "chargeline",
                                                       "client_secret": "guess"})
        assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
        wrong_grant = client.post("/oauth/token", data={"grant_type": "password"},
                                  auth=("chargeline", "demo-secret"))
        assert wrong_grant.status_code == 400
        form = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                 "client_id": "chargeline",
                                                 "client_secret": "demo-secret"}).json()
        assert form["token_type"] == "Bearer" and form["expires_in"] == 1
        headers = {"Authorization": f"Bearer {form['access_token']}"}
        assert client.get("/billing/fhir/Claim", headers=headers).status_code == 200
        assert client.get("/ehr/fhir/SupplyDelivery").status_code == 200  # EHR: no auth
        time.sleep(1.1)
        expired = client.get("/billing/fhir/Claim", headers=headers)
        assert expired.status_code == 401 and "expired" in expired.text
        assert client.get("/billing/fhir/Claim", headers=bearer(base)).status_code == 200
