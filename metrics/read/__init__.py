"""The read side of the metrics: ``reader.StoreMetricReader`` (the ``MetricReader`` over
the store that rules, alerting, the report and the dashboard read every catalog metric
through, with ``common``, ``points``, ``facts``, ``feeds`` and ``health`` behind it), the
report's data (``report_data``, ``data_span``), the transaction trace (``trace``) and
the Prometheus exposition (``prometheus``).

A data room: it may build SQL and import ``store.schema*`` and ``store.sqlfn``. It reads
the tables the compute pass wrote and never writes them. Imports ``core``, ``store`` and
``metrics.catalog``; never ``metrics.compute`` or ``metrics.lineage``.
"""
