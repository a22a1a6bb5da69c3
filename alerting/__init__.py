"""Alerting: the alert state machine, notification policy (routing, grouping, silences,
quiet hours, lineage inhibition), steward workflow, and e-mail delivery through an outbox.

``evaluate_and_notify(engine, settings, reader, now)`` is what the collector and the
scheduler call after a collection pass; it lives in ``alerting.service``.
"""

from __future__ import annotations

from typing import Any


def evaluate_and_notify(engine: Any, settings: Any, reader: Any, now: Any, **kwargs: Any) -> Any:
    """Evaluate every rule, store alert state and queue digests (see ``alerting.service``)."""
    from alerting.service import evaluate_and_notify as run

    return run(engine, settings, reader, now, **kwargs)
