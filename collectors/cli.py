"""``chargeline collect``, ``chargeline collector`` and ``chargeline ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chargeline.cli import app


def _settings_and_engine():  # type: ignore[no-untyped-def]
    from core.config import load_settings
    from store.migrate import open_store

    settings = load_settings()
    return settings, open_store(settings.database_url)


def _pipeline_hooks(settings, engine, enabled: bool):  # type: ignore[no-untyped-def]
    """(after_pass, extra_jobs) from ``chargeline.pipeline`` — metrics, rules and mail
    after collection — or (None, []) when disabled. The collectors never import those
    packages themselves; this command is where the pieces are put together."""
    if not enabled:
        return None, []
    from chargeline.pipeline import collector_hooks

    after_pass, extra_jobs = collector_hooks(settings, engine)
    return after_pass, list(extra_jobs)


@app.command("collect")
def collect(
    source: Annotated[str | None, typer.Argument(help="Only this source (default: all).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = True,
    pipeline: Annotated[bool, typer.Option(
        "--pipeline/--no-pipeline",
        help="After a pass that wrote rows: metrics, rules and mail.")] = True,
) -> None:
    """Run one collection pass over the configured sources (or one SOURCE) and exit."""
    from collectors.base import LISTENING_KINDS
    from collectors.leases import SingleCollectorLock
    from collectors.runner import run_source
    from core.errors import ConfigError

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
            result = run_source(settings, engine, src)
            if result is None:
                typer.echo(f"{src.name}: skipped (another collector holds it)")
                continue
            failed += result.status.value == "error"
            written += result.written
            line = (f"{src.name}: {result.status.value}, {result.records} records read, "
                    f"{result.written} new or changed, {result.quarantined} quarantined")
            typer.echo(line + (f" — {result.error[:300]}" if result.error else ""))
        after_pass, _jobs = _pipeline_hooks(settings, engine, pipeline)
        if written and after_pass is not None:
            after_pass()
    finally:
        lock.release()
    if failed:
        raise typer.Exit(4)


def _expose_listeners(exposition):  # type: ignore[no-untyped-def]
    """The MLLP listeners' own counters on /metrics, once they are started."""
    from collectors.plugins.mllp import ListenerMetrics

    return lambda listeners: exposition.add(ListenerMetrics(listeners))


@app.command("collector")
def collector(
    pipeline: Annotated[bool, typer.Option(
        "--pipeline/--no-pipeline",
        help="Run metrics, rules and mail after passes and on their own timers.")] = True,
) -> None:
    """Run the collector process: poll every source on its schedule until stopped, listen
    on the mllp sources' ports, and serve /metrics on metrics_port when it is set."""
    from collectors.scheduler import run_scheduler

    settings, engine = _settings_and_engine()
    after_pass, extra_jobs = _pipeline_hooks(settings, engine, pipeline)
    exposition = None
    if settings.metrics_port is not None:
        from metrics.read.prometheus import serve_metrics

        exposition = serve_metrics(settings, engine)
        typer.echo(f"metrics: {exposition.url}")
    try:
        run_scheduler(settings, engine, after_pass=after_pass, extra_jobs=extra_jobs,
                      on_listeners=_expose_listeners(exposition) if exposition else None)
    finally:
        if exposition is not None:
            exposition.close()


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="HL7 logs, FHIR Bundles/NDJSON, OData "
                                                     "JSON pages (files or folders).")],
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
    from collectors.ingest import ingest_paths
    from collectors.ingest_plan import plan_ingest
    from core.config import load_settings
    from store.migrate import open_store

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
        typer.echo(f"{len(summary.unrecognised)} file(s) are not HL7 v2, FHIR JSON or OData "
                   f"JSON and were quarantined unread: {shown} — convert them, or leave them "
                   "out", err=True)
        raise typer.Exit(4)  # as a source that failed: a script must see it
