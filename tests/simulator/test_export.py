"""``chargeline simulate --export DIR``: the estate at its window end as files.

The files exist where docs/wire-formats.md says; each NDJSON line is an R4 resource of
its file's type, each record once, as many as the truth counts; the OData pages of an
entity set chain by ``@odata.nextLink`` from the first to the last (which has none) and
hold every row once, at most 1000 a page; under ``separate_ack_log`` (``world``) each ACK
log sorts before its message log; a ``plain`` export's logs and truth are the estate's
own bytes. (That an export scores as its truth: tests/metrics/test_file_estate.py.)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from chargeline.cli import app
from core.errors import ConfigError
from simulator.config import FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.export import (
    EOB_COLLECTION,
    FHIR_FILES,
    ODATA_PAGE_ROWS,
    export_estate,
    page_name,
)
from simulator.odata import KEYS
from simulator.rendering import RENDERINGS
from tests.estate import estate_config

# served collection -> the truth's count of it
COUNTED = {"billing/ChargeItem": "charges", "billing/Encounter": "encounters",
           "billing/Claim": "claims", "billing/ClaimResponse": "claim_responses",
           "ehr/SupplyDelivery": "usage_events",
           "erp/InventoryTransactions": "inventory_transactions",
           "erp/PurchaseRequisitions": "purchase_requisitions", "erp/Items": "items",
           "erp/ItemUnits": "item_units", "erp/ReorderPoints": "reorder_points",
           "erp/ChargeMaster": "cdm_entries", "erp/Crosswalk": "crosswalk",
           "erp/ContractPrices": "contract_prices", "erp/Locations": "locations"}


@pytest.fixture(scope="module")
def estate() -> Estate:
    return build_estate(estate_config(seed=5, facilities=2, faults="high"), progress=False)


@pytest.fixture(scope="module")
def exports(estate: Estate, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: export_estate(estate, tmp_path_factory.mktemp(f"export-{name}"), name).out
            for name in ("plain", "world")}


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n" not in text
    return [json.loads(line) for line in text.splitlines()]


def _chain(folder: Path, entity_set: str) -> list[dict[str, Any]]:
    """The pages of an entity set from the first, following each nextLink."""
    pages, name = [], page_name(entity_set, 1)
    while True:
        body = json.loads((folder / name).read_text(encoding="utf-8"))
        assert body["@odata.context"] == f"$metadata#{entity_set}"
        pages.append(body)
        if "@odata.nextLink" not in body:
            return pages
        name = body["@odata.nextLink"]


@pytest.mark.parametrize("rendering", ["plain", "world"])
def test_the_files_are_where_the_docs_say(exports: dict[str, Path], rendering: str) -> None:
    out = exports[rendering]
    for name, file in FHIR_FILES.items():
        # the payers send 835 files under both renderings (remittance: x12): no EOB file
        assert (out / file).is_file() == (name != EOB_COLLECTION), file
    for entity_set in KEYS:
        assert (out / "erp" / page_name(entity_set, 1)).is_file(), entity_set
    assert (out / "truth.json").is_file() and list((out / "hl7").rglob("*.hl7"))
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "chargeline ingest" in readme and "chargeline report --json" in readme
    mappings = sorted(p.name for p in (out / "mappings").glob("*.yaml"))
    if rendering == "plain":
        assert mappings == [] and not (out / "rendering.json").exists()
        assert "--mapping fhir" not in readme and "none (the default mappings" in readme
    else:
        assert mappings == ["billing.yaml", "ehr-usage.yaml", "engine-logs.yaml", "erp.yaml"]
        for kind, name in (("fhir_billing", "billing"), ("fhir_usage", "ehr-usage"),
                           ("odata_erp", "erp"), ("hl7_log", "engine-logs")):
            assert f"--mapping {kind}={out / 'mappings' / name}.yaml" in readme
        assert json.loads((out / "rendering.json").read_text())["rendering"] == "world"


@pytest.mark.parametrize("rendering", ["plain", "world"])
def test_ndjson_lines_are_r4_resources_of_their_type_each_once(
        exports: dict[str, Path], estate: Estate, rendering: str) -> None:
    out = exports[rendering]
    for collection, file in FHIR_FILES.items():
        if collection == EOB_COLLECTION:
            continue  # none under these renderings (tests/simulator/test_export_eob.py)
        resource_type = collection.split("/")[1]
        model = get_fhir_model_class(resource_type)
        resources = _lines(out / file)
        assert {r["resourceType"] for r in resources} <= {resource_type}
        ids = Counter(r["id"] for r in resources)
        assert all(n == 1 for n in ids.values()), ids.most_common(3)  # latest version only
        assert len(resources) == estate.truth["counts"][COUNTED[collection]], collection
        for resource in resources[:200]:
            # R4 (R4B models, as the collectors check); SupplyDelivery.supplier comes as a
            # one-element list, as some EHRs send it (docs/wire-formats.md)
            if isinstance(resource.get("supplier"), list):
                resource = {**resource, "supplier": resource["supplier"][0]}
            model.model_validate(resource)
        # in the order the server pages them
        stamps = [r["meta"]["lastUpdated"] for r in resources]
        if rendering == "plain":
            assert stamps == sorted(stamps)
    encounters = {r["id"]: r for r in _lines(out / "billing/Encounter.ndjson")}
    # an encounter discharged by the window end is exported finished (its second version)
    assert Counter(r["status"] for r in encounters.values())["finished"] > 0


@pytest.mark.parametrize("rendering", ["plain", "world"])
def test_odata_pages_chain_and_hold_every_row_once(exports: dict[str, Path], estate: Estate,
                                                   rendering: str) -> None:
    folder = exports[rendering] / "erp"
    multi = 0
    for entity_set, keys in KEYS.items():
        pages = _chain(folder, entity_set)
        # the chain is every page file of the set, in file-name order
        files = sorted(p.name for p in folder.glob(f"{entity_set}-*.json"))
        assert files == [page_name(entity_set, n) for n in range(1, len(pages) + 1)]
        assert all(len(p["value"]) == ODATA_PAGE_ROWS for p in pages[:-1])
        assert 0 < len(pages[-1]["value"]) <= ODATA_PAGE_ROWS
        rows = [row for p in pages for row in p["value"]]
        seen = Counter(tuple(row[k] for k in keys) for row in rows)
        assert all(n == 1 for n in seen.values()), (entity_set, seen.most_common(2))
        counted = COUNTED.get(f"erp/{entity_set}")
        if counted:
            assert len(rows) == estate.truth["counts"][counted], entity_set
        multi += len(pages) > 1
    assert multi  # some set needs more than one page


def test_small_pages_chain_too(estate: Estate, tmp_path: Path) -> None:
    out = export_estate(estate, tmp_path, "plain", page_rows=7).out
    pages = _chain(out / "erp", "Items")
    assert len(pages) > 3 and all(len(p["value"]) == 7 for p in pages[:-1])
    assert len({r["ItemId"] for p in pages for r in p["value"]}) == \
        estate.truth["counts"]["items"]


def test_ack_logs_sort_before_their_message_logs(exports: dict[str, Path]) -> None:
    hl7 = exports["world"] / "hl7"
    files = sorted(p for p in hl7.rglob("*") if p.is_file())  # as chargeline ingest reads
    acks = [p for p in files if p.name.endswith(".ack.hl7")]
    assert acks
    for ack in acks:
        message = ack.with_name(ack.name.removesuffix(".ack.hl7") + ".hl7")
        assert message.is_file()
        assert files.index(ack) == files.index(message) - 1
        head = ack.read_bytes()[:200]
        assert head.lstrip(b"\x0b").startswith(b"MSH|") and b"|ACK^" in head
    # the plain export keeps each ACK after its message, in the one log
    assert not list((exports["plain"] / "hl7").rglob("*.ack.hl7"))


def test_a_plain_export_writes_the_estate_s_own_logs_and_truth(
        exports: dict[str, Path], estate: Estate) -> None:
    hl7 = exports["plain"] / "hl7"
    own = {name: b"".join(e.data for e in entries)
           for name, entries in estate.hl7.files().items()}
    written = {p.relative_to(hl7).as_posix(): p.read_bytes()
               for p in hl7.rglob("*") if p.is_file()}
    assert written == own
    for name in ("plain", "world"):
        assert json.loads((exports[name] / "truth.json").read_text()) == estate.truth
    assert not RENDERINGS["plain"].separate_ack_log and RENDERINGS["world"].separate_ack_log


def test_the_command_exports_and_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    args = ["simulate", "--seed", "3", "--facilities", "1", "--days", "1", "--faults", "none",
            "--volume-scale", "0.05", "--end", "2026-11-20", "--export", str(out)]
    result = CliRunner().invoke(app, [*args, "--rendering", "world"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "load with:  chargeline ingest --mapping fhir_billing=" in result.output
    assert list((out / "hl7").rglob("*.ack.hl7"))
    # again over the earlier export, plain: nothing of world's is left
    result = CliRunner().invoke(app, [*args, "--rendering", "plain"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert not list((out / "hl7").rglob("*.ack.hl7")) and not (out / "mappings").exists()
    assert not (out / "rendering.json").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(app, [*args[:-1], str(other)])
    assert isinstance(refused.exception, ConfigError)
    assert "not empty" in str(refused.exception) and (other / "notes.txt").exists()


def test_a_live_estate_is_not_exported(tmp_path: Path) -> None:
    live = build_estate(estate_config(seed=3, faults="none", volume_scale=0.05).model_copy(
        update={"live_horizon_days": 1, "faults": FaultRates.preset("none")}), progress=False)
    with pytest.raises(ConfigError, match="--live"):
        export_estate(live, tmp_path)
