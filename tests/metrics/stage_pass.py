"""One compute pass opened stage by stage, for the stage tests (``test_stage_*.py``).

``open_pass`` is what ``metrics.compute.run.compute`` opens around its stages: one
transaction with the pass's scratch tables (``pass_tables``); here it is rolled back
after the test has read what the stage under test wrote. The ``*_before`` helpers run,
in ``run._full``'s order, the stages a later stage reads, so a test calls the stage it
is about directly and asserts its own output rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from core.config import ChargeSla
from metrics.compute.charge_facts import build_charge_facts, find_duplicates
from metrics.compute.feeds import usage_period
from metrics.compute.itemdim import fill_item_dim
from metrics.compute.pass_tables import pass_tables
from metrics.compute.run import priced_period
from metrics.compute.stitching import link_charges, link_issues
from store.upsert import upsert_records
from tests.metrics.factories import T0

INGESTED = T0 + timedelta(days=1)  # when ``load`` says the records arrived


def load(engine: Engine, records: Sequence[Any], *, ingested: datetime = INGESTED) -> None:
    """Write canonical records as one collector would, ingested at ``ingested``."""
    with engine.begin() as conn:
        upsert_records(conn, records, source="test", now=ingested)


@contextmanager
def open_pass(engine: Engine) -> Iterator[Connection]:
    """A connection inside one pass's transaction with its scratch tables; nothing the
    stages write outlives the block."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            with pass_tables(conn):
                yield conn
        finally:
            transaction.rollback()


def charge_facts_before(conn: Connection) -> None:
    """What stitching reads: the item dimension and the charge facts (a full pass)."""
    fill_item_dim(conn, priced_period(usage_period(conn)))
    build_charge_facts(conn, True)


def links_before(conn: Connection, sla: ChargeSla) -> None:
    """What the usage-facts stages read: every stage of a full pass before them."""
    charge_facts_before(conn)
    link_charges(conn, True)
    find_duplicates(conn, sla, True)
    link_issues(conn, True)


def rows(conn: Connection, table: Table, *columns: str, **where: Any) -> list[tuple]:
    """``columns`` of ``table``'s rows (those equal to ``where``), sorted by their text
    (a column may hold NULL)."""
    query = select(*(table.c[c] for c in columns))
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    return sorted((tuple(r) for r in conn.execute(query)), key=lambda r: [str(v) for v in r])
