"""Hostile input generators (issue 18): HL7 v2 files with hostile values in real fields and
in every layout a log comes in, and FHIR / OData JSON files with hostile values, deep
nesting, non-object entries and cut-off documents.

Shared by the fuzz property (``tests/collectors/test_hostile_input.py``) and the fuzz
figures (``python -m bench fuzz``), so both feed the store the same shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from collectors.ingest import ingest_paths
from collectors.rejects import UNEXPECTED
from core.config import Settings
from store.schema import charges, quarantined_records
from tests.collectors import payloads as p

HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["\x00", "X" * 70, "A^B^C^D^E^F^G", "\\F\\\\S\\", "\ud800", "é" * 40,
                     "99999999999999999999", "-1e400", "00010101000000+0100", "|", "\r",
                     "\n", "MSH|^~\\&|", "FHS|", "\x0b", "\x1c"]))
HL7_FIELDS = [("MSH", 4), ("MSH", 6), ("MSH", 7), ("MSH", 9), ("MSH", 10), ("MSH", 12),
              ("EVN", 2), ("PID", 3), ("PV1", 19), ("FT1", 2), ("FT1", 4), ("FT1", 10),
              ("ZUS", 3)]


def mutate_hl7(text: str, segment: str, number: int, value: str) -> str:
    lines = text.split("\r")
    for i, line in enumerate(lines):
        if line.startswith(segment):
            fields = line.split("|")
            index = number - 1 if segment == "MSH" else number
            fields += [""] * (index + 1 - len(fields))
            fields[index] = value
            lines[i] = "|".join(fields)
            break
    return "\r".join(lines)


@st.composite
def hl7_file(draw: Any, n: int) -> bytes:
    text = p.dft(n) + p.ack(n)
    for segment, number in draw(st.lists(st.sampled_from(HL7_FIELDS), max_size=3)):
        text = mutate_hl7(text, segment, number, draw(HOSTILE_TEXT))
    data = text.encode("utf-8", "surrogatepass")
    shape = draw(st.sampled_from(["cr", "lf", "bom", "batch", "bytes"]))
    if shape == "lf":
        data = data.replace(b"\r", b"\n")
    elif shape == "bom":
        data = b"\xef\xbb\xbf" + data
    elif shape == "batch":
        data = b"FHS|^~\\&|A\rBHS|^~\\&|A\r" + data + b"BTS|1\rFTS|1\r"
    elif shape == "bytes":
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=20)) + data[cut:]
    return data


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      HOSTILE_TEXT)
JSON_ANY = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@st.composite
def json_file(draw: Any, n: int) -> bytes:
    kind = draw(st.sampled_from(["bundle", "resource", "odata", "deep", "cut"]))
    resource = p.resource(draw(st.sampled_from([p.CHARGE_ITEM, p.ENCOUNTER, p.CLAIM])), n)
    for _ in range(draw(st.integers(0, 2))):  # hostile values in real places
        key = draw(st.sampled_from(sorted(resource)))
        resource[key] = draw(JSON_ANY)
    if kind == "odata":
        row = {**p.INVENTORY_ROW, "DocumentId": f"INV-{n}"}
        row[draw(st.sampled_from(sorted(row)))] = draw(JSON_ANY)
        body: Any = {"@odata.context": "x/$metadata#InventoryTransactions",
                     "value": [row, draw(JSON_ANY)]}
    elif kind == "resource":
        body = resource
    elif kind == "deep":
        body = {"resourceType": "Bundle", "entry": [{"resource": resource}]}
        inner: Any = {}
        for _ in range(draw(st.integers(60, 400))):
            inner = {"a": [inner]}
        body["entry"].append(inner)
    else:
        body = {"resourceType": "Bundle", "entry": draw(st.one_of(
            st.just([{"resource": resource}]), JSON_ANY.map(lambda v: [v, {"resource": resource}]),
            JSON_ANY))}
    data = json.dumps(body).encode()
    if kind == "cut":
        data = data[: draw(st.integers(1, len(data)))]
    return data


def empty_bundle(path: Path) -> bool:
    """A Bundle without entries (``entry`` absent, null or []): nothing to store."""
    try:
        body = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and body.get("resourceType") == "Bundle" and \
        body.get("entry") in (None, [])


@dataclass(frozen=True)
class Outcome:
    """What became of one hostile input ingested with a good file after it."""

    kind: str  # stored, quarantined, stored+quarantined, empty (nothing to store), vanished
    records: int  # records the input gave
    reasons: tuple[str, ...]  # the input's quarantine reasons
    unforeseen: int  # quarantine rows of the pass that are a failure caught per record
    good_after: bool  # the good file after it was stored


def ingest_with_good_after(settings: Settings, engine: Engine, folder: Path, suffix: str,
                           data: bytes, n: int, source: str) -> Outcome:
    """Write ``data`` as input ``n`` (an ``.hl7`` file in a channel folder, or a ``.json``
    file) and a good FHIR file after it into the empty ``folder``, ingest the folder under
    ``source`` (one pass, as ``chargeline ingest`` reads a folder) and say what became of
    the input. A traceback out of ingest propagates. The good charge is numbered from ``n``
    (``CHG-FAC01-{1,000,000 + n}``), so give each input of a store its own ``n``."""
    if suffix == ".hl7":
        (folder / "CH").mkdir()
        path = folder / "CH" / f"{n}.hl7"
    else:
        path = folder / f"{n}.json"
    path.write_bytes(data)
    good = f"CHG-FAC01-{1_000_000 + n:07d}"
    (folder / "z-good.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [
        {"resource": p.resource(p.CHARGE_ITEM, 1_000_000 + n)}]}))
    summary = ingest_paths(settings, engine, [folder], source_name=source)
    with engine.connect() as conn:
        rows = conn.execute(select(quarantined_records.c.reason, quarantined_records.c.position)
                            .where(quarantined_records.c.source == source)).all()
        good_after = conn.execute(select(func.count()).select_from(charges).where(
            charges.c.charge_id == good)).scalar_one() == 1
    reasons = tuple(r.reason for r in rows if r.position.startswith(str(path)))
    records = summary.records - good_after
    kind = ("stored+quarantined" if records and reasons else "stored" if records
            else "quarantined" if reasons else "empty" if empty_bundle(path) else "vanished")
    return Outcome(kind, records, reasons, sum(UNEXPECTED in r.reason for r in rows),
                   good_after)
