"""Governance rules as code: the rule model, the YAML loader with file:line errors,
pure evaluation of a rule against metric values, and the default healthcare rule pack."""
