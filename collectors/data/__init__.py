"""The collectors' data access: every statement the collectors send to the store.

The rest of ``collectors`` reads sources and turns payloads into records; whatever it
writes or reads in the store goes through a named function here (a run row, a page of
records, a cursor, a lease, a late ACK). These modules are the only ones of the package
that import SQL-building names from sqlalchemy or the store's tables (``store.schema*``,
``store.upsert``). Transactions stay with the caller: each function runs on the
``Connection`` it is given, unless it says it opens its own on an ``Engine``.

May import: ``core``, ``store``, and the pure modules of ``collectors`` (records, parsers);
never the plugins, the runner or the scheduler, and never ``metrics``, ``rules``,
``alerting``, ``app`` or ``chargeline``.
"""
