"""The store: the room that owns the database. It holds the schema (``store.schema`` and
``store.schema_*``, gathered by ``store.schema_all``), the engine (``store.engine``), the
migrations (``store.migrate`` and ``store/migrations``, one 0.1.0 baseline and what
follows it), the upserts (``store.upsert``), the bounds checks of what is written
(``store.bounds``), the column types (``store.types``) and the dialect SQL helpers
(``store.sqlfn``).

Data access: other packages keep their SQL in named data modules (``metrics/compute``,
``metrics/read``, ``metrics/lineage/data.py``, ``collectors/data``, ``alerting/data``,
``app/data``); only those import SQL-building names from SQLAlchemy or the schema's tables
(``store.schema*``, ``store.upsert``). Every other module may use ``store.engine``,
``store.migrate``, ``store.bounds`` and ``store.types``.

Imports: the store is floor 1; it imports ``core`` only (and itself), never a package
above it.
"""
