"""The compute pass, in SQL: ``run.compute`` brings every metric table up to date, full
or incremental, through its stages, one module each: ``feeds`` (feed sources and
horizons), ``dirty`` (what an incremental pass redoes), ``itemdim`` (the item
dimension), ``stitching`` (the links the usage id does not give), ``charge_facts`` (charge
facts and duplicates), ``usage_facts`` with ``usage_hops`` (per-usage facts), ``points``
(hour and day points) and ``exceptions`` (the exception queue); ``pass_tables`` holds the
pass's scratch tables and ``dbtune`` the few per-database settings.

A data room: it may build SQL and import ``store.schema*``, ``store.upsert`` and
``store.sqlfn``. Imports ``core``, ``store`` and ``metrics.catalog``; never
``metrics.read`` or ``metrics.lineage``.
"""
