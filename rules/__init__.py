"""Governance rules as code: the rule model, the YAML loader with file:line errors,
pure evaluation of a rule against metric values, the default healthcare rule pack, and
``chargeline rules check|list`` (``rules.cli``).

May import: ``core`` and ``metrics.catalog`` (the loader checks a rule's metric, scope
keys and parameters against it); no store access. Never ``alerting``, ``app`` or
``chargeline``.
"""
