"""All the dashboard's SQL: the sums behind the KPIs, the record sets, interface and API
aggregates, the exception queue, quarantine, users, sign-in sessions and the rule states
(no Streamlit here). Each function takes a ``Connection`` (``writes`` runs the short
write transactions); ``app.queries`` and ``app.actions`` call them for the pages.

The one place in ``app`` that may import sqlalchemy's query builders, ``store.schema*``
and ``store.upsert``. Imports: ``app.shaping`` (the definitions it reads), ``core``,
``store``, ``metrics``, ``rules``; never ``app.queries``, ``app.actions`` or a page.
"""
