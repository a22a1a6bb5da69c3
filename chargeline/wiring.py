"""The pieces the collector commands take from the rooms above them, put together here.

The collectors import neither metrics nor alerting (they sit on one floor with metrics,
below rules and alerting). What runs after a pass (metrics, rules, mail:
``chargeline.pipeline``), after each run (OpenLineage events) and on ``/metrics`` is
handed to them as ``ctx.obj``: this object, set by the root command's callback.
"""

from __future__ import annotations

from sqlalchemy import Engine

from chargeline.pipeline import collector_hooks
from collectors.hooks import CollectorWiring, ExtraJob, Hook, MetricsExposition
from core.config import Settings
from metrics.lineage.openlineage import emit_stored_run
from metrics.read.prometheus import serve_metrics


class Wiring:
    """Today's assembly: the pipeline after passes, OpenLineage after runs, Prometheus."""

    def pass_hooks(self, settings: Settings, engine: Engine) -> tuple[Hook, list[ExtraJob]]:
        after_pass, extra_jobs = collector_hooks(settings, engine)
        return after_pass, list(extra_jobs)

    def run_finished(self, settings: Settings, engine: Engine, run_id: str) -> None:
        emit_stored_run(settings, engine, run_id)

    def serve_metrics(self, settings: Settings, engine: Engine) -> MetricsExposition:
        return serve_metrics(settings, engine)


WIRING: CollectorWiring = Wiring()
