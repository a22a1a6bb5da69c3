"""Denials Chargeline saw coming on hand-built records, SQLite and PostgreSQL: one claim's
remittance denies a line billing a duplicate's extra (CO-18) -> ``duplicate``, one billed
from a CDM line without HCPCS (CO-16 M20) -> ``cdm_without_hcpcs``, one whose charge bills
another quantity than was scanned -> ``quantity_mismatch``, one billing a clean charge
(CO-97) -> no known cause; a line written down by CO-45 and paid is no denial. A claim
denied whole lists every line with the claim's CARC. The catalog metric sums them by cause.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import ClaimLine, RemittanceLine
from metrics.compute.run import compute
from metrics.read.denial_causes import known_causes, parse_cause
from metrics.read.reader import StoreMetricReader
from rules.evaluate import Outcome, judge
from rules.loader import PACK_DIR, load_rules
from store.upsert import upsert_records
from tests.metrics.factories import FAC, T0, charge, master_data, usage
from tests.metrics.remits import adj, remit

PAID = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 22, tzinfo=UTC)
WINDOW = timedelta(days=7)


def _line(rid: str, claim: str, n: int, code: str, charge_usd: int, paid: int, *,
          remarks: str = "") -> RemittanceLine:
    return RemittanceLine(remittance_id=rid, line_no=n, claim_id=claim, procedure_code=code,
                          charge_amount=Decimal(charge_usd), paid_amount=Decimal(paid),
                          remark_codes=remarks, last_updated=PAID)


def _claim_lines(claim: str, *charges: tuple[str, str]) -> list[ClaimLine]:
    """Lines billing (charge, HCPCS; "" = revenue code 270 only) by charge id."""
    return [ClaimLine(claim_id=claim, line_no=n, charge_id=cid, procedure_code=code,
                      revenue_code="" if code else "270", units=Decimal(1), last_updated=T0)
            for n, (cid, code) in enumerate(charges, start=1)]


def _estate() -> list[Any]:
    rows: list[Any] = master_data()
    # u1 implant charged twice (c1x the extra); u2 CDM line without HCPCS; u3 two scanned,
    # one charged; u4 clean; u5 clean, its line paid after a CO-45 write-down
    rows += [usage("u1", "IMP1", 0, serial="S1"),
             charge("c1", "C1", 10, amount=1250, uid="u1", serial="S1"),
             charge("c1x", "C1", 12, amount=1250, uid="u1", serial="S1"),
             usage("u2", "CON2", 1), charge("c2", "C3", 10, amount=20, uid="u2"),
             usage("u3", "CON1", 2, qty=2), charge("c3", "C2", 10, amount=5, uid="u3"),
             usage("u4", "CON1", 3), charge("c4", "C2", 10, amount=5, uid="u4"),
             usage("u5", "CON1", 4), charge("c5", "C2", 10, amount=5, uid="u5")]
    rows += _claim_lines("K1", ("c1", "C1713"), ("c1x", "C1713"), ("c2", ""),
                         ("c3", "A4649"), ("c4", "A4649"), ("c5", "A4649"))
    rows += [remit("R1", "K1", "1", 2535, 1252, PAID),
             _line("R1", "K1", 1, "HC:C1713", 1250, 1250),
             _line("R1", "K1", 2, "HC:C1713", 1250, 0), adj("R1", "K1", "CO-18", 1250, line=2),
             _line("R1", "K1", 3, "NU:270", 20, 0, remarks="M20"),
             adj("R1", "K1", "CO-16", 20, line=3),
             _line("R1", "K1", 4, "HC:A4649", 5, 0), adj("R1", "K1", "CO-4", 5, line=4),
             _line("R1", "K1", 5, "HC:A4649", 5, 0), adj("R1", "K1", "CO-97", 5, line=5),
             _line("R1", "K1", 6, "HC:A4649", 5, 2), adj("R1", "K1", "CO-45", 3, line=6)]
    # K2 (another encounter, u6 without HCPCS) denied whole for timely filing, CAS on the
    # claim only: its one line is listed with the claim's CARC, and its cause still known
    rows += [usage("u6", "CON2", 5, enc="ENC2"),
             charge("c6", "C3", 10, amount=20, uid="u6", enc="ENC2"),
             *_claim_lines("K2", ("c6", "")),
             remit("R2", "K2", "4", 20, 0, PAID, payer="P2"), adj("R2", "K2", "CO-29", 20),
             _line("R2", "K2", 1, "NU:270", 20, 0)]
    return rows


@pytest.fixture
def stored(engine: Engine) -> Engine:
    with engine.begin() as conn:
        upsert_records(conn, _estate(), source="test", now=NOW)
    compute(engine, ChargeSla(), now=NOW)
    return engine


def test_each_denied_line_carries_what_chargeline_knew(stored: Engine) -> None:
    with stored.connect() as conn:
        found = known_causes(conn, NOW - WINDOW, NOW)
    got = {(x.claim_id, x.line_no): (x.charge_id, x.usage_id, x.carcs, x.cause)
           for x in found.lines}
    assert got == {
        ("K1", 2): ("c1x", "u1", "CO-18", "duplicate"),
        ("K1", 3): ("c2", "u2", "CO-16", "cdm_without_hcpcs"),
        ("K1", 4): ("c3", "u3", "CO-4", "quantity_mismatch"),
        ("K1", 5): ("c4", "u4", "CO-97", ""),
        ("K2", 1): ("c6", "u6", "CO-29", "cdm_without_hcpcs"),
    }
    assert next(x for x in found.lines if x.line_no == 3).remark_codes == "M20"
    assert [(t.cause, t.lines, t.usd) for t in found.by_cause()] == [
        ("duplicate", 1, Decimal(1250)), ("cdm_without_hcpcs", 2, Decimal(40)),
        ("quantity_mismatch", 1, Decimal(5))]
    assert found.denied_usd == Decimal(1300) and found.known_usd == Decimal(1295)
    assert found.share_pct == pytest.approx(100 * 1295 / 1300)
    with stored.connect() as conn:  # another facility's, or another window's: none
        assert known_causes(conn, NOW - WINDOW, NOW, facility="FAC02").lines == ()
        assert known_causes(conn, NOW - WINDOW, PAID).lines == ()
        assert len(known_causes(conn, NOW - WINDOW, NOW, facility=FAC).lines) == 5


def _metric(engine: Engine, metric: str, scope: tuple[str, ...], cause: str = ""
            ) -> dict[str, tuple[float | None, float | None, float]]:
    values = StoreMetricReader(engine).values(metric, window=WINDOW, scope_keys=scope,
                                              now=NOW, params={"cause": cause})
    return {"/".join(v.scope.values()): (v.value, v.amount, v.detail["denominator"])
            for v in values}


def test_the_catalog_metric_by_cause_facility_and_payer(stored: Engine) -> None:
    assert _metric(stored, "denials_known_cause_usd", ("payer",)) == {
        "P1": (1275.0, 1275.0, 1280.0), "P2": (20.0, 20.0, 20.0)}
    assert _metric(stored, "denials_known_cause_count", ("facility",), "duplicate") == {
        FAC: (1.0, 1250.0, 5.0)}
    assert _metric(stored, "denials_known_cause_usd", (), "cdm_without_hcpcs") == {
        "": (40.0, 40.0, 1300.0)}
    with pytest.raises(ValueError, match="not a known cause"):
        _metric(stored, "denials_known_cause_usd", (), "CO-16")
    with pytest.raises(ValueError, match="cannot be split by 'carc'"):
        _metric(stored, "denials_known_cause_usd", ("carc",))


def test_the_pack_rule_warns_on_the_weeks_known_cause_dollars(stored: Engine) -> None:
    rule = load_rules([PACK_DIR]).by_id["denials-known-cause-usd"]
    assert (rule.metric, rule.scope.by, rule.warn, rule.fail) == (
        "denials_known_cause_usd", ("facility",), 500, 2000)
    reader = StoreMetricReader(stored)

    def judged(now: datetime) -> dict[str, tuple[Outcome, float | None]]:
        return {v.scope["facility"]: (judge(rule, v).outcome, v.value)
                for v in reader.values(rule.metric, window=rule.window,
                                       scope_keys=rule.scope.by, now=now)}

    assert judged(NOW) == {FAC: (Outcome.WARN, 1295.0)}  # the extra's $1,250 and $45
    assert judged(PAID) == {}  # before the payer answered: nothing denied yet


def test_cause_names_parse() -> None:
    assert parse_cause(" Duplicate ") == "duplicate" and parse_cause("") == ""
