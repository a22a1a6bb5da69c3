"""The denial metrics (initial denial rate by count and $, denied $ still open, denials
by CARC) read from hand-built remittances on SQLite and PostgreSQL.

The estate (tests/metrics/remits.py), window [2026-10-31, 2026-11-30):
FAC01  CL1 P1 $1000 paid · CL2 P1 $2000 denied, open · CL3 P2 $3000 zero-paid CO-97 then
       paid (initially denied, not open) · CL4 P2 $500 paid, reversed, paid · CL5 P1 $600
       zero-paid, all PR-1 (not a denial) · CL6 P1 $1000 zero-paid, CO-45 + PR-1 (not a
       denial: the patient owes) · CL0 first paid before the window (out)
FAC02  CL7 P2 $700 denied, then a reversal (still open) · CL8 P1 $300 paid
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert

from core.config import ChargeSla
from core.metric_values import MetricValue, ValueStatus
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from metrics.read.report_data import build_report
from metrics.report import to_json, to_text
from store.schema import collector_runs
from store.upsert import upsert_records
from tests.metrics.remits import NOW, WINDOW, clean_estate, denial_estate, remit


def _store(engine: Engine, records: list) -> StoreMetricReader:  # type: ignore[type-arg]
    with engine.begin() as conn:
        upsert_records(conn, records, source="test-835", now=NOW)
    return StoreMetricReader(engine)


@pytest.fixture
def reader(engine: Engine) -> StoreMetricReader:
    return _store(engine, denial_estate())


def read(reader: StoreMetricReader, metric: str, *scope: str, **params: str
         ) -> dict[tuple[str, ...], MetricValue]:
    values = reader.values(metric, window=WINDOW, scope_keys=scope, now=NOW, params=params)
    return {tuple(v.scope[k] for k in scope): v for v in values}


def test_initial_denial_rate_by_count(reader: StoreMetricReader) -> None:
    by_fac = read(reader, "denial_rate_count_pct", "facility")
    assert {k: (v.value, v.detail["numerator"], v.detail["denominator"], v.amount)
            for k, v in by_fac.items()} == {
        ("FAC01",): (33.3333, 2.0, 6.0, 5000.0),  # CL2, CL3 of CL1-CL6
        ("FAC02",): (50.0, 1.0, 2.0, 700.0)}
    assert all(v.status is ValueStatus.OK for v in by_fac.values())
    network = read(reader, "denial_rate_count_pct")[()]
    assert (network.value, network.detail) == (37.5, {"numerator": 3.0,
                                                      "denominator": 8.0})
    by_payer = read(reader, "denial_rate_count_pct", "payer")
    assert {k: v.value for k, v in by_payer.items()} == {
        ("P1",): 20.0,  # CL1, CL2, CL5, CL6, CL8: CL2 denied
        ("P2",): 66.6667}  # CL3, CL4, CL7: CL3 and CL7 denied
    both = read(reader, "denial_rate_count_pct", "facility", "payer")
    assert {k: v.value for k, v in both.items()} == {
        ("FAC01", "P1"): 25.0, ("FAC01", "P2"): 50.0, ("FAC02", "P1"): 0.0,
        ("FAC02", "P2"): 100.0}


def test_initial_denial_rate_by_dollars(reader: StoreMetricReader) -> None:
    by_fac = read(reader, "denial_rate_usd_pct", "facility")
    assert {k: (v.value, v.detail["numerator"], v.detail["denominator"])
            for k, v in by_fac.items()} == {
        ("FAC01",): (61.7284, 5000.0, 8100.0), ("FAC02",): (70.0, 700.0, 1000.0)}
    assert read(reader, "denial_rate_usd_pct")[()].value == 62.6374  # 5700 / 9100
    by_payer = read(reader, "denial_rate_usd_pct", "payer")
    assert {k: v.value for k, v in by_payer.items()} == {
        ("P1",): 40.8163,  # 2000 / 4900
        ("P2",): 88.0952}  # 3700 / 4200


def test_denied_dollars_still_open(reader: StoreMetricReader) -> None:
    # CL3 was paid on appeal: only CL2 and CL7 (whose reversal is not a payment) stay open
    by_fac = read(reader, "denied_open_usd", "facility")
    assert {k: (v.value, v.detail["claims"], v.detail["denied_claims"])
            for k, v in by_fac.items()} == {
        ("FAC01",): (2000.0, 1.0, 2.0), ("FAC02",): (700.0, 1.0, 1.0)}
    assert read(reader, "denied_open_usd")[()].value == 2700.0
    assert {k: v.value for k, v in read(reader, "denied_open_usd", "payer").items()} == {
        ("P1",): 2000.0, ("P2",): 700.0}


def test_open_as_of_now_not_as_of_today(reader: StoreMetricReader) -> None:
    # read before CL3's appeal was paid (2026-11-20), CL3 is still open
    values = reader.values("denied_open_usd", window=WINDOW, scope_keys=("facility",),
                           now=NOW.replace(day=19))
    assert {v.scope["facility"]: v.value for v in values}["FAC01"] == 5000.0


def test_denials_by_carc_group_and_reason(reader: StoreMetricReader) -> None:
    counts = read(reader, "denial_reason_count", "carc")
    assert {k: (v.value, v.amount) for k, v in counts.items()} == {
        ("CO-16",): (2.0, 2100.0),  # CL2's claim-level 1500, CL7's 600 (its PR-2 is not)
        ("CO-4",): (1.0, 500.0),  # CL2's line 1
        ("CO-97",): (1.0, 3000.0)}  # CL3's first remittance, not its later CO-45
    usd = read(reader, "denial_reason_usd", "facility", "carc")
    assert {k: v.value for k, v in usd.items()} == {
        ("FAC01", "CO-16"): 1500.0, ("FAC01", "CO-4"): 500.0, ("FAC01", "CO-97"): 3000.0,
        ("FAC02", "CO-16"): 600.0}
    only = read(reader, "denial_reason_count", "facility", reason="CO-16")
    assert {k: v.value for k, v in only.items()} == {("FAC01",): 1.0, ("FAC02",): 1.0}
    assert read(reader, "denial_reason_usd", reason="co")[()].value == 5600.0
    with pytest.raises(ValueError, match="reason 'PR-1' is not a denial group or CARC"):
        read(reader, "denial_reason_count", reason="PR-1")
    with pytest.raises(ValueError, match="cannot be split by 'carc'"):
        read(reader, "denial_rate_count_pct", "carc")


def test_a_clean_estate_has_no_denials(engine: Engine) -> None:
    reader = _store(engine, clean_estate())
    for metric in ("denial_rate_count_pct", "denial_rate_usd_pct", "denied_open_usd"):
        values = read(reader, metric, "facility")
        assert {k: v.value for k, v in values.items()} == {("FAC01",): 0.0,
                                                           ("FAC02",): 0.0}, metric
        assert all(v.status is ValueStatus.OK for v in values.values())
    assert read(reader, "denial_reason_count", "carc") == {}
    assert read(reader, "denial_reason_count")[()].status is ValueStatus.NODATA


def test_no_remittances_is_nodata(engine: Engine) -> None:
    reader = _store(engine, [remit("R9", "CL9", "1", 10, 10, NOW)])  # paid at now: out
    assert read(reader, "denial_rate_count_pct", "facility") == {}
    assert read(reader, "denial_rate_count_pct")[()].status is ValueStatus.NODATA
    assert read(reader, "denied_open_usd")[()].status is ValueStatus.NODATA


REPORT: Callable[[Engine], dict] = lambda engine: build_report(  # noqa: E731
    engine, ChargeSla(), since=NOW - WINDOW, until=NOW)


def test_the_report_has_a_revenue_cycle_section(reader: StoreMetricReader,
                                                engine: Engine) -> None:
    doc = REPORT(engine)
    rc = doc["revenue_cycle"]
    assert list(rc) == ["network", "facilities", "payers", "denial_reasons", "errors",
                        "dnfb", "pricing", "reconciliation", "underpayments"]
    assert rc["network"] == {
        "claims": 8, "denied": 3, "denial_rate_pct": 37.5, "charges_usd": 9100.0,
        "denied_usd": 5700.0, "denial_rate_usd_pct": 62.6374, "denied_open_usd": 2700.0,
        "denied_open_claims": 2}
    assert rc["facilities"]["FAC02"]["denial_rate_pct"] == 50.0
    assert rc["payers"]["P2"]["denied"] == 2
    assert rc["denial_reasons"] == {"CO-16": {"count": 2, "usd": 2100.0},
                                    "CO-4": {"count": 1, "usd": 500.0},
                                    "CO-97": {"count": 1, "usd": 3000.0}}
    assert '"revenue_cycle"' in to_json(doc)
    text = to_text(doc)
    assert "REVENUE CYCLE" in text
    assert ("Initial denials     37.5 %  (3 of 8 claims; $5,700.00 of $9,100.00 = 62.6 %) "
            "· still denied $2,700.00 on 2 claims") in text
    assert "CO-97" in text


def test_error_while_the_remittance_source_fails(reader: StoreMetricReader,
                                                 engine: Engine) -> None:
    compute(engine, ChargeSla(), now=NOW)  # records which sources feed remittances
    with engine.begin() as conn:
        conn.execute(insert(collector_runs).values(
            run_id="r1", source="test-835", started_at=NOW - timedelta(minutes=5),
            finished_at=NOW - timedelta(minutes=4), status="error",
            error_class="SourceError", error="835 folder unreadable"))
    by_fac = read(reader, "denial_rate_count_pct", "facility")
    assert {v.status for v in by_fac.values()} == {ValueStatus.ERROR}
    assert "835 folder unreadable" in by_fac[("FAC01",)].error
    assert REPORT(engine)["revenue_cycle"]["errors"]["denial_rate_count_pct"].startswith(
        "source test-835 is failing")
