"""Chargeline: data-quality observability for hospital charge capture and supply flows.

The pure core lives here (canonical model, configuration, errors, PHI tokens, CLI entry);
the edges (store, collectors, simulator, metrics, rules, alerting, app) import it.
"""

__version__ = "0.1.0"
