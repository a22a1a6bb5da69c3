"""``chargeline report``, ``chargeline metrics compute`` and ``chargeline trace``: the
metrics room's commands on its own ``cli`` Typer, which the entry room mounts at the top
level (``report`` and ``trace`` are top-level commands, ``metrics`` a group)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from core.config import Settings, load_settings
from core.errors import ConfigError
from metrics.compute.dbtune import vacuum_refilled
from metrics.compute.run import compute
from metrics.read.report_data import build_report
from metrics.read.trace import trace
from metrics.recall_cli import cli as recall_cli
from metrics.report import to_json, to_text
from store.migrate import open_store

cli = typer.Typer()
metrics_group = typer.Typer(help="Metric computation over the store.", no_args_is_help=True)
cli.add_typer(metrics_group, name="metrics")
cli.add_typer(recall_cli)  # ``chargeline recall``

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_instant(text: str, now: datetime, option: str = "--since") -> datetime:
    """``7d`` / ``24h`` / ``90m`` / ``2w`` before ``now``, or an ISO date (its midnight) or
    date-time (UTC when it has no offset); raise ``ConfigError`` naming ``option`` and
    the accepted forms."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = (datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text
                  or " " in text else datetime.combine(date.fromisoformat(text),
                                                       datetime.min.time()))
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not understood; write 7d, 24h, 90m, 2w, a "
                          "date (2026-11-18) or a date-time (2026-11-18T06:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_window(since: str, until: str, now: datetime) -> tuple[datetime, datetime]:
    """The report window ``[since, until)``: ``until`` empty means ``now``; a date as
    ``until`` is that day's midnight, so the day itself is left out. ``since`` must come
    first, else ``ConfigError`` with both instants."""
    start = parse_instant(since, now, "--since")
    end = parse_instant(until, now, "--until") if until.strip() else now
    if start >= end:
        raise ConfigError(
            f"--since {since!r} ({start:%Y-%m-%d %H:%M} UTC) is not before --until "
            f"{until or 'now'!r} ({end:%Y-%m-%d %H:%M} UTC) — the report covers [since, "
            "until): give an earlier --since or a later --until, e.g. --since 2024-01-01 "
            "--until 2024-01-20")
    return start, end


def store_label(url: str) -> str:
    """The database URL as the report names it: any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _settings_and_engine() -> tuple[Settings, Engine]:
    settings = load_settings()
    return settings, open_store(settings.database_url)


@cli.command("report")
def report(
    as_json: Annotated[bool, typer.Option("--json", help="Stable JSON for scripts.")] = False,
    facility: Annotated[str, typer.Option("--facility", help="Only this facility.")] = "",
    since: Annotated[str, typer.Option(
        "--since", help="Start of the window: 7d, 24h, a date or a date-time.")] = "7d",
    until: Annotated[str, typer.Option(
        "--until", help="End of the window, left out (a date: its midnight); the same forms "
                        "as --since. Default: now.")] = "",
    compute_first: Annotated[bool, typer.Option(
        "--compute/--no-compute", help="Bring the metrics up to date first (incremental).")
    ] = False,
) -> None:
    """Print the metric values of a window per facility, interface and source."""
    now = datetime.now(UTC)
    start, end = parse_window(since, until, now)
    settings, engine = _settings_and_engine()
    try:
        if compute_first:
            compute(engine, settings.sla, now=now)
        doc = build_report(engine, settings.sla, since=start, until=end, facility=facility,
                           settings=settings)
    finally:
        engine.dispose()
    typer.echo(to_json(doc) if as_json else to_text(doc, store=store_label(
        settings.database_url)))
    demo = Path("data/demo/chargeline.yaml")
    if not as_json and doc["suggested_window"] is None and demo.is_file():
        # `make demo` keeps its own store; a report from the repository root opens the
        # default one, empty, unless told where the demo's is
        typer.echo(f"The demo's store is configured in {demo}: "
                   f"CHARGELINE_CONFIG={demo} chargeline report")


@metrics_group.command("compute")
def compute_cmd(
    full: Annotated[bool, typer.Option("--full", help="Rebuild everything.")] = False,
) -> None:
    """Bring the metric tables up to date with the store (incremental unless --full)."""
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


@cli.command("trace")
def trace_cmd(
    key: Annotated[str, typer.Argument(help="A usage id, encounter id, charge id, "
                                            "claim id or HL7 control id.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Every hop of the transactions behind KEY, and where each chain stopped."""
    _, engine = _settings_and_engine()
    try:
        result = trace(engine, key)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    if result.kind == "none":
        raise ConfigError(f"{key!r} is not a known usage, encounter, charge, claim or "
                          "control id")
    for t in result.traces:
        stop = f"stopped before {t.stopped_at}" if t.stopped_at else "complete"
        if t.billing_stopped_at:  # charged: where the money stopped
            stop += f", billing stopped before {t.billing_stopped_at}"
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
