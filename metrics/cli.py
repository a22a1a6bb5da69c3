"""``chargeline report``, ``chargeline metrics compute`` and ``chargeline trace``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer

from chargeline.cli import app
from chargeline.errors import ConfigError

metrics_app = typer.Typer(help="Metric computation over the store.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``7d`` / ``24h`` / ``90m`` / ``2w`` before ``now``, or an ISO date or date-time (UTC
    when it has no offset); raise ``ConfigError`` naming the accepted forms."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = (datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text
                  or " " in text else datetime.combine(date.fromisoformat(text),
                                                       datetime.min.time()))
    except ValueError:
        raise ConfigError(f"--since {text!r} is not understood; write 7d, 24h, 90m, 2w, a "
                          "date (2026-11-18) or a date-time (2026-11-18T06:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _settings_and_engine():  # type: ignore[no-untyped-def]
    from chargeline.config import load_settings
    from store.migrate import open_store

    settings = load_settings()
    return settings, open_store(settings.database_url)


@app.command("report")
def report(
    as_json: Annotated[bool, typer.Option("--json", help="Stable JSON for scripts.")] = False,
    facility: Annotated[str, typer.Option("--facility", help="Only this facility.")] = "",
    since: Annotated[str, typer.Option(
        "--since", help="Start of the window: 7d, 24h, a date or a date-time.")] = "7d",
    compute_first: Annotated[bool, typer.Option(
        "--compute/--no-compute", help="Bring the metrics up to date first (incremental).")
    ] = False,
) -> None:
    """Print the current metric values per facility, interface and source."""
    from metrics.compute import compute
    from metrics.report import to_json, to_text
    from metrics.report_data import build_report

    now = datetime.now(UTC)
    start = parse_since(since, now)
    if start >= now:
        raise ConfigError(f"--since {since!r} is not in the past")
    settings, engine = _settings_and_engine()
    try:
        if compute_first:
            compute(engine, settings.sla, now=now)
        doc = build_report(engine, settings.sla, since=start, until=now, facility=facility)
    finally:
        engine.dispose()
    typer.echo(to_json(doc) if as_json else to_text(doc))


@metrics_app.command("compute")
def compute_cmd(
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything.")] = False,
) -> None:
    """Bring the metric tables up to date with the store (incremental unless --full)."""
    from metrics.compute import compute
    from metrics.dbtune import vacuum_refilled

    settings, engine = _settings_and_engine()
    try:
        result = compute(engine, settings.sla, full=full)
        if result.full:
            vacuum_refilled(engine)
    finally:
        engine.dispose()
    what = "full" if result.full else (f"incremental: {result.encounters} encounters, "
                                       f"{result.hours} feed hours")
    typer.echo(f"metrics computed ({what}) in {result.seconds:.2f}s")


@app.command("trace")
def trace_cmd(
    key: Annotated[str, typer.Argument(help="A usage id, encounter id, charge id or HL7 "
                                            "control id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Every hop of the transactions behind KEY, and where each chain stopped."""
    import json

    from metrics.trace import trace

    _, engine = _settings_and_engine()
    try:
        result = trace(engine, key)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    if result.kind == "none":
        raise ConfigError(f"{key!r} is not a known usage, encounter, charge or control id")
    for t in result.traces:
        stop = f"stopped before {t.stopped_at}" if t.stopped_at else "complete"
        typer.echo(f"usage {t.usage_id}  encounter {t.encounter_id}  {t.facility_id}  "
                   f"[{stop}; charge {t.capture or '?'}, inventory {t.inventory or '?'}"
                   + (f", {t.mapping}" if t.mapping else "") + "]")
        for h in t.hops:
            when = h.at.strftime("%Y-%m-%d %H:%M:%S") if h.at else "-"
            via = f" via {h.method}" if h.method else ""
            extra = " ".join(f"{k}={v}" for k, v in h.detail.items())
            typer.echo(f"  {when}  {h.hop:<13} {h.record_id:<24} {h.status:<8}{via}  {extra}")
    for h in result.unlinked:
        typer.echo(f"unlinked {h.hop} {h.record_id}: no usage event owns it")
