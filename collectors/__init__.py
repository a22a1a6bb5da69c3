"""Collectors: read the estate's sources (HL7 logs, engine statistics, FHIR billing and
usage, OData ERP) into canonical records in the store, incrementally and exactly once in
effect. See ``collectors/README.md`` and ``collectors.base`` for the plugin interface."""

from __future__ import annotations

from pathlib import Path

from chargeline.config import OAuth2Client, Schedule, SourceConfig

DEMO_CLIENT_ID = "chargeline"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the simulator's documented demo client


def demo_sources(base_url: str, hl7_dir: str | Path, interval_seconds: int = 60
                 ) -> list[SourceConfig]:
    """Every source of the demo estate served by the simulator at ``base_url``."""
    base = base_url.rstrip("/")
    every = Schedule(interval_seconds=interval_seconds)
    return [
        SourceConfig(name="engine-logs", kind="hl7_log", path=str(hl7_dir), schedule=every),
        SourceConfig(name="engine-stats", kind="engine_stats", base_url=f"{base}/engine/api",
                     schedule=every),
        SourceConfig(
            name="billing", kind="fhir_billing", base_url=f"{base}/billing/fhir",
            oauth2=OAuth2Client(token_url=f"{base}/oauth/token", client_id=DEMO_CLIENT_ID,
                                client_secret=DEMO_CLIENT_SECRET),
            schedule=every),
        SourceConfig(name="ehr-usage", kind="fhir_usage", base_url=f"{base}/ehr/fhir",
                     schedule=every),
        SourceConfig(name="erp", kind="odata_erp", base_url=f"{base}/erp/odata", schedule=every),
    ]
