"""``chargeline ingest`` reads files with the same per-source field mappings as polling.

An estate whose systems name fields differently (an ERP with ``ArticleNo``, ``Qty``,
``BookedAt``; a billing system carrying the encounter as the hospital account) is loaded
from files with its mapping files, and without them its records are quarantined with the
reason. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from chargeline.cli import app
from collectors.ingest import ingest_paths
from collectors.ingest_plan import IngestPlan, plan_ingest
from core.config import Settings, SourceConfig
from core.errors import ChargelineError, ConfigError
from store.schema import (
    charges,
    interface_messages,
    inventory_transactions,
    items,
    quarantined_records,
    usage_events,
)
from tests.collectors import payloads

VISIT_URL = "https://acme.example/fhir/StructureDefinition/visit"
SITE_URL = "https://acme.example/fhir/StructureDefinition/site"

CHARGE = {  # the encounter is the hospital account (HAR), the site its performer
    "resourceType": "ChargeItem", "id": "CHG-1",
    "meta": {"lastUpdated": "2024-01-10T10:16:01Z"},
    "identifier": [{"system": "urn:acme:charge", "value": "CHG-1"}],
    "status": "billable",
    "code": {"coding": [{"system": "urn:acme:cdm", "code": "2780001713"}]},
    "subject": {"identifier": {"system": "urn:mrn:ACME", "value": "MRN-77"}},
    "account": [{"identifier": {"value": "HAR-5501"}}],
    "performingOrganization": {"identifier": {"value": "ACME-NORTH"}},
    "occurrenceDateTime": "2024-01-10T10:15:00Z",
    "enteredDate": "2024-01-10T10:16:01Z",
    "quantity": {"value": 1},
    "priceOverride": {"value": 1250.00, "currency": "USD"},
    "extension": [{"url": "urn:acme:scan", "valueString": "SCAN-9"}],
}
SUPPLY = {  # encounter and site in the vendor's own extensions
    "resourceType": "SupplyDelivery", "id": "SCAN-9",
    "meta": {"lastUpdated": "2024-01-10T10:15:02Z"},
    "status": "completed",
    "patient": {"identifier": {"system": "urn:mrn:ACME", "value": "MRN-77"}},
    "suppliedItem": {"quantity": {"value": 1, "unit": "EA"},
                     "itemCodeableConcept": {"coding": [{"code": "ART-100"}]}},
    "occurrenceDateTime": "2024-01-10T10:15:00Z",
    "destination": {"identifier": {"value": "NORTH-OR2"}},
    "extension": [{"url": VISIT_URL, "valueString": "HAR-5501"},
                  {"url": SITE_URL, "valueString": "ACME-NORTH"}],
}
ERP_ITEM = {"ArticleNo": "ART-100", "Text": "Knee implant", "Unit": "EA", "Cost": 410.5,
            "Class": "IMP", "Billable": True, "Serial": False,
            "ChangedAt": "2024-01-02T09:00:00Z"}
ERP_MOVE = {"DocNo": "MV-7", "Plant": "ACME-NORTH", "StorageLoc": "NORTH-OR2",
            "ArticleNo": "ART-100", "Movement": "ISSUE", "Qty": 1, "Unit": "EA",
            "ScanRef": "SCAN-9", "BookedAt": "2024-01-10T11:00:00Z",
            "ChangedAt": "2024-01-10T11:00:05Z"}

BILLING_MAPPING = {"ChargeItem": {"fields": {
    "charge_id": "identifier[0].value",
    "facility_id": "performingOrganization.identifier.value",
    "encounter_id": "account[0].identifier.value",
    "usage_id": "ext(urn:acme:scan)"}}}
USAGE_MAPPING = {"SupplyDelivery": {"fields": {
    "usage_id": "id", "facility_id": f"ext({SITE_URL})", "encounter_id": f"ext({VISIT_URL})"}}}
ERP_MAPPING = {
    "Items": {"modified": "ChangedAt", "key": "ArticleNo", "fields": {
        "item_id": "ArticleNo", "description": "Text", "uom": "Unit", "unit_cost": "Cost",
        "item_class": {"path": "Class", "map": {"IMP": "IMPLANT", "SUP": "CONSUMABLE"}},
        "chargeable": "Billable", "serialised": "Serial", "modified_at": "ChangedAt"}},
    "InventoryTransactions": {"modified": "ChangedAt", "key": "DocNo", "fields": {
        "document_id": "DocNo", "facility_id": "Plant", "location_id": "StorageLoc",
        "item_id": "ArticleNo", "txn_type": "Movement",
        "quantity": {"path": "Qty", "negate_if": {"path": "Movement", "in": ["ISSUE"]}},
        "uom": "Unit", "usage_id": "ScanRef", "posted_at": "BookedAt",
        "modified_at": "ChangedAt"}},
}


def _estate(root: Path) -> dict[str, Path]:
    """The files of the estate and one mapping file per kind; their paths by name."""
    files = root / "files"
    files.mkdir()
    (files / "billing.ndjson").write_text(
        json.dumps(CHARGE) + "\n" + json.dumps(SUPPLY) + "\n")
    for entity_set, row in (("Items", ERP_ITEM), ("InventoryTransactions", ERP_MOVE)):
        (files / f"{entity_set}.json").write_text(json.dumps(
            {"@odata.context": f"https://erp.acme.example/odata/$metadata#{entity_set}",
             "value": [row]}))
    out = {"files": files}
    for kind, mapping in (("fhir_billing", BILLING_MAPPING), ("fhir_usage", USAGE_MAPPING),
                          ("odata_erp", ERP_MAPPING)):
        out[kind] = root / f"{kind}-mapping.yaml"
        out[kind].write_text(yaml.safe_dump(mapping, sort_keys=False))
    return out


def _rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def _utc(value: datetime) -> datetime:
    # SQLite gives naive UTC datetimes back, PostgreSQL aware ones
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _settings(paths: dict[str, Path]) -> Settings:
    return Settings(sources=[
        SourceConfig(name="rcm", kind="fhir_billing", base_url="https://rcm.acme.example",
                     mapping=str(paths["fhir_billing"])),
        SourceConfig(name="ehr", kind="fhir_usage", base_url="https://ehr.acme.example",
                     mapping=str(paths["fhir_usage"])),
        SourceConfig(name="erp", kind="odata_erp", base_url="https://erp.acme.example",
                     mapping=str(paths["odata_erp"])),
        SourceConfig(name="stats", kind="engine_stats", base_url="https://engine.example"),
    ])


def test_mapped_estate_is_stored_with_its_values(engine: Engine, tmp_path: Path) -> None:
    paths = _estate(tmp_path)
    plan = plan_ingest(Settings(), mapping_options=[
        f"{kind}={paths[kind]}" for kind in ("fhir_billing", "fhir_usage", "odata_erp")])
    summary = ingest_paths(Settings(), engine, [paths["files"]], plan=plan)

    assert (summary.files, summary.records, summary.quarantined) == (3, 4, 0)
    [charge] = _rows(engine, charges)
    assert {k: charge[k] for k in ("charge_id", "facility_id", "encounter_id", "cdm_code",
                                   "usage_id", "source")} == {
        "charge_id": "CHG-1", "facility_id": "ACME-NORTH", "encounter_id": "HAR-5501",
        "cdm_code": "2780001713", "usage_id": "SCAN-9", "source": "backfill"}
    assert Decimal(str(charge["amount"])) == Decimal("1250")
    assert _utc(charge["posted_at"]) == datetime(2024, 1, 10, 10, 16, 1, tzinfo=UTC)
    assert charge["patient_token"] and "MRN-77" not in charge["patient_token"]
    [scan] = _rows(engine, usage_events)
    assert {k: scan[k] for k in ("usage_id", "facility_id", "location_id", "encounter_id",
                                 "item_ref")} == {
        "usage_id": "SCAN-9", "facility_id": "ACME-NORTH", "location_id": "NORTH-OR2",
        "encounter_id": "HAR-5501", "item_ref": "ART-100"}
    assert scan["patient_token"] == charge["patient_token"]  # the same patient, one token
    [item] = _rows(engine, items)
    assert {k: item[k] for k in ("item_id", "description", "uom", "item_class", "chargeable")
            } == {"item_id": "ART-100", "description": "Knee implant", "uom": "EA",
                  "item_class": "IMPLANT", "chargeable": True}
    assert Decimal(str(item["unit_cost"])) == Decimal("410.5")
    [move] = _rows(engine, inventory_transactions)
    assert {k: move[k] for k in ("document_id", "facility_id", "location_id", "item_id",
                                 "txn_type", "usage_id")} == {
        "document_id": "MV-7", "facility_id": "ACME-NORTH", "location_id": "NORTH-OR2",
        "item_id": "ART-100", "txn_type": "ISSUE", "usage_id": "SCAN-9"}
    assert Decimal(str(move["quantity"])) == -1  # an issue takes stock out
    assert _utc(move["posted_at"]) == datetime(2024, 1, 10, 11, 0, tzinfo=UTC)
    assert _rows(engine, quarantined_records) == []


def test_without_the_mappings_the_records_are_quarantined_with_why(
        engine: Engine, tmp_path: Path) -> None:
    paths = _estate(tmp_path)
    summary = ingest_paths(Settings(), engine, [paths["files"]])

    assert (summary.records, summary.quarantined) == (0, 4)
    assert [_rows(engine, t) for t in (charges, usage_events, items, inventory_transactions)
            ] == [[], [], [], []]
    reasons = {r["record_kind"]: r["reason"] for r in _rows(engine, quarantined_records)}
    # the default mappings look for the encounter, the site and the ERP's fields elsewhere
    assert "charge CHG-1" in reasons["ChargeItem"]
    assert "encounter_id: Field required" in reasons["ChargeItem"]
    assert "facility_id: Field required" in reasons["SupplyDelivery"]
    assert "encounter_id: Field required" in reasons["SupplyDelivery"]
    assert "item_id: Field required" in reasons["item"]
    assert "posted_at: Field required" in reasons["inventory_transaction"]


def test_under_a_source_rows_carry_its_name_and_its_mapping(
        engine: Engine, tmp_path: Path) -> None:
    paths = _estate(tmp_path)
    settings = _settings(paths)
    files = paths["files"]
    erp = ingest_paths(settings, engine, [files / "Items.json", files /
                                          "InventoryTransactions.json"],
                       plan=plan_ingest(settings, "erp"))
    rcm = ingest_paths(settings, engine, [files / "billing.ndjson"],
                       plan=plan_ingest(settings, "rcm"))

    assert (erp.records, erp.quarantined) == (2, 0)
    assert [r["source"] for r in _rows(engine, items)] == ["erp"]
    assert [r["source"] for r in _rows(engine, inventory_transactions)] == ["erp"]
    assert [(r["charge_id"], r["encounter_id"], r["source"]) for r in _rows(engine, charges)
            ] == [("CHG-1", "HAR-5501", "rcm")]
    # the billing source does not read SupplyDelivery, as its poll would not
    assert (rcm.records, rcm.quarantined) == (1, 1)
    [refused] = _rows(engine, quarantined_records)
    assert refused["source"] == "rcm" and refused["record_kind"] == "SupplyDelivery"
    assert refused["reason"].startswith("no mapping for FHIR resource type 'SupplyDelivery'; "
                                        "source rcm (fhir_billing) maps ChargeItem, Claim")


def test_a_source_refuses_files_of_another_kind_before_writing(
        engine: Engine, tmp_path: Path) -> None:
    paths = _estate(tmp_path)
    settings = _settings(paths)
    with pytest.raises(ConfigError, match=r"--source erp is a odata_erp source, and these "
                                          r"files cannot be: .*billing.ndjson \(FHIR NDJSON\)"):
        ingest_paths(settings, engine, [paths["files"]], plan=plan_ingest(settings, "erp"))
    assert _rows(engine, items) == [] and _rows(engine, quarantined_records) == []
    # a FHIR Bundle passes the sniff as JSON, then is refused by content
    bundle = paths["files"] / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": CHARGE}]}))
    summary = ingest_paths(settings, engine, [bundle], plan=plan_ingest(settings, "erp"))
    assert (summary.records, summary.quarantined) == (0, 1)
    [refused] = _rows(engine, quarantined_records)
    assert refused["reason"] == ("a FHIR Bundle, but source erp is odata_erp — ingest it "
                                 "under a fhir_billing or fhir_usage source, or without "
                                 "--source")


def test_an_hl7_mapping_reaches_the_log_converter(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "FAC01_CHG_OUT" / "2024-01-10.hl7"
    log.parent.mkdir(parents=True)
    log.write_text(payloads.dft(1) + "\n" + payloads.ack(1) + "\n")
    ingest_paths(Settings(), engine, [log])  # default: usage from FHIR, not the engine
    assert _rows(engine, usage_events) == []
    mapping = tmp_path / "engine-usage.yaml"
    mapping.write_text("usage: {enabled: true}\n")
    summary = ingest_paths(Settings(), engine, [log], plan=plan_ingest(
        Settings(), mapping_options=[f"hl7_log={mapping}"]))
    assert summary.quarantined == 0
    [scan] = _rows(engine, usage_events)
    assert (scan["usage_id"], scan["item_ref"], scan["encounter_id"]) == (
        "U-FAC01-0000001", "ITM-100234", "ENC-FAC01-000045")
    assert [(m["control_id"], m["ack_code"]) for m in _rows(engine, interface_messages)] == [
        ("MSG-FAC01-0000001", "AA")]


def test_plan_options_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    paths = _estate(tmp_path)
    settings = _settings(paths)
    plan = plan_ingest(settings, "erp")
    assert plan == IngestPlan("erp", "odata_erp", (("odata_erp", str(paths["odata_erp"])),))
    # a one-off file of the source's own kind replaces its mapping:
    other = tmp_path / "other.yaml"
    other.write_text("Items: {fields: {item_id: MaterialNo}}\n")
    assert plan_ingest(settings, "erp", [f"odata_erp={other}"]).mapping_file(
        "odata_erp") == str(other)
    with pytest.raises(ConfigError, match="source erp is odata_erp, so its backfill reads "
                                          "only odata_erp files"):
        plan_ingest(settings, "erp", [f"hl7_log={other}"])
    with pytest.raises(ConfigError, match="'nope' is not a configured source "
                                          r"\(configured: ehr, erp, rcm, stats\)"):
        plan_ingest(settings, "nope")
    with pytest.raises(ConfigError, match="a engine_stats source cannot be ingested"):
        plan_ingest(settings, "stats")
    with pytest.raises(ConfigError, match="write KIND=FILE"):
        plan_ingest(settings, None, ["odata_erp"])
    with pytest.raises(ConfigError, match="kind 'engine_stats' cannot be ingested"):
        plan_ingest(settings, None, [f"engine_stats={other}"])
    with pytest.raises(ConfigError, match=f"mapping file {tmp_path / 'missing.yaml'} does "
                                          "not exist"):
        plan_ingest(settings, None, [f"odata_erp={tmp_path / 'missing.yaml'}"])


def test_a_bad_mapping_file_is_refused_with_file_line_and_fix(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("Items:\n  fields:\n    item_id: [ArticleNo\n")
    with pytest.raises(ConfigError, match=rf"--mapping odata_erp={broken}: mapping file "
                                          rf"{broken}:\d+: YAML syntax error"):
        plan_ingest(Settings(), None, [f"odata_erp={broken}"])
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("Items:\n  fields:\n    item_id: {path: ArticleNo, trim: true}\n")
    with pytest.raises(ConfigError) as caught:
        plan_ingest(Settings(), None, [f"odata_erp={unknown}"])
    assert str(unknown) in str(caught.value) and "Items.item_id" in str(caught.value)
    assert "use path, paths" in str(caught.value)  # the options it takes


def test_ingest_command_under_a_source(store_url: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _estate(tmp_path)
    config = tmp_path / "chargeline.yaml"
    config.write_text(yaml.safe_dump({"sources": [
        {"name": "erp", "kind": "odata_erp", "base_url": "https://erp.acme.example",
         "mapping": str(paths["odata_erp"])}]}))
    monkeypatch.delenv("CHARGELINE_CONFIG", raising=False)
    env = {"CHARGELINE_DATABASE_URL": store_url, "CHARGELINE_CONFIG": str(config)}
    result = CliRunner().invoke(app, ["ingest", "--source", "erp",
                                      str(paths["files"] / "Items.json"),
                                      str(paths["files"] / "InventoryTransactions.json")],
                                env=env)
    assert result.exit_code == 0, result.output
    assert f"ingesting as source erp (odata_erp; odata_erp={paths['odata_erp']})" in \
        result.output
    assert "ingested 2 records (2 new or changed), quarantined 0, from 2 files" in result.output
    bad = CliRunner().invoke(app, ["ingest", "--mapping", "odata_erp=/nowhere.yaml",
                                   str(paths["files"])], env=env)
    assert isinstance(bad.exception, ChargelineError) and bad.exception.exit_code == 2
    assert "mapping file /nowhere.yaml does not exist" in str(bad.exception)
