"""``chargeline collect``, ``chargeline collector`` and ``chargeline ingest``.

The commands are on ``cli``, which the entry room mounts at the top level. What they need
from other packages (the pipeline after a pass, lineage events after a run, ``/metrics``)
comes from ``ctx.obj``, a ``collectors.hooks.CollectorWiring``; without one they collect
only (as with ``--no-pipeline``), emit no lineage events and serve no ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from collectors.base import LISTENING_KINDS
from collectors.data.leases import SingleCollectorLock
from collectors.hooks import CollectorWiring, ExtraJob, Hook, MetricsExposition, RunFinished
from collectors.ingest import ingest_paths
from collectors.ingest_plan import plan_ingest
from collectors.plugins.mllp import ListenerMetrics, MllpListener
from collectors.runner import run_source
from collectors.scheduler import run_scheduler
from core.config import Settings, load_settings
from core.errors import ConfigError
from store.migrate import open_store

cli = typer.Typer()


def _settings_and_engine() -> tuple[Settings, Engine]:
    settings = load_settings()
    return settings, open_store(settings.database_url)


def _wiring(ctx: typer.Context) -> CollectorWiring | None:
    """The entry room's wiring (``ctx.obj``), or None when this ``cli`` runs on its own."""
    return ctx.obj if isinstance(ctx.obj, CollectorWiring) else None


def _pipeline_hooks(wiring: CollectorWiring | None, settings: Settings, engine: Engine,
                    enabled: bool) -> tuple[Hook | None, list[ExtraJob]]:
    """(after_pass, extra_jobs) of the pipeline — metrics, rules and mail after
    collection — or (None, []) when disabled or not wired. The collectors never import
    those packages themselves; the wiring is where the pieces are put together."""
    if not enabled or wiring is None:
        return None, []
    after_pass, extra_jobs = wiring.pass_hooks(settings, engine)
    return after_pass, list(extra_jobs)


def _run_finished(wiring: CollectorWiring | None) -> RunFinished | None:
    return wiring.run_finished if wiring is not None else None


@cli.command("collect")
def collect(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(help="Only this source (default: all).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = True,
    pipeline: Annotated[bool, typer.Option(
        "--pipeline/--no-pipeline",
        help="After a pass that wrote rows: metrics, rules and mail.")] = True,
) -> None:
    """Run one collection pass over the configured sources (or one SOURCE) and exit."""
    wiring = _wiring(ctx)
    settings, engine = _settings_and_engine()
    sources = [settings.source(source)] if source else [s for s in settings.sources if s.enabled]
    if not sources:
        raise ConfigError("no sources configured — add sources: to the config file "
                          "(see collectors/README.md)")
    lock = SingleCollectorLock(settings.database_url)
    lock.acquire(engine)
    failed = written = 0
    try:
        for src in sources:
            if src.kind in LISTENING_KINDS:
                typer.echo(f"{src.name}: listens on {src.listen} while `chargeline collector` "
                           "runs; nothing to poll")
                continue
            result = run_source(settings, engine, src,
                                on_run_finished=_run_finished(wiring))
            if result is None:
                typer.echo(f"{src.name}: skipped (another collector holds it)")
                continue
            failed += result.status.value == "error"
            written += result.written
            line = (f"{src.name}: {result.status.value}, {result.records} records read, "
                    f"{result.written} new or changed, {result.quarantined} quarantined")
            typer.echo(line + (f" — {result.error[:300]}" if result.error else ""))
        after_pass, _jobs = _pipeline_hooks(wiring, settings, engine, pipeline)
        if written and after_pass is not None:
            after_pass()
    finally:
        lock.release()
    if failed:
        raise typer.Exit(4)


def _expose_listeners(exposition: MetricsExposition
                      ) -> Callable[[list[MllpListener]], None]:
    """The MLLP listeners' own counters on /metrics, once they are started."""
    return lambda listeners: exposition.add(ListenerMetrics(listeners))


@cli.command("collector")
def collector(
    ctx: typer.Context,
    pipeline: Annotated[bool, typer.Option(
        "--pipeline/--no-pipeline",
        help="Run metrics, rules and mail after passes and on their own timers.")] = True,
) -> None:
    """Run the collector process: poll every source on its schedule until stopped, listen
    on the mllp sources' ports, and serve /metrics on metrics_port when it is set."""
    wiring = _wiring(ctx)
    settings, engine = _settings_and_engine()
    after_pass, extra_jobs = _pipeline_hooks(wiring, settings, engine, pipeline)
    exposition = None
    if settings.metrics_port is not None and wiring is not None:
        exposition = wiring.serve_metrics(settings, engine)
        typer.echo(f"metrics: {exposition.url}")
    try:
        run_scheduler(settings, engine, after_pass=after_pass, extra_jobs=extra_jobs,
                      on_listeners=_expose_listeners(exposition) if exposition else None,
                      on_run_finished=_run_finished(wiring))
    finally:
        if exposition is not None:
            exposition.close()


@cli.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="HL7 logs, FHIR Bundles/NDJSON, OData "
                                                     "JSON pages, X12 835 files (files or "
                                                     "folders).")],
    source: Annotated[str | None, typer.Option(
        "--source", help="A configured source: rows are recorded under its name and read "
                         "with its kind and mapping: file, as polling reads them; files of "
                         "another kind are refused. Default: every kind, as 'backfill'.")
    ] = None,
    mapping: Annotated[list[str] | None, typer.Option(
        "--mapping", metavar="KIND=FILE",
        help="A field-mapping file for one kind (fhir_billing, fhir_usage, odata_erp, "
             "hl7_log), merged over the defaults; in place of the source's mapping: for "
             "its kind. Repeat for several kinds.")] = None,
) -> None:
    """Backfill the store from files, with a progress bar and a summary."""
    settings = load_settings()
    # mapping files are compiled before the store is opened: a bad one writes nothing
    plan = plan_ingest(settings, source, mapping or [])
    engine = open_store(settings.database_url)
    typer.echo(f"ingesting as {plan.describe()}")
    try:
        summary = ingest_paths(settings, engine, paths, plan=plan, progress=True)
    finally:
        engine.dispose()
    typer.echo(f"ingested {summary.records} records ({summary.written} new or changed), "
               f"quarantined {summary.quarantined}, from {summary.files} files")
    if summary.unrecognised:
        shown = "; ".join(summary.unrecognised[:5]) + (
            f"; and {len(summary.unrecognised) - 5} more" if len(summary.unrecognised) > 5
            else "")
        typer.echo(f"{len(summary.unrecognised)} file(s) are not HL7 v2, FHIR JSON, OData "
                   f"JSON or X12 and were quarantined unread: {shown} — convert them, or "
                   "leave them out", err=True)
        raise typer.Exit(4)  # as a source that failed: a script must see it
