"""Collectors: read the estate's sources (HL7 logs, engine statistics, FHIR billing and
usage, OData ERP) into canonical records in the store, incrementally and exactly once in
effect. See ``collectors/README.md`` and ``collectors.base`` for the plugin interface."""

from __future__ import annotations
