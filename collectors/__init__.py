"""Collectors: read the estate's sources (HL7 logs and MLLP, engine statistics, FHIR
billing and usage, OData ERP) into canonical records in the store, incrementally and
exactly once in effect. See ``collectors/README.md`` and ``collectors.base`` for the
plugin interface.

The rooms: the pure readers (``*_records``, ``hl7_parse``, ``mapping`` ...), the HTTP
edge (``http``, ``paging``), the plugins (``plugins/``, found by kind through
``registry``), one pass (``runner``) and the process (``scheduler``), the commands
(``cli``: ``cli`` mounted by the entry room), and ``data/``, the only modules that send
SQL to the store or import its tables.

May import: ``core`` and ``store`` (and third-party libraries). Never ``metrics``,
``simulator``, ``rules``, ``alerting``, ``app`` or ``chargeline``: what runs after a pass
or a run (metrics, rules, mail, lineage) is handed in as callbacks (``collectors.hooks``).
"""

from __future__ import annotations
