"""Alerting: the alert state machine, notification policy (routing, grouping, silences,
quiet hours, lineage inhibition), steward workflow, and e-mail and on-call delivery
through an outbox.

``alerting.service.run_pass(engine, settings, reader, lineage, now)`` is what the pipeline
and the scheduler call after a collection pass, with the metric reader and the live
lineage they built from the metrics package. ``alerting.workflow`` is the stewards' API
(the CLI's and the dashboard's); ``alerting.data`` holds every SQL statement of the room;
``alerting.cli`` holds ``chargeline alerts``.

May import: ``core``, ``store``, ``metrics`` and ``rules`` (never ``app`` or ``chargeline``).
"""
