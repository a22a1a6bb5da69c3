"""Lineage: the estate's system graph with live health per edge (``graph``: pure types,
rules and the alert-scope adjacency), its store queries (``data``: the observations the
graph is built from, and what a collector run wrote) and the OpenLineage export of
collector runs (``openlineage``).

Only ``data`` builds SQL or imports ``store.schema``; ``graph`` imports nothing of the
store, and ``data`` and ``openlineage`` import ``graph``/``data``, never the reverse.
Imports ``core`` and ``store``; never ``metrics.compute`` or ``metrics.read``.
"""
