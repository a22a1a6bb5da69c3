"""Implant recall on a collected demo estate: ``chargeline recall --lot`` lists exactly
the usages of the lot the truth names (some scanned as GS1 UDIs, some as item ids with a
lot extension), with patient tokens and the facts' statuses; the devices used after
their expiry are exactly the truth's. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from chargeline.cli import app
from collectors.runner import run_source
from core.config import ChargeSla, Settings
from core.errors import ConfigError
from core.model import RunStatus
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.recall import COLUMNS, expired_used, recall, to_csv
from store.engine import make_engine
from tests.metrics.rendering_check import HTTP_OFF, store_url


@dataclass(frozen=True)
class Store:
    url: str
    engine: Engine
    truth: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, estate_factory: Any,
          tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Store]:
    running = estate_factory(seed=7, facilities=1, faults="default", **HTTP_OFF)
    stores = store_url(request.param, tmp_path_factory.mktemp("recall"), sqlite_template,
                       "chargeline_recall")
    url = next(stores)
    engine = make_engine(url)
    settings = Settings(database_url=url, sources=running.sources)
    results = [run_source(settings, engine, src, sleep=lambda _s: None)
               for src in settings.sources]
    assert all(r.status is RunStatus.OK for r in results), [r.error for r in results]
    as_of = datetime.fromisoformat(running.truth["as_of"].replace("Z", "+00:00"))
    compute(engine, ChargeSla(**running.truth["sla"]), now=as_of)
    yield Store(url, engine, running.truth)
    engine.dispose()
    next(stores, None)


def test_recall_by_lot_lists_exactly_the_truths_usages(store: Store, tmp_path: Path) -> None:
    want = store.truth["recall"]
    assert want["lot"] and want["usage_ids"] and want["udi_scans"] > 0
    out = tmp_path / "recall.csv"
    result = CliRunner().invoke(app, ["recall", "--lot", want["lot"], "--csv", str(out)],
                                env={"CHARGELINE_DATABASE_URL": store.url})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"lot {want['lot']}: {len(want['usage_ids'])} usages")
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["usage_id"] for r in rows) == want["usage_ids"]
    for row in rows:
        assert list(row) == list(COLUMNS)
        assert row["lot"] == want["lot"] and len(row["patient_token"]) >= 16
        assert row["charge_status"] and row["inventory_status"]  # the facts' verdicts
        assert not row["patient_token"].startswith("MRN")
    # the scans sent as UDIs arrive with their GTIN as item reference and device id
    assert any(r["udi_di"] and r["item_ref"] == r["udi_di"] for r in rows) or not any(
        r["udi_di"] for r in rows)


def test_devices_used_after_expiry_are_the_truths(store: Store) -> None:
    with store.engine.connect() as conn:
        rows = expired_used(conn)
    assert sorted(r.usage_id for r in rows) == store.truth["recall"]["expired_usage_ids"]
    assert all(r.expired and r.used_on > r.expires_on for r in rows)  # type: ignore[operator]
    # each one shows up as expired in its own lot's recall, and is counted there
    for row in rows:
        found = recall(store.engine, lot=row.lot)
        assert row.usage_id in found.usage_ids and found.expired >= 1


def test_the_expired_devices_metric_counts_the_truths(store: Store) -> None:
    """expired_devices_used over the whole estate: the truth's expired usages, per facility
    and location (each scan's own), and none in a window before the first of them."""
    with store.engine.connect() as conn:
        where = {r.usage_id: (r.facility_id, r.location_id) for r in expired_used(conn)}
    want = Counter(where[u] for u in store.truth["recall"]["expired_usage_ids"])
    assert want, "the estate used some expired devices"
    as_of = datetime.fromisoformat(store.truth["as_of"].replace("Z", "+00:00"))
    reader = StoreMetricReader(store.engine)
    got = reader.values("expired_devices_used", window=timedelta(days=30),
                        scope_keys=("facility", "location"), now=as_of)
    assert {(v.scope["facility"], v.scope["location"]): v.value for v in got} == dict(want)
    [network] = reader.values("expired_devices_used", window=timedelta(days=30),
                              scope_keys=(), now=as_of)
    assert network.value == len(store.truth["recall"]["expired_usage_ids"])


def test_recall_by_serial_device_and_item(store: Store) -> None:
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT usage_id, serial, udi_di, item_ref FROM usage_events "
                                "WHERE udi_di <> '' AND serial <> '' ORDER BY usage_id")
                           ).first()
    assert row is not None, "no UDI scan with a serial was collected"
    assert recall(store.engine, serial=row.serial).usage_ids == [row.usage_id]
    by_device = recall(store.engine, udi_di=row.udi_di)
    assert row.usage_id in by_device.usage_ids
    assert {r.udi_di for r in by_device.rows} == {row.udi_di}
    by_item = recall(store.engine, item=by_device.rows[0].item_id)  # the resolved item id
    assert set(by_device.usage_ids) <= set(by_item.usage_ids)
    assert recall(store.engine, lot="NO-SUCH-LOT").rows == ()


def test_sqlite_recall_uses_the_partial_lot_index(sqlite_template: Path) -> None:
    engine = make_engine(f"sqlite:///{sqlite_template}")  # the migrated schema, no rows
    try:
        with engine.connect() as conn:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT usage_id FROM usage_events "
                "WHERE lot = 'X' AND lot <> ''")))
    finally:
        engine.dispose()
    assert "ix_usage_events_lot" in plan, plan


@pytest.mark.parametrize("args", [[], ["--lot", "A", "--serial", "B"], ["--item", "  "]])
def test_exactly_one_selector_is_required(args: list[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-opened.db'}"
    result = CliRunner().invoke(app, ["recall", *args],
                                env={"CHARGELINE_DATABASE_URL": url})
    # the runner bypasses chargeline.cli.main, which maps a ConfigError to exit code 2
    assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 2
    assert "give exactly one of --lot, --serial, --udi-di, --item" in str(result.exception)
    assert not (tmp_path / "never-opened.db").exists()


def test_csv_cells_cannot_run_as_formulas(store: Store) -> None:
    found = recall(store.engine, lot=store.truth["recall"]["lot"])
    row = found.rows[0]
    hostile = type(row)(**{**{c: getattr(row, c) for c in COLUMNS}, "lot": "=HYPERLINK(1)"})
    assert "'=HYPERLINK(1)" in to_csv([hostile])
