"""Property: thousands of malformed HL7 messages and JSON pages never crash a collector;
each bad one is quarantined with a reason (source, position, reason, raw payload) and
the good records around it are ingested.

The HL7 property runs a whole log file through the real file collector into the store
(SQLite and PostgreSQL); the JSON properties run pages through the FHIR and OData
converters, then truncated JSON files through ``chargeline ingest``'s code path.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from collectors.base import CollectContext
from collectors.fhir_records import parse_bundle
from collectors.ingest import ingest_paths
from collectors.mapping import load_mapping
from collectors.odata_records import parse_odata_page
from collectors.plugins.hl7_log import LogFile, ingest_log_file
from core.config import Settings, SourceConfig
from core.sealing import sealer_for
from store.schema import interface_messages, quarantined_records
from tests.collectors import payloads as p

# --- HL7 -------------------------------------------------------------------------------

BAD_KINDS = ("truncated", "no_msh", "bad_encoding", "not_utf8", "garbage", "bad_time",
             "no_control_id", "ft1_without_id", "ack_without_msa", "bad_segment")


def good_dft(n: int) -> str:
    return p.dft(n)


def bad_message(kind: str, n: int, cut: int, noise: bytes) -> bytes:
    """A message that must be rejected, made unique by ``n``."""
    text = p.dft(n).replace("|EHR|", f"|EHR{n}|", 1)
    if kind == "truncated":  # cut somewhere after MSH-3, before the FT1: never complete
        lo = text.index(f"EHR{n}") + len(f"EHR{n}")
        hi = text.index("FT1|")
        return text[: lo + cut % (hi - lo)].encode()
    if kind == "no_msh":
        return text[text.index("\r") + 1:].replace("EVN|P03|", f"EVN|P03|{n}", 1).encode()
    if kind == "bad_encoding":
        return text.replace("MSH|^~\\&|", "MSH|^^^^|", 1).encode()
    if kind == "not_utf8":
        return text.replace("DOE^JANE", "DOE^J\udcff", 1).encode("utf-8", "surrogateescape")
    if kind == "garbage":
        return b"!" + str(n).encode() + noise
    if kind == "bad_time":
        return text.replace("20261118101532.123+0000||DFT", "2026-11-18T10:15||DFT", 1).encode()
    if kind == "no_control_id":
        return text.replace(f"|MSG-FAC01-{n:07d}|P|", "||P|", 1).encode()
    if kind == "ft1_without_id":
        return text.replace(f"FT1|1|U-FAC01-{n:07d}|", "FT1|1||", 1).encode()
    if kind == "ack_without_msa":
        return (p.ack(n).split("\r")[0].replace("|BILLING|", f"|BILLING{n}|") + "\r").encode()
    if kind == "bad_segment":
        return text.replace("\rPV1|", "\rpv1 broken|", 1).encode()
    raise AssertionError(kind)


# noise for garbage lines: no line ends, MLLP bytes or "MSH" (those would be structure);
# NUL bytes included (PostgreSQL text refuses them: the quarantine must not)
NOISE = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c not in b"\r\n\x0b\x1c").replace(b"MSH", b"M5H"))

ITEM = st.one_of(
    st.tuples(st.just("good"), st.booleans(), st.integers(), st.just(b"")),
    st.tuples(st.sampled_from(BAD_KINDS), st.booleans(), st.integers(min_value=0), NOISE),
)


@dataclass
class Log:
    data: bytes
    good: list[str]  # control ids of good DFTs
    bad: dict[int, bytes]  # offset -> raw payload of each malformed message


def build_log(items: list[tuple[str, bool, int, bytes]], segment_end: str) -> Log:
    """Lay the messages out as an engine log: CR/LF/CRLF segments; each message plain
    (a line end and a blank line after it) or MLLP-framed."""
    data = bytearray()
    good, bad = [], {}
    for n, (kind, framed, cut, noise) in enumerate(items, start=1):
        raw = (good_dft(n).encode() + p.ack(n).encode() if kind == "good"
               else bad_message(kind, n, cut, noise))
        body = raw.replace(b"\r", segment_end.encode())
        if kind == "good":
            good.append(f"MSG-FAC01-{n:07d}")
            # the ACK is a second message: frame or end each one separately
            dft_part, ack_part = body.split(b"MSH", 2)[1:]
            parts = [b"MSH" + dft_part, b"MSH" + ack_part]
        else:
            parts = [body]
        for part in parts:
            if framed:
                if kind != "good":
                    bad[len(data) + 1] = part.strip(b"\r\n")
                data += b"\x0b" + part + b"\x1c\r\n"
            else:
                if kind != "good":
                    bad[len(data)] = part.strip(b"\r\n")
                # each message ends its line and is followed by a blank one, so the
                # layout is unambiguous whatever the segment ends
                end = b"\r\n" if segment_end == "\r" else segment_end.encode()
                data += part.rstrip(b"\r\n") + end + end
    return Log(bytes(data), good, bad)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=st.lists(ITEM, min_size=1, max_size=60),
       segment_end=st.sampled_from(["\r", "\n", "\r\n"]))
def test_malformed_hl7_is_quarantined_and_good_messages_ingested(
        engine: Engine, tmp_path_factory: Any, items: list[Any], segment_end: str) -> None:
    log = build_log(items, segment_end)
    tag = uuid.uuid4().hex[:8]
    folder = tmp_path_factory.mktemp("hl7")
    path = folder / f"CH{tag}-20261118.hl7"
    path.write_bytes(log.data)
    source = SourceConfig(name=f"logs-{tag}", kind="hl7_log", path=str(folder))
    ctx = CollectContext(source, Settings(), engine, None, str(uuid.uuid4()))
    ingest_log_file(ctx, LogFile(path, f"CH{tag}", path.name, rotated=True), None)

    with engine.connect() as conn:
        stored = conn.execute(select(interface_messages.c.control_id, interface_messages.c.status)
                              .where(interface_messages.c.channel == f"CH{tag}")).all()
        quarantined = conn.execute(select(quarantined_records)
                                   .where(quarantined_records.c.source == source.name)).all()
    assert sorted(r.control_id for r in stored) == sorted(log.good)
    assert all(r.status == "S" for r in stored)  # each paired with its ACK
    by_position = {q.position: q for q in quarantined}
    assert set(by_position) == {f"{path.name}@{offset}" for offset in log.bad}
    for offset, raw in log.bad.items():
        row = by_position[f"{path.name}@{offset}"]
        assert row.reason and row.record_kind == "interface_message"
        # stored encrypted; it opens to the block's exact bytes
        assert row.raw_payload.startswith("fernet:")
        assert sealer_for(Settings()).open(row.raw_payload) == raw.strip(b"\r\n\t \x00")


def test_thousands_of_malformed_messages_in_one_log(engine: Engine, tmp_path: Path) -> None:
    """A deterministic large case beside the property: 3,000 messages, a third bad."""
    kinds = ["good", *BAD_KINDS]
    items = [(kinds[i % len(kinds)] if i % 3 == 0 else "good", i % 4 == 0, i * 7, b"xyz")
             for i in range(3000)]
    log = build_log(items, "\r")
    path = tmp_path / "BIG-20261118.hl7"
    path.write_bytes(log.data)
    source = SourceConfig(name="big", kind="hl7_log", path=str(tmp_path))
    ctx = CollectContext(source, Settings(), engine, None, "run")
    ingest_log_file(ctx, LogFile(path, "BIG", path.name, rotated=True), None)
    assert ctx.totals.fetched == len(log.good)
    assert ctx.totals.quarantined == len(log.bad) > 900


# --- JSON pages ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)

CHARGE_BREAKERS = {
    "quantity": lambda r, v: r.__setitem__("quantity", {"value": "lots"}),
    "date": lambda r, v: r.__setitem__("occurrenceDateTime", "yesterday"),
    "type": lambda r, v: r.__setitem__("resourceType", "Patient"),
    "no_id": lambda r, v: (r.pop("id"), r.pop("identifier")),
    "no_code": lambda r, v: r.pop("code"),
    "status": lambda r, v: r.__setitem__("status", "sideways"),
    "meta": lambda r, v: r.__setitem__("meta", v if not isinstance(v, dict) else [v]),
    "ext": lambda r, v: r.__setitem__("extension", [v, "x"]),
    "amount": lambda r, v: r.__setitem__("priceOverride", {"value": "a lot"}),
}


@st.composite
def bundle_entries(draw: Any) -> tuple[list[Any], int, list[int]]:
    """Entries of one searchset page: good ChargeItems and broken entries (their indexes)."""
    entries: list[Any] = []
    good, bad = 0, []
    for n in range(draw(st.integers(min_value=0, max_value=25))):
        choice = draw(st.sampled_from(["good", "junk", "not_object", *CHARGE_BREAKERS]))
        resource = p.resource(p.CHARGE_ITEM, n, f"2026-11-18T10:00:{n % 60:02d}.000Z")
        if choice == "good":
            entries.append({"resource": resource})
            good += 1
            continue
        bad.append(n)
        if choice == "junk":
            entries.append({"resource": draw(JSON_VALUES)})
        elif choice == "not_object":
            entries.append(draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict))))
        else:
            CHARGE_BREAKERS[choice](resource, draw(JSON_VALUES))
            entries.append({"resource": resource})
    return entries, good, bad


@settings(max_examples=200, deadline=None)
@given(page=bundle_entries(), link=JSON_VALUES, total=JSON_VALUES)
def test_broken_fhir_entries_are_rejected_with_a_reason(page: Any, link: Any, total: Any
                                                        ) -> None:
    entries, good, bad = page
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries, "link": link,
              "total": total}
    mapping = load_mapping("fhir_billing")["ChargeItem"]
    result = parse_bundle(bundle, "ChargeItem", mapping, "secret", "http://x/ChargeItem")
    assert len(result.records) == good
    # each broken entry is one reject naming its own place, with a reason and its bytes
    assert [r.position for r in result.rejects] == [f"http://x/ChargeItem#entry{i}"
                                                    for i in bad]
    for reject in result.rejects:
        assert reject.reason and isinstance(reject.raw, bytes) and reject.raw
    assert result.next_url is None or isinstance(result.next_url, str)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.one_of(
    st.tuples(st.just("good"), st.none()),
    st.tuples(st.sampled_from(["junk", "qty", "type", "date", "missing", "negate"]),
              JSON_VALUES)), max_size=25))
def test_broken_odata_rows_are_rejected_with_a_reason(rows: list[Any]) -> None:
    body_rows, good = [], 0
    for n, (kind, junk) in enumerate(rows):
        row = {**p.INVENTORY_ROW, "DocumentId": f"INV-{n:06d}"}
        if kind == "good":
            good += 1
        elif kind == "junk":
            row = junk if not isinstance(junk, dict) else {**junk, "Quantity": []}
        elif kind == "qty":
            row["Quantity"] = "many"
        elif kind == "type":
            row["TransactionType"] = "STEAL"
        elif kind == "date":
            row["PostedAt"] = "soon"
        elif kind == "missing":
            del row["ItemId"]
        else:
            row["Quantity"] = junk if not isinstance(junk, int | float) else "x"
        body_rows.append(row)
    mapping = load_mapping("odata_erp")["InventoryTransactions"]
    page = parse_odata_page({"value": body_rows}, "InventoryTransactions", mapping, "u")
    assert len(page.records) == good
    assert len(page.rejects) == len(rows) - good
    assert all(r.reason and r.position.startswith("u#row") for r in page.rejects)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.integers(min_value=1, max_value=20), cuts=st.lists(st.floats(0.01, 0.99),
                                                               min_size=1, max_size=4))
def test_truncated_json_pages_are_quarantined_whole_files_ingested(
        engine: Engine, tmp_path_factory: Any, n: int, cuts: list[float]) -> None:
    folder = tmp_path_factory.mktemp("pages")
    tag = uuid.uuid4().hex[:8]
    rows = [{**p.INVENTORY_ROW, "DocumentId": f"INV-{tag}-{i}"} for i in range(n)]
    whole = json.dumps({"@odata.context": "x/$metadata#InventoryTransactions", "value": rows})
    (folder / "InventoryTransactions-whole.json").write_text(whole)
    for i, cut in enumerate(cuts):
        (folder / f"InventoryTransactions-cut{i}.json").write_text(
            whole[: max(1, int(len(whole) * cut))] + f" {tag}{i}")
    summary = ingest_paths(Settings(), engine, [folder], source_name=f"files-{tag}")
    assert summary.records == n
    assert summary.quarantined == len(cuts)
    with engine.connect() as conn:
        reasons = conn.execute(select(quarantined_records.c.reason, quarantined_records.c.position)
                               .where(quarantined_records.c.source == f"files-{tag}")).all()
    assert len(reasons) == len(cuts)
    assert all("JSON" in r.reason and "-cut" in r.position for r in reasons)
