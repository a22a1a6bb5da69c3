"""The ``sources:`` configuration of the five demo sources, for a running estate.

Each dict validates as ``core.config.SourceConfig``; paste them under ``sources:``
in a config file or pass them to ``Settings(sources=...)``. For an estate served under a
rendering (simulator.rendering), the sources that need a field-mapping override to read
it get ``mapping:`` pointing at the file ``write_estate_files`` wrote under ``out_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ConfigError
from simulator.files import X12_CLAIMS_DIR, X12_DIR, mapping_path
from simulator.payers import npi
from simulator.rendering import Rendering, get_rendering
from simulator.server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def demo_sources(base_url: str, out_dir: str | Path, interval_seconds: int = 60,
                 rendering: str | Rendering | None = None) -> list[dict[str, Any]]:
    """billing, ehr-usage, erp, engine-logs and engine-stats of the estate at ``base_url``
    whose files are under ``out_dir``, written as ``rendering`` (a preset name or a
    ``Rendering``; default plain) says."""
    base = base_url.rstrip("/")
    every = {"interval_seconds": interval_seconds}
    sources: list[dict[str, Any]] = [
        {"name": "billing", "kind": "fhir_billing", "base_url": f"{base}/billing/fhir",
         "oauth2": {"token_url": f"{base}/oauth/token", "client_id": DEMO_CLIENT_ID,
                    "client_secret": DEMO_CLIENT_SECRET},
         "schedule": every},
        {"name": "ehr-usage", "kind": "fhir_usage", "base_url": f"{base}/ehr/fhir",
         "schedule": every},
        {"name": "erp", "kind": "odata_erp", "base_url": f"{base}/erp/odata", "schedule": every},
        {"name": "engine-logs", "kind": "hl7_log", "path": str(Path(out_dir) / "hl7"),
         "schedule": every},
        {"name": "engine-stats", "kind": "engine_stats", "base_url": f"{base}/engine/api",
         "schedule": every},
    ]
    chosen = get_rendering(rendering)
    # which sources need an override does not depend on the facilities, only its content
    needed = chosen.mapping_overrides(["FAC01"])
    for source in sources:
        if source["name"] in needed:
            path = mapping_path(Path(out_dir), source["name"])
            if not path.is_file():
                raise ConfigError(f"{path} is missing: write the estate's files with the same "
                                  "rendering first (simulator.files.write_estate_files)")
            source["mapping"] = str(path)
    return sources


def remittance_source(out_dir: str | Path, interval_seconds: int = 300,
                      facilities: int = 50) -> dict[str, Any]:
    """The ``x12_files`` source of the estate's 835 files under ``out_dir``, each payee NPI
    mapped to its facility id (FAC01.. up to ``facilities``).

    The files come once a day per payer and their newest record is dated by its payment
    date (midnight, a day behind the file), so the source expects new records every 48 h
    (``expected_every_minutes``): the shipped ``source-freshness`` rule (warn 2 h late)
    then fires only when a day's file is missing. Not among ``demo_sources`` (the tests'
    estates are mostly too short for a remittance); ``chargeline demo`` adds it."""
    return {"name": "billing-835", "kind": "x12_files", "path": str(Path(out_dir) / X12_DIR),
            "facility_by_payee": {npi(n): f"FAC{n:02d}" for n in range(1, facilities + 1)},
            "schedule": {"interval_seconds": interval_seconds},
            "expected_every_minutes": 2 * 24 * 60}


def claims_source(out_dir: str | Path, interval_seconds: int = 300,
                  facilities: int = 50) -> dict[str, Any]:
    """The ``x12_files`` source of the estate's 837 claim files under ``out_dir``, each
    billing provider NPI mapped to its facility id (the same map as the 835 payees). The
    billing system writes one batch a day per facility, so, as the 835s, it is expected to
    deliver every 48 h."""
    return {"name": "billing-837", "kind": "x12_files",
            "path": str(Path(out_dir) / X12_CLAIMS_DIR),
            "facility_by_payee": {npi(n): f"FAC{n:02d}" for n in range(1, facilities + 1)},
            "schedule": {"interval_seconds": interval_seconds},
            "expected_every_minutes": 2 * 24 * 60}
