"""The ``sources:`` configuration of the five demo sources, for a running estate.

Each dict validates as ``chargeline.config.SourceConfig``; paste them under ``sources:``
in a config file or pass them to ``Settings(sources=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def demo_sources(base_url: str, out_dir: str | Path, interval_seconds: int = 60
                 ) -> list[dict[str, Any]]:
    """billing, ehr-usage, erp, engine-logs and engine-stats of the estate at ``base_url``
    whose files are under ``out_dir``."""
    base = base_url.rstrip("/")
    every = {"interval_seconds": interval_seconds}
    return [
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
