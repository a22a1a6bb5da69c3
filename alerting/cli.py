"""``chargeline alerts ...``: the steward workflow and the outbox from the shell, on the
same functions the dashboard calls (``alerting.workflow``). ``cli`` holds the ``alerts``
group; the entry room mounts it. ``evaluate`` and ``send`` read the store's metrics and
live lineage through the metrics package, built here and handed to ``alerting.service``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import Engine

from alerting import workflow
from alerting.outbox import dispatch
from alerting.service import notify, run_pass
from core.config import load_settings
from core.errors import RuleFileError
from metrics.lineage.data import live_lineage
from metrics.read.reader import StoreMetricReader
from store.engine import make_engine

cli = typer.Typer()
alerts_app = typer.Typer(help="Alerts: list, ack, assign, status, history, silence, outbox.",
                         no_args_is_help=True)
cli.add_typer(alerts_app, name="alerts")

BY = typer.Option(..., "--by", help="Who is acting (your e-mail).")
COMMENT = typer.Option("", "--comment", "-m", help="Why; stored in the alert history.")


@contextmanager
def _store() -> Iterator[Engine]:
    """The configured store for one command, closed afterwards."""
    engine = make_engine(load_settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()


_STATE_ORDER = {"firing": 0, "pending": 1, "error": 2, "nodata": 3, "resolved": 4, "ok": 5}


@alerts_app.command("list")
def list_cmd(
    state: list[str] = typer.Option(  # noqa: B008
        [], "--state", help="firing, pending, nodata, error, resolved, ok (repeatable)."),
    owner: str = typer.Option("", help="Only this owning team."),
) -> None:
    """List alert instances (fingerprint, state, value, workflow): the ones that are not
    ok, firing first, unless --state asks for others."""
    with _store() as engine:
        rows = workflow.list_alerts(engine, states=state, owner=owner)
    hidden = 0
    if not state:  # what needs a look; `--state ok` lists the quiet ones
        hidden = sum(1 for row in rows if row.state == "ok")
        rows = [row for row in rows if row.state != "ok"]
    rows = sorted(rows, key=lambda r: (_STATE_ORDER.get(r.state, 9), r.fingerprint))
    if not rows:
        typer.echo("no alert matches" + (f" ({hidden} ok; --state ok lists them)"
                                         if hidden else ""))
        return
    typer.echo(f"{'state':9} {'lvl':4} {'value':>10}  {'since (UTC)':16}  fingerprint  owner "
               "workflow")
    for row in rows:
        since = row.state_since.strftime("%Y-%m-%d %H:%M")
        extra = " ".join(x for x in (f"ack:{row.ack_by}" if row.ack_by else "",
                                     f"->{row.assignee}" if row.assignee else "",
                                     row.status) if x)
        value = "-" if row.value is None else f"{row.value:g}"
        typer.echo(f"{row.state:9} {row.level or '-':4} {value:>10}  {since}  "
                   f"{row.fingerprint}  {row.owner} {extra}".rstrip())
    counts = {s: sum(1 for r in rows if r.state == s) for s in _STATE_ORDER}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    typer.echo(summary + (f"; {hidden} ok not listed (--state ok)" if hidden else ""))


@alerts_app.command("ack")
def ack_cmd(fingerprint: str, by: str = BY, comment: str = COMMENT) -> None:
    """Acknowledge an alert: repeat e-mails stop for this incident."""
    with _store() as engine:
        workflow.acknowledge(engine, fingerprint, by, comment)
    typer.echo(f"acknowledged {fingerprint}")


@alerts_app.command("assign")
def assign_cmd(fingerprint: str, assignee: str, by: str = BY, comment: str = COMMENT) -> None:
    """Assign an alert to a steward."""
    with _store() as engine:
        workflow.assign(engine, fingerprint, assignee, by, comment)
    typer.echo(f"assigned {fingerprint} to {assignee}")


@alerts_app.command("status")
def status_cmd(fingerprint: str, status: str = typer.Argument(
        ..., help="investigating, fixed, expected or false_positive"),
        by: str = BY, comment: str = COMMENT) -> None:
    """Set the handling status of an alert, with a comment."""
    with _store() as engine:
        workflow.set_status(engine, fingerprint, status, by, comment)
    typer.echo(f"{fingerprint}: {status}")


@alerts_app.command("history")
def history_cmd(fingerprint: str) -> None:
    """Every state change and steward action of one alert, oldest first."""
    with _store() as engine:
        entries = workflow.history(engine, fingerprint)
    for entry in entries:
        typer.echo(f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.kind:8} {entry.what:28} "
                   f"{entry.actor}  {entry.comment}".rstrip())


@alerts_app.command("silence")
def silence_cmd(
    matchers: list[str] = typer.Argument(  # noqa: B008
        ..., help="label=value, label!=value or label=~regex; labels: rule, owner, "
        "severity, metric, level, facility, channel, source..."),
    hours: float = typer.Option(4.0, help="How long the silence lasts."),
    by: str = BY,
    comment: str = typer.Option(..., "--comment", "-m", help="Why (required)."),
) -> None:
    """Mute matching alerts for a while (they keep being evaluated)."""
    ends = datetime.now(UTC) + timedelta(hours=hours)
    with _store() as engine:
        silence_id = workflow.add_silence(engine, matchers, ends, by, comment)
    typer.echo(f"silence {silence_id} until {ends:%Y-%m-%d %H:%M} UTC")


@alerts_app.command("silences")
def silences_cmd() -> None:
    """List active and upcoming silences."""
    with _store() as engine:
        silences = workflow.list_silences(engine)
    for s in silences:
        typer.echo(f"{s['id']:4}  until {s['ends_at']:%Y-%m-%d %H:%M}  {s['matchers_json']}  "
                   f"{s['author']}: {s['comment']}")


@alerts_app.command("unsilence")
def unsilence_cmd(silence_id: int, by: str = BY) -> None:
    """End a silence now (recorded with who ended it)."""
    with _store() as engine:
        workflow.expire_silence(engine, silence_id, by)
    typer.echo(f"silence {silence_id} ended")


@alerts_app.command("outbox")
def outbox_cmd(
    status: list[str] = typer.Option(  # noqa: B008
        ["pending", "sending", "dead"], "--status", help="pending, sending, sent, dead."),
    retry: bool = typer.Option(False, "--retry-dead", help="Queue every dead e-mail again."),
    by: str = typer.Option("", "--by", help="Who is acting (needed with --retry-dead)."),
) -> None:
    """Show queued and undeliverable e-mails; --retry-dead queues dead ones again."""
    with _store() as engine:
        if retry:
            typer.echo(f"requeued {workflow.retry_dead(engine, by)} dead e-mail(s)")
            return
        rows = workflow.outbox_rows(engine, status)
    if not rows:
        typer.echo(f"outbox: nothing {'/'.join(status)}")
        return
    typer.echo(f"{'id':>5} {'status':8} {'tries':8} {'recipient':32} subject  last error")
    for row in rows:
        typer.echo(f"{row['id']:5} {row['status']:8} tries {row['attempts']:2}  "
                   f"{row['recipient']:32} {row['subject']}  {row['last_error']}".rstrip())


@alerts_app.command("evaluate")
def evaluate_cmd() -> None:
    """Run one alerting pass now: evaluate every rule on the store's metrics, send e-mail."""
    settings = load_settings()
    with _store() as engine:
        report, sent = run_pass(engine, settings, StoreMetricReader(engine, settings),
                                live_lineage)
    typer.echo(f"{report.evaluated} alert instances, {report.firing} firing, "
               f"{report.transitions} changes, {report.queued} e-mail(s) queued; sent "
               f"{sent.sent}, retrying {sent.retried}, dead {sent.dead}"
               + (f", {sent.waiting} waiting for the mail relay" if sent.waiting else ""))
    if sent.relay_error:
        typer.echo(f"mail relay failed: {sent.relay_error}", err=True)
    typer.echo(f"rules in force: {report.rules_in_force}")
    for rule_id, error in sorted(report.rule_errors.items()):
        typer.echo(f"rule {rule_id}: {error}", err=True)
    for problem in report.rule_file_problems:
        typer.echo(problem, err=True)
    if report.rule_file_problems:
        typer.echo(f"{len(report.rule_file_problems)} rule file problem(s): the last good "
                   "rules ran; fix the files (chargeline rules check)", err=True)
        raise typer.Exit(RuleFileError.exit_code)


@alerts_app.command("send")
def send_cmd() -> None:
    """Queue due digests and send the outbox now (retries and dead letters included)."""
    settings = load_settings()
    now = datetime.now(UTC)
    with _store() as engine:
        queued = notify(engine, settings, now, lineage=live_lineage)
        report = dispatch(engine, settings, now)
    typer.echo(f"queued {queued}; sent {report.sent}, retrying {report.retried}, "
               f"dead {report.dead}"
               + (f", {report.waiting} waiting for the mail relay" if report.waiting else ""))
    if report.relay_error:
        typer.echo(f"mail relay failed: {report.relay_error}", err=True)
