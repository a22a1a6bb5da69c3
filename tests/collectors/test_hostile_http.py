"""Hostile JSON over HTTP (issue 18, item 2): a FHIR Bundle whose entries are not objects
or nest too deep, a Bundle whose ``entry`` is a string, a page deeper than the parser's
bound, OData rows and engine channels of the same kinds. Each bad record is one
quarantine row with its reason, the good ones beside it are stored, and the pass ends
with a status (never a traceback, never a run left ``running``), on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from collectors.jsonio import MAX_DEPTH, RECORD_DEPTH
from collectors.rejects import UNEXPECTED
from collectors.runner import run_source
from core.config import OAuth2Client, Settings, SourceConfig
from core.model import RunStatus
from store.schema import (
    channel_stats,
    charges,
    collector_runs,
    inventory_transactions,
    quarantined_records,
)
from tests.collectors import payloads as p
from tests.collectors.fake_estate import FakeEstate


def _nested(levels: int) -> Any:
    inner: Any = {"v": 1}
    for _ in range(levels):
        inner = {"extension": [inner]}
    return inner


def _run(engine: Engine, source: SourceConfig) -> Any:
    settings = Settings(database_url=str(engine.url), sources=[source])
    return run_source(settings, engine, source, sleep=lambda _s: None)


def _quarantined(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(quarantined_records)
                            .order_by(quarantined_records.c.position)).all()


def _runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(collector_runs)).all()


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _billing(estate: FakeEstate) -> SourceConfig:
    base = estate.base_url
    return SourceConfig(name="billing", kind="fhir_billing", base_url=f"{base}/billing/fhir",
                        page_size=50, max_retries=1,
                        oauth2=OAuth2Client(token_url=f"{base}/oauth/token",
                                            client_id="chargeline",
                                            client_secret="demo-secret"))


def _charge_items(estate: FakeEstate, n: int) -> None:
    estate.fhir["ChargeItem"] = [p.resource(p.CHARGE_ITEM, i, f"2026-11-18T10:00:{i:02d}.000Z")
                                 for i in range(n)]


def _rewrite_bundles(estate: FakeEstate, rewrite: Any) -> None:
    """Serve every ChargeItem page as ``rewrite(bundle)`` makes it."""
    plain = estate._bundle

    def hostile(rtype: str, query: dict[str, list[str]], path: str) -> Any:
        bundle = plain(rtype, query, path)
        return rewrite(bundle) if rtype == "ChargeItem" else bundle
    estate._bundle = hostile  # type: ignore[method-assign]


def test_bad_fhir_entries_over_http_are_quarantined_and_their_neighbours_stored(
        engine: Engine, estate: FakeEstate) -> None:
    _charge_items(estate, 5)
    deep = {"resource": {**p.resource(p.CHARGE_ITEM, 99), "extension": [_nested(100)]}}
    bad = ["x", 3, None, [1, 2], {"resource": [1]}, {"resource": "text"}, deep]
    _rewrite_bundles(estate, lambda b: {**b, "entry": [*bad, *b["entry"]]})
    result = _run(engine, _billing(estate))
    assert result.status is RunStatus.OK and result.quarantined == len(bad)
    assert _count(engine, charges) == 5
    rows = _quarantined(engine)
    assert sorted(int(r.position.rsplit("#entry", 1)[1]) for r in rows) == list(range(7))
    assert all(r.reason and UNEXPECTED not in r.reason for r in rows)
    deep_row = next(r for r in rows if r.position.endswith("#entry6"))
    assert f"deeper than {RECORD_DEPTH}" in deep_row.reason
    assert [r.status for r in _runs(engine)] == ["ok"]


def test_a_bundle_whose_entry_is_a_string_is_quarantined_not_dropped(
        engine: Engine, estate: FakeEstate) -> None:
    _charge_items(estate, 3)
    _rewrite_bundles(estate, lambda b: {**b, "entry": "x"})
    result = _run(engine, _billing(estate))
    (row,) = _quarantined(engine)
    assert "Bundle.entry is str, not a list" in row.reason and UNEXPECTED not in row.reason
    assert result.quarantined == 1 and _count(engine, charges) == 0
    (run,) = _runs(engine)
    assert run.status != "running" and run.finished_at is not None


def test_a_page_deeper_than_the_bound_is_quarantined_and_the_pass_ends(
        engine: Engine, estate: FakeEstate) -> None:
    """5,000 levels: past the bound and past what ``json`` itself can parse (it raised
    RecursionError through the pass)."""
    _charge_items(estate, 3)
    broken = [True]
    plain = estate.handle

    def hostile(method: str, path: str, query: str, auth: str) -> Any:
        status, headers, body, delay = plain(method, path, query, auth)
        if broken[0] and path.endswith("/ChargeItem") and status == 200:
            body = b'{"resourceType": "Bundle", "meta": ' + b'{"a": ' * 5000 + b"1" + \
                b"}" * 5000 + b', "entry": []}'
        return status, headers, body, delay
    estate.handle = hostile  # type: ignore[method-assign]
    result = _run(engine, _billing(estate))
    assert result.status is RunStatus.ERROR  # the next page's link is inside it: stop here
    rows = _quarantined(engine)
    assert len(rows) == 1 and f"deeper than {MAX_DEPTH}" in rows[0].reason
    (run,) = _runs(engine)
    assert run.status == "error" and run.finished_at is not None
    assert f"deeper than {MAX_DEPTH}" in run.error
    assert _count(engine, charges) == 0
    # the source is not poisoned: once the page is readable, the next pass stores it
    broken[0] = False
    assert _run(engine, _billing(estate)).status is RunStatus.OK
    assert _count(engine, charges) == 3


def test_bad_odata_rows_over_http_are_quarantined_and_their_neighbours_stored(
        engine: Engine, estate: FakeEstate) -> None:
    good = [{**p.INVENTORY_ROW, "DocumentId": f"INV-{i:06d}",
             "ModifiedAt": f"2026-11-18T10:00:{i:02d}.000Z"} for i in range(4)]
    estate.odata["InventoryTransactions"] = good
    plain = estate._odata
    bad = ["x", 7, None, {**good[0], "DocumentId": "INV-DEEP", "Note": _nested(100)}]

    def hostile(entity: str, query: dict[str, list[str]], path: str) -> Any:
        body = plain(entity, query, path)
        return {**body, "value": [*bad, *body["value"]]} if body["value"] else body
    estate._odata = hostile  # type: ignore[method-assign]
    source = SourceConfig(name="erp", kind="odata_erp", base_url=f"{estate.base_url}/erp/odata",
                          page_size=50, max_retries=1)
    result = _run(engine, source)
    assert result.quarantined == len(bad) and _count(engine, inventory_transactions) == 4
    assert all(r.reason and UNEXPECTED not in r.reason for r in _quarantined(engine))
    assert all(r.status != "running" and r.finished_at is not None for r in _runs(engine))


def test_bad_engine_channels_over_http_are_quarantined_and_the_good_one_stored(
        engine: Engine, estate: FakeEstate) -> None:
    good = {"channelId": "FAC01_CHG_OUT", "facilityId": "FAC01", "name": "charges",
            "state": "STARTED", "statistics": {"received": 10, "filtered": 1, "queued": 2,
                                               "sent": 6, "errored": 1},
            "oldestQueuedAt": "2026-11-25T09:58:00.000Z"}
    estate.channels = ["x", 5, None, {**good, "channelId": "DEEP", "x": _nested(100)}, good]
    source = SourceConfig(name="engine-stats", kind="engine_stats",
                          base_url=f"{estate.base_url}/engine/api", max_retries=1)
    result = _run(engine, source)
    assert result.quarantined == 4
    assert all(r.reason and UNEXPECTED not in r.reason for r in _quarantined(engine))
    with engine.connect() as conn:
        assert conn.execute(select(channel_stats.c.channel)).scalars().all() == [
            "FAC01_CHG_OUT"]
    assert all(r.status != "running" and r.finished_at is not None for r in _runs(engine))
