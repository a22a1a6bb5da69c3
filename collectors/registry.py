"""The registry of source kinds: which collector plugin polls a kind.

A plugin module (``collectors/plugins/<name>.py``) decorates its class with ``register``;
``collector_for`` finds it by kind. The built-in plugins are loaded here, by module name
(``importlib``), on the first look-up: this is the one place that loads plugins, so
that ``collectors.base`` (which every plugin imports) never imports them back. A new
plugin adds its module name to ``PLUGIN_MODULES``. (The only other load by name is a
worker process resolving a pickled task name, ``collectors.workers.task_function``.)
"""

from __future__ import annotations

import importlib

from collectors.base import Collector

PLUGIN_MODULES = (
    "collectors.plugins.engine_stats",
    "collectors.plugins.fhir",
    "collectors.plugins.hl7_log",
    "collectors.plugins.mirth",
    "collectors.plugins.mllp",
    "collectors.plugins.odata",
    "collectors.plugins.rhapsody",
    "collectors.plugins.x12_files",
)

_REGISTRY: dict[str, type[Collector]] = {}


def register(cls: type[Collector]) -> type[Collector]:
    """Class decorator: make ``cls`` the collector of its ``kind``."""
    _REGISTRY[cls.kind] = cls
    return cls


def load_plugins() -> None:
    """Import every built-in plugin module (each registers its kinds); cheap once done."""
    for module in PLUGIN_MODULES:
        importlib.import_module(module)


def collector_for(kind: str) -> Collector:
    """A new collector for a source kind (the built-in ones are loaded on first use)."""
    load_plugins()
    try:
        return _REGISTRY[kind]()
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"no collector for source kind {kind!r}; known: {known}") from None
