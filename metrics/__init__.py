"""The metrics room: what the store's records mean as figures.

It computes the metric tables from the canonical tables (``compute``), reads catalog
metrics, the report, the transaction trace and the Prometheus exposition from them
(``read``), and draws the estate's system graph with its OpenLineage export
(``lineage``). ``catalog`` names the metrics (the contract with rules and the dashboard),
``report`` formats the report document (pure) and ``cli`` holds ``chargeline report``,
``chargeline metrics compute`` and ``chargeline trace``.

Imports: ``core`` and ``store`` only (floor 2). Never ``collectors``, ``simulator``,
``rules``, ``alerting``, ``app`` or ``chargeline``: they sit beside or above this room and
read it, not the other way round. SQL (sqlalchemy's query builders, ``store.schema*``,
``store.upsert``) only in the data modules: ``compute/``, ``read/`` and
``lineage/data.py``.
"""
