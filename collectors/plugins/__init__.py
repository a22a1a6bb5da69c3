"""The built-in collector plugins; importing this package registers every source kind."""

from collectors.plugins import (  # noqa: F401
    engine_stats,
    fhir,
    hl7_log,
    mirth,
    mllp,
    odata,
    rhapsody,
)
