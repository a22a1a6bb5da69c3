"""The built-in collector plugins; importing this package registers every source kind."""

from collectors.plugins import engine_stats, fhir, hl7_log, odata  # noqa: F401
