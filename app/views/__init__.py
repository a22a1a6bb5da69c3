"""The dashboard's pages (one module a page, run by Streamlit's navigation in ``app.main``).

A page reads only through ``app.queries`` and changes the store only through
``app.actions``; it draws with ``app.shaping``, ``app.charts``, ``app.tables``,
``app.ui``, ``app.access`` and ``app.session`` (plus Streamlit, pandas, Plotly, and
constants of the packages below). It never imports ``app.data`` or sqlalchemy and never
holds a connection.
"""
