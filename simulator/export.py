"""The estate as files: what another hospital would hand over for scoring
(``chargeline simulate --export DIR``).

The estate as it stands at the truth's ``as_of`` (the window end), written the way the
rendering writes it, with the same render functions the server uses
(``simulator.served.build_collections``), each record once, its latest visible version:

- ``billing/{ChargeItem,Encounter,Claim,ClaimResponse,ExplanationOfBenefit}.ndjson``
  (the EOBs only under a rendering with ``remittance: fhir``, and only when there are
  any: an empty file is no NDJSON) and
  ``ehr/SupplyDelivery.ndjson``: FHIR R4 bulk NDJSON, one resource a line, in
  (lastUpdated, id) order;
- ``erp/<EntitySet>-<nnnn>.json``: OData v4 JSON pages of at most ``ODATA_PAGE_ROWS``
  rows, ``{"@odata.context": "$metadata#<EntitySet>", "value": [...],
  "@odata.nextLink": "<EntitySet>-<nnnn+1>.json"}`` (a link relative to the page; the
  last page has none); every entity set has at least one page, maybe empty;
- ``hl7/<channel>/<channel>-<YYYYMMDD>.hl7``: the engine's logs as
  ``simulator.files.write_estate_files`` writes them (under ``separate_ack_log`` the ACKs
  in ``<channel>-<YYYYMMDD>.ack.hl7`` beside, which a folder read meets first);
- ``x12/<payer_id>/<YYYYMMDD>.835``: the payers' X12 005010X221A1 remittances
  (simulator.x12_835), the same under every rendering;
- ``x12-claims/<facility_id>/<YYYYMMDD>.837``: the billing system's X12 005010X223A2 837I
  claims (simulator.x12_837), the same under every rendering;
- ``truth.json``, ``mappings/<source>.yaml`` (the rendering's field-mapping overrides),
  ``rendering.json`` (a rendering other than plain) and ``README.txt``: the commands that
  load and score it.

Only the data folders are meant for ``chargeline ingest``: the README names them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from simulator import odata
from simulator.estate_record import Estate
from simulator.files import X12_CLAIMS_DIR, X12_DIR, write_estate_files
from simulator.payers import npi
from simulator.rendering import Rendering, get_rendering, rendering_name
from simulator.served import build_collections

ODATA_PAGE_ROWS = 1000
# served collection -> NDJSON file
FHIR_FILES = {
    "billing/ChargeItem": "billing/ChargeItem.ndjson",
    "billing/Encounter": "billing/Encounter.ndjson",
    "billing/Claim": "billing/Claim.ndjson",
    "billing/ClaimResponse": "billing/ClaimResponse.ndjson",
    "billing/ExplanationOfBenefit": "billing/ExplanationOfBenefit.ndjson",
    "ehr/SupplyDelivery": "ehr/SupplyDelivery.ndjson",
}
EOB_COLLECTION = "billing/ExplanationOfBenefit"  # written when there are EOBs (remittance: fhir)
DATA_DIRS = ("billing", "ehr", "erp", "hl7")
# the 835 remittances: named in the ingest command, kept apart from DATA_DIRS (which the
# file-estate metrics test ingests) until the x12_files collector reads them
REMITTANCE_DIRS = (X12_DIR, X12_CLAIMS_DIR)
# what an export writes besides the data folders (removed before a new export)
META = ("truth.json", "rendering.json", "README.txt", "mappings")
# demo source (simulator.sources) -> the collector kind its mapping override is for
SOURCE_KINDS = {"billing": "fhir_billing", "ehr-usage": "fhir_usage", "erp": "odata_erp",
                "engine-logs": "hl7_log"}
_MARK = "Chargeline demo estate export"


@dataclass
class ExportSummary:
    out: Path
    rendering: str
    as_of: str
    files: list[Path] = field(default_factory=list)  # data files, relative to ``out``
    rows: dict[str, int] = field(default_factory=dict)  # collection -> records written
    mappings: dict[str, Path] = field(default_factory=dict)  # collector kind -> file

    def ingest_command(self) -> str:
        """The ``chargeline ingest`` command that loads this export."""
        paths = " ".join(str(self.out / d) for d in (*DATA_DIRS, *REMITTANCE_DIRS))
        maps = "".join(f" --mapping {kind}={path}"
                       for kind, path in sorted(self.mappings.items()))
        return f"chargeline ingest{maps} {paths}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def page_name(entity_set: str, number: int) -> str:
    """``erp/`` file name of page ``number`` (from 1) of an entity set: sorts in page order."""
    return f"{entity_set}-{number:04d}.json"


def _clear(out: Path) -> None:
    """Make ``out`` ready: new, empty, or an earlier export (whose files are removed)."""
    if not out.exists():
        out.mkdir(parents=True)
        return
    if not out.is_dir():
        raise ConfigError(f"--export {out} is a file — give a folder (new or empty)")
    readme = out / "README.txt"
    earlier = readme.is_file() and readme.read_text(encoding="utf-8",
                                                    errors="replace").startswith(_MARK)
    if not earlier:
        if any(out.iterdir()):
            raise ConfigError(f"--export {out} is not empty and holds no earlier export — "
                              "give a new or empty folder")
        return
    for name in (*DATA_DIRS, *REMITTANCE_DIRS, *META):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _write_ndjson(path: Path, resources: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_dumps(r) + "\n" for r in resources), encoding="utf-8")


def _write_pages(folder: Path, entity_set: str, rows: list[dict[str, Any]],
                 page_rows: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [rows[i:i + page_rows] for i in range(0, len(rows), page_rows)] or [[]]
    written = []
    for n, chunk in enumerate(chunks, start=1):
        body: dict[str, Any] = {"@odata.context": f"$metadata#{entity_set}", "value": chunk}
        if n < len(chunks):
            body["@odata.nextLink"] = page_name(entity_set, n + 1)
        path = folder / page_name(entity_set, n)
        path.write_text(_dumps(body) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _readme(summary: ExportSummary, truth: dict[str, Any]) -> str:
    out = summary.out
    maps = "\n".join(f"  {kind}: {path}" for kind, path in sorted(summary.mappings.items()))
    payees = ", ".join(f"{npi(int(f.removeprefix('FAC')))} {f}" for f in truth["facilities"])
    return f"""{_MARK} (rendering '{summary.rendering}', seed {truth["seed"]}, facilities \
{", ".join(truth["facilities"])}), as of {summary.as_of}.

Load it into the store named by CHARGELINE_DATABASE_URL (only the data folders: the
truth, this file and the mappings are not data), then compute and report the window:

  {summary.ingest_command()}
  chargeline metrics compute
  chargeline report --json --since {truth["start"]} --until {truth["as_of"]}

Data: billing/*.ndjson and ehr/SupplyDelivery.ndjson (FHIR R4 NDJSON, one resource a
line), erp/<EntitySet>-<n>.json (OData v4 JSON pages of at most {ODATA_PAGE_ROWS} rows,
chained by @odata.nextLink), hl7/<channel>/*.hl7 (HL7 v2.5 DFT^P03 and ADT logs; an
*.ack.hl7 beside a log holds its ACKs), x12/<payer>/<YYYYMMDD>.835 (X12 005010X221A1
remittances, one file per payer and payment date; the payee is the facility's NPI:
{payees} — an x12_files source maps them with facility_by_payee, else they are
stored under the NPI), x12-claims/<facility>/<YYYYMMDD>.837 (X12 005010X223A2 837I claims,
one file per facility and claim day; the billing provider is the same NPI; REF*6R of each
line is the charge id it bills).
Field mappings this rendering needs (--mapping KIND=FILE):
{maps or "  none (the default mappings read it)"}
Ground truth: {out / "truth.json"} (docs/wire-formats.md, "Ground truth").
"""


def export_estate(estate: Estate, out: Path, rendering: str | Rendering | None = None,
                  page_rows: int = ODATA_PAGE_ROWS) -> ExportSummary:
    """Write ``estate`` under ``out`` as files, as ``rendering`` writes it (see the module
    docstring); ``out`` must be new, empty or an earlier export."""
    if estate.live:
        raise ConfigError("--export writes the estate at its window end; leave --live out")
    chosen = get_rendering(rendering)
    out = Path(out)
    _clear(out)
    as_of = estate.hl7.as_of
    # the logs, the truth, the mapping overrides and rendering.json, as for the server
    write_estate_files(estate, out, rendering=chosen)
    summary = ExportSummary(out, rendering_name(chosen), estate.truth["as_of"])
    summary.mappings = {SOURCE_KINDS[p.stem]: p for p in sorted((out / "mappings").glob(
        "*.yaml")) if p.stem in SOURCE_KINDS}
    collections = (estate.collections if chosen.is_plain
                   else build_collections(estate, chosen))
    for name, file in FHIR_FILES.items():
        col = collections[name]
        records = col.visible_records(as_of)
        if name == EOB_COLLECTION and not records:
            continue  # the payers send 835 files only: no EOB file (an empty one is no NDJSON)
        _write_ndjson(out / file, [col.render(r) for r in records])
        summary.rows[name] = len(records)
        summary.files.append(Path(file))
    for entity_set in odata.KEYS:
        col = collections[f"erp/{entity_set}"]
        records = col.visible_records(as_of)
        pages = _write_pages(out / "erp", entity_set, [col.render(r) for r in records],
                             page_rows)
        summary.rows[f"erp/{entity_set}"] = len(records)
        summary.files += [p.relative_to(out) for p in pages]
    summary.files += sorted(p.relative_to(out) for p in (out / "hl7").rglob("*") if p.is_file())
    summary.files += sorted(p.relative_to(out) for p in (out / X12_DIR).rglob("*.835"))
    summary.rows["x12/835"] = estate.truth["remittances"]["claims"]
    summary.files += sorted(p.relative_to(out) for p in (out / X12_CLAIMS_DIR).rglob("*.837"))
    summary.rows["x12/837"] = len(estate.truth["claims"]["items"])
    (out / "README.txt").write_text(_readme(summary, estate.truth), encoding="utf-8")
    return summary
