"""The stitching stage alone (``metrics.compute.stitching``): the links it writes to
``metric_links`` for a few hand-built records, on the real schema.

Each case loads the master data and a handful of records, runs the stages stitching reads
(item dimension, charge facts) and then ``link_charges`` or ``link_issues``, and asserts
every link row the stage wrote: a wrong method, a wrong usage or one link too many fails.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from metrics.compute.stitching import FALLBACK_ISSUE_DAYS, link_charges, link_issues
from store.schema_metrics import metric_charge_facts, metric_links
from tests.metrics.factories import at, charge, issue, master_data, message, usage
from tests.metrics.stage_pass import charge_facts_before, load, open_pass, rows

LINK = ("usage_id", "hop", "target_id", "method", "encounter_id")


def _charge_links(engine: Engine, records: list[Any]) -> list[tuple]:
    load(engine, master_data() + records)
    with open_pass(engine) as conn:
        charge_facts_before(conn)
        link_charges(conn, True)
        return rows(conn, metric_links, *LINK)


def _issue_links(engine: Engine, records: list[Any]) -> list[tuple]:
    load(engine, master_data() + records)
    with open_pass(engine) as conn:
        charge_facts_before(conn)
        link_charges(conn, True)
        link_issues(conn, True)
        return rows(conn, metric_links, *LINK, hop="inventory")


def test_a_charge_without_usage_id_links_to_the_scan_nearest_its_service_instant(
        engine: Engine) -> None:
    # Two scans of one consumable in one encounter and day; the charge names neither but
    # says it was used at 10:50, nearer the second scan. Pairing in time order would
    # have taken the first.
    records = [usage("ua", "CON1", 0), usage("ub", "CON1", 180),
               charge("cb", "C2", 200, amount=5).model_copy(update={"service_at": at(170)})]
    assert _charge_links(engine, records) == [("ub", "charge", "cb", "fallback", "ENC1")]


def test_a_charge_without_service_instant_pairs_with_the_free_scans_in_time_order(
        engine: Engine) -> None:
    records = [usage("ua", "CON1", 0), usage("ub", "CON1", 180),
               charge("c1", "C2", 190, amount=5), charge("c2", "C2", 200, amount=5)]
    assert _charge_links(engine, records) == [("ua", "charge", "c1", "fallback", "ENC1"),
                                              ("ub", "charge", "c2", "fallback", "ENC1")]


def test_a_duplicates_unlinked_copy_is_linked_to_the_scan_its_twin_names(
        engine: Engine) -> None:
    # c8a carries the usage id; c8b, the same implant billed again, carries nothing. The
    # scan is claimed (a charge names it), so only the last round links c8b, as a
    # duplicate of that scan rather than of nothing.
    records = [usage("u8", "IMP1", 0, serial="S8"),
               charge("c8a", "C1", 10, amount=1250, uid="u8", serial="S8"),
               charge("c8b", "C1", 11, amount=1250)]
    load(engine, master_data() + records)
    with open_pass(engine) as conn:
        charge_facts_before(conn)
        link_charges(conn, True)
        links = rows(conn, metric_links, *LINK)
        facts = rows(conn, metric_charge_facts, "charge_id", "usage_id", "link_method")
    assert links == [("u8", "charge", "c8b", "fallback", "ENC1")]
    # the link is recorded on the charge fact; c8a keeps the link its own key gives
    assert facts == [("c8a", "u8", "usage_id"), ("c8b", "u8", "fallback")]


def test_a_charge_that_lost_its_usage_id_links_by_its_hl7_control_id(engine: Engine) -> None:
    records = [usage("u16", "CON1", 0), message("M16", 1, ("u16",)),
               charge("c16", "C2", 10, amount=5, control="M16")]
    assert _charge_links(engine, records) == [("u16", "charge", "c16", "control_id", "ENC1")]


def test_a_credit_without_usage_id_belongs_to_the_usage_of_the_charge_it_reverses(
        engine: Engine) -> None:
    records = [usage("u4", "IMP1", 0, serial="S4"),
               charge("c4a", "C1", 5, amount=1250, uid="u4", serial="S4"),
               charge("c4b", "C1", 9, qty=-1, amount=-1250, reverses="c4a", serial="S4",
                      used_minute=0)]
    assert _charge_links(engine, records) == [("u4", "charge", "c4b", "reversal", "ENC1")]


def test_an_erp_issue_without_usage_ref_links_to_the_nearest_scan_before_it(
        engine: Engine) -> None:
    # The issue moved 30 minutes after the second scan: its nearest. An issue moved more
    # than FALLBACK_ISSUE_DAYS after every scan belongs to none.
    late = FALLBACK_ISSUE_DAYS * 1440 + 200
    records = [usage("ua", "CON1", 0), usage("ub", "CON1", 60), issue("i1", "CON1", 90),
               issue("i-late", "CON1", late)]
    assert _issue_links(engine, records) == [("ub", "inventory", "i1", "fallback", "ENC1")]


def test_an_erp_issue_without_usage_ref_links_by_serial_before_time(engine: Engine) -> None:
    # The issue names serial S1, the first scan's, though the second scan is nearer.
    records = [usage("us", "IMP1", 0, serial="S1"), usage("ut", "IMP1", 1, serial="S2"),
               issue("i1", "IMP1", 30).model_copy(update={"serial": "S1"})]
    assert _issue_links(engine, records) == [("us", "inventory", "i1", "serial", "ENC1")]


def test_an_issue_that_names_its_usage_needs_no_link(engine: Engine) -> None:
    records = [usage("u1", "CON1", 0), issue("i1", "CON1", 30, uid="u1")]
    assert _issue_links(engine, records) == []



def test_a_pairing_round_counts_the_links_it_made_so_the_rounds_stop(engine: Engine) -> None:
    # The rounds of issue and charge pairing stop at the first that links nothing; on
    # PostgreSQL the count came back as -1 and every loop ran to its last round.
    from sqlalchemy import literal, select, union_all

    from metrics.compute.stitching import _insert_links

    two = union_all(*(select(literal(u).label("usage_id"), literal("inventory").label("hop"),
                             literal(t).label("target_id"), literal("fallback").label("m"),
                             literal("ENC1").label("e"), literal(at(0)).label("at"))
                      for u, t in (("ua", "I1"), ("ub", "I2")))).subquery()
    query = select(*two.c)
    with open_pass(engine) as conn:
        assert _insert_links(conn, query) == 2
        assert _insert_links(conn, query) == 0  # both links exist: the round made none
