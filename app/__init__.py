"""The dashboard room: the Streamlit app people read the estate in, and ``chargeline
dashboard`` / ``chargeline users`` (``cli``).

Three floors inside, each importing only the ones below it:

- ``views/`` — the pages. A page reads through ``queries`` (the cached query layer) and
  changes the store through ``actions``; it draws with ``shaping``, ``charts``,
  ``tables``, ``ui``, ``access`` and ``session``. No page holds a connection or imports
  ``data``.
- ``queries`` (cached reads) and ``actions`` (short audited writes, ``data.writes``) —
  the only doors from a page to the store; ``resources`` holds the shared engine and
  settings, ``session`` the signed-in user.
- ``data/`` — every SQL statement of the dashboard; ``shaping/`` — pure shapers (no
  Streamlit, no SQL), which ``data`` may use for the definitions it reads.

Imports: ``core``, ``store`` (engine, migrate, bounds, types; the schema and upserts in
``data/`` only), ``metrics``, ``rules`` and ``alerting`` (floor 5). Never ``chargeline``:
the entry room mounts ``cli`` and nothing imports it.
"""
