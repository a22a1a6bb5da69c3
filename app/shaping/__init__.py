"""Pure shapers of the dashboard: the definitions (KPIs, record sets, exception queues,
rules as shown, windows) and the functions that turn read rows into what a page shows.

No Streamlit, no sqlalchemy, no ``store``, no ``app.data``: values in, values (or
DataFrames) out, so every one is tested without a browser or a database. Imports: other
``app.shaping`` modules and the pure parts of ``core``, ``metrics``, ``rules`` and
``alerting``.
"""
