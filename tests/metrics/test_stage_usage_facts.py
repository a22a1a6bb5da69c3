"""The usage-facts stages alone (``metrics.compute.usage_facts``): the mapping stage, the
hop summaries and the facts ``INSERT``, for three hand-built usages, on the real schema.

The stages before them (item dimension, charge facts, links, duplicates) run as a full
pass runs them; the feed horizons are given, so a case sets exactly when the billing and
ERP feeds have caught up. Every column a verdict rests on is asserted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from core.config import ChargeSla
from core.model import ContractPrice, UsageEvent
from metrics.compute.feeds import update_feed_sources
from metrics.compute.pass_tables import pass_usages
from metrics.compute.usage_facts import build_usage_facts, map_usages, summarise_hops
from store.schema_metrics import metric_usage_facts
from tests.metrics.factories import (
    FAC,
    LOC,
    at,
    charge,
    issue,
    master_data,
    message,
    usage,
)
from tests.metrics.stage_pass import links_before, load, open_pass, rows

SLA = ChargeSla()  # implants: 120 minutes to charge; 240 to issue
RECORDS = [
    # u1: scanned at 0, HL7 received at 1 min and acknowledged 30 s later, charged at 10,
    # issued at 20 (both by usage id)
    usage("u1", "IMP1", 0, serial="S1"), message("M1", 1, ("u1",)),
    charge("c1", "C1", 10, amount=1250, uid="u1", control="M1", serial="S1"),
    issue("i1", "IMP1", 20, uid="u1"),
    # u6: charged 200 min after its scan (the SLA is 120), not issued
    usage("u6", "IMP1", 80, serial="S6"),
    charge("c6", "C1", 280, amount=1250, uid="u6", serial="S6", used_minute=80),
    # u7: never charged nor issued
    usage("u7", "IMP1", 100, serial="S7"),
]
FACT = ("usage_id", "item_class", "channel", "received_s", "sent_s", "charge_s",
        "inventory_s", "charged_qty", "issued_qty", "billed_usd", "capture", "inventory",
        "inv_method", "qty_mismatch", "mapping_reason")


def _facts(engine: Engine, horizon_minute: float) -> list[tuple]:
    """The facts of RECORDS with both feeds caught up to ``horizon_minute``."""
    load(engine, master_data() + RECORDS)
    horizon = {FAC: at(horizon_minute)}
    with open_pass(engine) as conn:
        links_before(conn, SLA)
        map_usages(conn, SLA, True)
        assert rows(conn, pass_usages, "usage_id", "item_id", "cdm_code", "base_qty",
                    "price", "sla_s") == [(u, "IMP1", "C1", 1.0, 1250.0, 7200.0)
                                          for u in ("u1", "u6", "u7")]
        summarise_hops(conn, True)
        build_usage_facts(conn, SLA, True, billing_horizon=horizon, erp_horizon=horizon)
        found = rows(conn, metric_usage_facts, *FACT)
    # SQLite computes seconds from julian days: round off the float noise
    return [tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in found]


def test_hop_latencies_and_verdicts_of_usages_with_and_without_their_charge(
        engine: Engine) -> None:
    # Billing and ERP have posted up to 121 min after u7's scan: its charge is due
    # (SLA 120 min) and missing; no issue is due yet (SLA 240 min after u6 and u7).
    assert _facts(engine, 100 + 121) == [
        ("u1", "IMPLANT", "FAC01_CHG_OUT", 60.0, 90.0, 600.0, 1200.0, 1.0, 1.0, 1250.0,
         "on_time", "issued", "usage_id", False, ""),
        ("u6", "IMPLANT", "", None, None, 12000.0, None, 1.0, None, 1250.0,
         "late", "pending", "", False, ""),
        ("u7", "IMPLANT", "", None, None, None, None, None, None, None,
         "missing", "pending", "", False, ""),
    ]


@pytest.mark.parametrize(("horizon_minute", "u7"), [
    (100 + 119, ("pending", "pending")),  # billing not yet past u7's charge deadline
    (100 + 121, ("missing", "pending")),
    (100 + 241, ("missing", "missing")),  # and ERP past its issue deadline
])
def test_a_usage_without_charge_is_missing_only_once_the_feed_passed_its_deadline(
        engine: Engine, horizon_minute: float, u7: tuple[str, str]) -> None:
    by_usage = {r[0]: (r[10], r[11]) for r in _facts(engine, horizon_minute)}
    assert by_usage["u7"] == u7
    assert by_usage["u1"] == ("on_time", "issued")  # its own hops decide, not the horizon


def test_no_horizon_leaves_an_uncharged_usage_pending(engine: Engine) -> None:
    load(engine, master_data() + RECORDS)
    with open_pass(engine) as conn:
        links_before(conn, SLA)
        map_usages(conn, SLA, True)
        summarise_hops(conn, True)
        build_usage_facts(conn, SLA, True, billing_horizon={}, erp_horizon={})
        found = rows(conn, metric_usage_facts, "usage_id", "capture", "inventory")
    assert found == [("u1", "on_time", "issued"), ("u6", "late", "pending"),
                     ("u7", "pending", "pending")]


def test_the_mapping_stage_flags_what_does_not_map(engine: Engine) -> None:
    """Unknown item, no crosswalk, CDM line without HCPCS, a unit that does not convert,
    and a box of ten consumables counted as ten base units."""
    records = [usage("u9", "NOPE-1", 0), usage("u10", "IMP2", 1), usage("u11", "CON2", 2),
               usage("u12", "CON1", 3, uom="CS"), usage("u5", "CON1", 4, qty=2, uom="BX")]
    load(engine, master_data() + records)
    with open_pass(engine) as conn:
        links_before(conn, SLA)
        map_usages(conn, SLA, True)
        mapped = rows(conn, pass_usages, "usage_id", "item_id", "base_qty", "unknown",
                      "no_unit", "no_xwalk", "no_hcpcs", "sla_s")
    assert mapped == [
        # no crosswalk, so no coded CDM line either; the facts name the first reason
        ("u10", "IMP2", 1.0, 0, 0, 1, 1, 7200.0),
        ("u11", "CON2", 1.0, 0, 0, 0, 1, 86400.0),
        ("u12", "CON1", None, 0, 1, 0, 0, 86400.0),
        ("u5", "CON1", 20.0, 0, 0, 0, 0, 86400.0),
        ("u9", None, None, 1, 0, 0, 0, 86400.0),
    ]


def test_a_failed_mapping_is_never_also_a_missing_charge(engine: Engine) -> None:
    """One problem, one bucket: scans whose item fails to map are ``unmapped`` (their $
    under failed mapping), never ``missing`` (leakage), even with billing far past their
    deadline; a unit that does not convert fails billing mapping only on a chargeable
    item, and on a non-chargeable scan is a quantity mismatch of its issue."""
    records = [
        usage("u20", "CON2", 0),  # CDM line without HCPCS, its charge never posted
        issue("i20", "CON2", 10, uid="u20"),
        usage("u21", "CON1", 1, uom="CS"),  # chargeable, CS does not convert
        usage("u22", "IMP2", 2),  # no crosswalk
        usage("u23", "DRG1", 3, uom="CS"),  # not chargeable, CS does not convert
        issue("i23", "DRG1", 10, uid="u23"),
    ]
    load(engine, master_data() + records)
    horizon = {FAC: at(5000)}  # both feeds far past every deadline
    with open_pass(engine) as conn:
        links_before(conn, SLA)
        map_usages(conn, SLA, True)
        summarise_hops(conn, True)
        build_usage_facts(conn, SLA, True, billing_horizon=horizon, erp_horizon=horizon)
        found = rows(conn, metric_usage_facts, "usage_id", "capture", "mapping_reason",
                     "inventory", "qty_mismatch")
    assert found == [
        ("u20", "unmapped", "cdm_without_hcpcs", "issued", False),
        ("u21", "unmapped", "unit_not_convertible", "n/a", False),
        ("u22", "unmapped", "no_crosswalk", "missing", False),
        ("u23", "not_chargeable", "", "issued", True),
    ]


def test_a_contract_price_is_the_one_valid_on_the_scans_local_date(engine: Engine) -> None:
    """A contract's dates are the hospital's calendar: a scan at 20:00 in New York on the
    18th (01:00 UTC on the 19th) is priced by the contract that ended on the 18th, one
    the next morning by the contract that began on the 19th."""
    evening, morning = at(17 * 60), at(31 * 60)  # 19 Nov 01:00 and 15:00 UTC
    scans = [UsageEvent(usage_id=uid, facility_id=FAC, location_id=LOC, encounter_id="ENC1",
                        item_ref="CON1", quantity=Decimal(1), uom="EA", used_at=when,
                        used_on=when.astimezone(ZoneInfo("America/New_York")).date())
             for uid, when in (("u30", evening), ("u31", morning))]
    contracts = [
        ContractPrice(contract_id="K1", item_id="CON1", supplier="S", price=Decimal("1.50"),
                      valid_from=date(2026, 1, 1), valid_to=date(2026, 11, 18)),
        ContractPrice(contract_id="K2", item_id="CON1", supplier="S", price=Decimal("1.80"),
                      valid_from=date(2026, 11, 19)),
    ]
    load(engine, master_data() + contracts + scans)
    with open_pass(engine) as conn:
        update_feed_sources(conn, None)  # the facilities whose usage period is priced
        links_before(conn, SLA)
        map_usages(conn, SLA, True)
        priced = rows(conn, pass_usages, "usage_id", "unit_cost")
    assert priced == [("u30", 1.5), ("u31", 1.8)]
