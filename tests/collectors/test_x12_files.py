"""The x12_files source and ``chargeline ingest`` of X12 files, into a real store
(SQLite and PostgreSQL): each interchange read exactly once, bad ones quarantined."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from collectors.base import CollectContext, needs_http
from collectors.ingest import ingest_paths, sniff
from collectors.ingest_plan import plan_ingest
from collectors.plugins.x12_files import X12FilesCollector
from collectors.registry import collector_for
from core.config import Settings, SourceConfig
from core.errors import ConfigError, SourceError
from core.sealing import sealer_for
from store.schema import (
    quarantined_records,
    remittance_adjustments,
    remittance_lines,
    remittances,
)

DATA = Path(__file__).parents[1] / "data" / "x12"
DENIAL = (DATA / "denial-835.txt").read_bytes()
MULT_LOOPS = (DATA / "pyx12-835_mult_loops.txt").read_bytes()
BAD_LOOPING = (DATA / "pyx12-835-bad_header_looping-4010.txt").read_bytes()


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (remittances, remittance_lines, remittance_adjustments))


def quarantined(engine: Engine, source: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(quarantined_records)
                            .where(quarantined_records.c.source == source)
                            .order_by(quarantined_records.c.position)).all()


def poll(engine: Engine, source: SourceConfig, run: str) -> CollectContext:
    ctx = CollectContext(source, Settings(), engine, None, run)
    X12FilesCollector().poll(ctx)
    return ctx


def settle(path: Path) -> None:
    """Make a file look long untouched (its writer done)."""
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))


def test_the_kind_is_registered_and_reads_files_not_http() -> None:
    assert isinstance(collector_for("x12_files"), X12FilesCollector)
    assert not needs_http("x12_files")
    with pytest.raises(ValueError, match="an x12_files source needs path"):
        SourceConfig(name="era", kind="x12_files")


def test_a_folder_of_835s_is_read_once_and_grown_files_from_where_they_stopped(
        engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "era"
    (folder / "payer-a").mkdir(parents=True)
    (folder / "payer-a" / "20261203.835").write_bytes(DENIAL)
    (folder / "notes.txt").write_text("not an X12 file: left alone")
    source = SourceConfig(name="era", kind="x12_files", path=str(folder),
                          facility_by_payee={"1234567893": "FAC01"})
    first = poll(engine, source, "run1")
    assert counts(engine) == (2, 3, 4)
    assert first.totals.fetched == 9 and first.totals.quarantined == 0
    with engine.connect() as conn:
        row = conn.execute(select(remittances).where(
            remittances.c.claim_id == "ENC1001")).one()
    assert (row.facility_id, Decimal(row.paid_amount), row.status_code) == (
        "FAC01", Decimal("1450.00"), "1")

    again = poll(engine, source, "run2")  # nothing new: nothing read
    assert (again.totals.fetched, again.totals.quarantined) == (0, 0)

    grown = folder / "payer-a" / "20261203.835"
    with open(grown, "ab") as handle:  # the payer appends two interchanges, one invalid
        handle.write(BAD_LOOPING + b"\n" + MULT_LOOPS)
    third = poll(engine, source, "run3")
    assert (third.totals.fetched, third.totals.quarantined) == (7, 1)  # only the new ones
    assert counts(engine) == (3, 6, 7)
    (reject,) = quarantined(engine, "era")
    assert reject.position == f"{grown}@{len(DENIAL)}"
    assert reject.record_kind == "x12_interchange"
    assert "SE count of 39 for SE02=0001 is wrong" in reject.reason
    assert sealer_for(Settings()).open(reject.raw_payload) == BAD_LOOPING + b"\n"


def test_an_interchange_being_written_waits_until_it_is_complete(
        engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "era"
    folder.mkdir()
    path = folder / "incoming.835"
    path.write_bytes(DENIAL + MULT_LOOPS[:200])  # the second interchange half written
    source = SourceConfig(name="era", kind="x12_files", path=str(folder))
    assert poll(engine, source, "run1").totals.fetched == 9
    path.write_bytes(DENIAL + MULT_LOOPS)
    assert poll(engine, source, "run2").totals.fetched == 7
    assert quarantined(engine, "era") == []
    # a file cut short and left so: once it settles, pyx12 says what is missing
    cut = folder / "cut.835"
    cut.write_bytes(DENIAL[:-30])
    assert poll(engine, source, "run3").totals.quarantined == 0
    settle(cut)
    assert poll(engine, source, "run4").totals.quarantined == 1
    (reject,) = quarantined(engine, "era")
    assert reject.position == f"{cut}@0" and "pyx12" in reject.reason


def test_a_missing_folder_is_a_source_error(engine: Engine, tmp_path: Path) -> None:
    source = SourceConfig(name="era", kind="x12_files", path=str(tmp_path / "nope"))
    with pytest.raises(SourceError, match=r"X12 folder .* does not exist"):
        poll(engine, source, "run1")


def test_ingest_recognises_x12_files_in_a_folder(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "remit.edi").write_bytes(DENIAL + b"\n" + BAD_LOOPING)
    assert sniff(folder / "remit.edi") == "x12"
    summary = ingest_paths(Settings(), engine, [folder], source_name="era-backfill")
    assert (summary.records, summary.quarantined, summary.unrecognised) == (9, 1, [])
    assert counts(engine) == (2, 3, 4)
    again = ingest_paths(Settings(), engine, [folder], source_name="era-backfill")
    assert again.written == 0 and counts(engine) == (2, 3, 4)  # upserts: no second row


def test_ingest_under_an_x12_source_maps_its_payees_and_refuses_other_files(
        engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "remit.835").write_bytes(DENIAL)
    settings = Settings(sources=[SourceConfig(name="era", kind="x12_files", path=str(folder),
                                              facility_by_payee={"1234567893": "FAC01"})])
    summary = ingest_paths(settings, engine, [folder], plan=plan_ingest(settings, "era"))
    assert (summary.records, summary.quarantined) == (9, 0)
    with engine.connect() as conn:
        assert set(conn.execute(select(remittances.c.facility_id)).scalars()) == {"FAC01"}
    (folder / "DFT_OUT.hl7").write_bytes(
        b"MSH|^~\\&|EHR|FAC01|BILL|FAC01|20261118||DFT^P03|1|P|2.5\r")
    with pytest.raises(ConfigError, match=r"era is a x12_files source, and these files cannot"):
        ingest_paths(settings, engine, [folder], plan=plan_ingest(settings, "era"))
    with pytest.raises(ConfigError, match="kind 'x12_files' cannot be ingested with a field"):
        plan_ingest(settings, None, [f"x12_files={folder / 'remit.835'}"])
