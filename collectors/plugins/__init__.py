"""The built-in collector plugins, one module per source kind family.

Each module registers its kinds with ``collectors.registry.register``; the registry loads
them by name (``collectors.registry.PLUGIN_MODULES``) on its first look-up, so importing
this package registers nothing by itself.
"""
