"""The time floors give the same hour and day on both databases, from stored columns and
from bound values (SQLite cuts the stored text rather than parsing it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, MetaData, Table, literal, select, text

from store.sqlfn import day_floor, hour_floor
from store.types import UtcDateTime

AT = datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)


def test_floors_of_a_bound_value(engine: Engine) -> None:
    at = literal(AT, UtcDateTime())
    with engine.connect() as conn:
        hour, day = conn.execute(select(hour_floor(at), day_floor(at))).one()
    assert hour == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert day == datetime(2026, 10, 31, tzinfo=UTC)


def test_floors_of_stored_times(engine: Engine) -> None:
    times = Table("floor_probe", MetaData(), Column("n", Integer, primary_key=True),
                  Column("at", UtcDateTime))
    with engine.begin() as conn:
        times.create(conn)
        try:
            conn.execute(times.insert(), [{"n": 1, "at": AT}, {"n": 2, "at": MIDNIGHT},
                                          {"n": 3, "at": None}])
            if engine.dialect.name == "sqlite":  # text written by hand, ISO 'T' separator
                conn.execute(text("INSERT INTO floor_probe VALUES (4, "
                                  "'2026-10-31T07:30:00.000000')"))
            rows = conn.execute(select(times.c.n, hour_floor(times.c.at),
                                       day_floor(times.c.at)).order_by(times.c.n)).all()
        finally:
            times.drop(conn)
    assert rows[:3] == [
        (1, datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)),
        (2, MIDNIGHT, MIDNIGHT),
        (3, None, None),
    ]
    if engine.dialect.name == "sqlite":
        assert rows[3] == (4, datetime(2026, 10, 31, 7, tzinfo=UTC),
                           datetime(2026, 10, 31, tzinfo=UTC))
