"""What a collector command needs from the packages above it, as Protocols.

The collectors never import ``metrics``, ``rules``, ``alerting`` or ``chargeline``. What
happens after a pass (metrics, rules, mail), after each run (OpenLineage events) and on
``/metrics`` is handed in: to ``run_source``/``run_scheduler`` as callbacks, and to the
``collect``/``collector`` commands as ``ctx.obj``, an object satisfying
``CollectorWiring`` (the entry room's ``chargeline.wiring`` puts it there). With no
wiring (``ctx.obj`` None: the package's ``cli`` used on its own) the commands run as with
``--no-pipeline``, emit no lineage events and serve no ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine

from core.config import Settings

log = logging.getLogger("chargeline.collectors")

Hook = Callable[[], None]
ExtraJob = tuple[str, float, Hook]  # (job id, every N seconds, callable)
# After every collector run, with its settings, store and ``run_id``; it must not raise
RunFinished = Callable[[Settings, Engine, str], None]


class MetricsExposition(Protocol):
    """A ``/metrics`` endpoint being served."""

    @property
    def url(self) -> str:
        """Where it is served."""
        ...

    def add(self, collector: Any) -> None:
        """Register one more prometheus_client collector on the endpoint."""
        ...

    def close(self) -> None:
        """Stop serving."""
        ...


@runtime_checkable
class CollectorWiring(Protocol):
    """The pieces of other packages the collector commands use (``ctx.obj``)."""

    def pass_hooks(self, settings: Settings, engine: Engine
                   ) -> tuple[Hook, list[ExtraJob]]:
        """The pipeline's after_pass hook (metrics, rules, mail) and its extra periodic
        jobs."""
        ...

    def run_finished(self, settings: Settings, engine: Engine, run_id: str) -> None:
        """After every collector run (OpenLineage events); never raises."""
        ...

    def serve_metrics(self, settings: Settings, engine: Engine) -> MetricsExposition:
        """Start /metrics on settings.metrics_port; the result has .url, .add(collector),
        .close()."""
        ...


def announce_run(on_run_finished: RunFinished | None, settings: Settings, engine: Engine,
                 run_id: str) -> None:
    """Call ``on_run_finished`` for a run that ended; its failure is logged, never raised
    into the collector (the run is stored either way)."""
    if on_run_finished is None:
        return
    try:
        on_run_finished(settings, engine, run_id)
    except Exception:
        log.exception("after-run hook failed for run %s", run_id)
