"""``chargeline demo``: the whole product on one machine in one command.

It starts the demo estate (the simulator, live, over real HTTP, writing HL7 logs), a
loopback mail relay that keeps the stewards' digests as ``.eml`` files, runs a first
collection pass with metrics, rules and mail, creates one sign-in per role, then starts
the collector process (polling on schedules from then on) and the dashboard, and prints
where everything is. Ctrl+C stops it all. Everything lives under ``--out`` on an embedded
SQLite file; each run starts that folder afresh.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from app.data.users import add_user, audit
from chargeline.pipeline import after_collection
from chargeline.wiring import WIRING
from collectors.data.leases import SingleCollectorLock
from collectors.runner import run_source
from core.config import load_settings
from core.errors import ChargelineError, ConfigError
from core.keys import DEMO_PHI_SECRET
from simulator.mailsink import MailSink
from simulator.payers import CONTRACTS
from simulator.sources import claims_source, demo_sources, remittance_source
from store.migrate import open_store

cli = typer.Typer()

DEMO_PASSWORD = "chargeline-demo"  # noqa: S105 - printed on the console for the demo
DEMO_USERS = (
    ("cfo@demo.example", "executive"),
    ("interfaces@demo.example", "interface_owner"),
    ("steward@demo.example", "steward"),
    ("admin@demo.example", "admin"),
)
SOURCE_INTERVAL_SECONDS = 30
# Two weeks, so the Overview's default 7-day window has a previous week to trend against
# on first view; at half the realistic volume, as many records as one full week, so the
# first collection pass takes no longer than it did (about a minute on 2 cores).
DEMO_DAYS = 14
DEMO_VOLUME_SCALE = 0.5
STARTUP_TIMEOUT_SECONDS = 120


@dataclass
class Children:
    """The demo's child processes, stopped together whatever happens."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path
              ) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise ChargelineError(f"the {name} stopped (exit {proc.returncode}); "
                                      f"see its log in the demo folder")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_http(url: str, what: str, children: Children, expect: str = "ok") -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        children.check()
        try:
            if httpx.get(url, timeout=2).text.strip() == expect:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ChargelineError(f"the {what} did not answer at {url} within "
                          f"{STARTUP_TIMEOUT_SECONDS}s; see its log in the demo folder")


def _fresh(out: Path) -> None:
    """Remove what an earlier demo run left in ``out`` (only the demo's own files)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("estate", "mail", "rules"):
        shutil.rmtree(out / name, ignore_errors=True)
    for pattern in ("chargeline.db*", "*.log", "openlineage.ndjson", "*.lock"):
        for path in out.glob(pattern):
            path.unlink()


def _engine_read_the_mirth_way(sources: list[dict[str, Any]], sim_url: str
                               ) -> list[dict[str, Any]]:
    """The demo reads its interface engine as a hospital running NextGen Connect (Mirth)
    would have Chargeline read it: through the engine's REST API (session sign-in,
    /channels/statistics in XML), which the simulator serves at /mirth/api, instead of
    the simulator's own statistics JSON."""
    out = []
    for source in sources:
        if source["kind"] == "engine_stats":
            source = {"name": "mirth", "kind": "mirth",
                      "base_url": f"{sim_url.rstrip('/')}/mirth/api",
                      "login": {"username": "admin", "password": "admin",
                                "method": "session"},
                      # the simulator names each facility's channel group by its id
                      "facility_by_group": {f"FAC{n:02d}": f"FAC{n:02d}"
                                            for n in range(1, 51)},
                      "schedule": source["schedule"]}
        out.append(source)
    return out


def _write_config(out: Path, sim_url: str, dashboard_url: str, smtp_port: int) -> Path:
    config: dict[str, Any] = {
        "database_url": f"sqlite:///{(out / 'chargeline.db').resolve()}",
        "data_dir": str(out.resolve()),
        "dashboard_url": dashboard_url,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                 "sender": "chargeline@demo.example"},
        "lineage": {"transport": "file", "path": str((out / "openlineage.ndjson").resolve())},
        "sources": [
            *_engine_read_the_mirth_way(
                demo_sources(sim_url, (out / "estate").resolve(), SOURCE_INTERVAL_SECONDS),
                sim_url),
            remittance_source((out / "estate").resolve()),  # the clearinghouse's 835 drop
            # the billing system's 837 batches: the claim lines the 835 lines answer
            claims_source((out / "estate").resolve()),
        ],
    }
    # the contracts the estate's payers pay by: the underpayment metrics judge by them
    config["payer_contracts"] = [dict(c) for c in CONTRACTS]
    path = out / "chargeline.yaml"
    path.write_text("# written by `chargeline demo`; see chargeline.example.yaml\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path


def _first_pass(env: dict[str, str]) -> None:
    """Collect every source once, then metrics, rules and mail, printing as it goes."""
    os.environ.update(env)
    settings = load_settings()
    # Retries of injected API faults are logged; keep them in a file, not between the lines.
    logging.basicConfig(filename=settings.data_dir / "first-pass.log", level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    engine = open_store(settings.database_url)
    lock = SingleCollectorLock(settings.database_url)
    lock.acquire(engine)
    try:
        for source in settings.sources:
            typer.echo(f"  collecting {source.name:<13}", nl=False)
            started = time.perf_counter()
            result = run_source(settings, engine, source, on_run_finished=WIRING.run_finished)
            if result is None:
                typer.echo("skipped")
                continue
            typer.echo(f"{result.status.value:<7} {result.records:>8,} records "
                       f"{result.quarantined:>5,} quarantined  "
                       f"{time.perf_counter() - started:5.1f}s"
                       + (f"  ({result.error[:120]})" if result.error else ""))
    finally:
        lock.release()
    report = after_collection(settings, engine, full=True)
    typer.echo(f"  {report.summary()}")
    _add_demo_users(engine)
    engine.dispose()


def _add_demo_users(engine: Any) -> None:
    with engine.begin() as conn:
        for email, role in DEMO_USERS:
            add_user(conn, email, [role], password=DEMO_PASSWORD)
            audit(conn, "demo", "user_added", target=email, detail=role)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "chargeline", *args]


@cli.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo (started afresh).")] = Path(
        "./data/demo"),
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
    sim_port: Annotated[int, typer.Option(help="Demo estate (simulator) port.")] = 8700,
    seed: Annotated[int, typer.Option(help="Estate seed.")] = 7,
    facilities: Annotated[int, typer.Option(help="Hospitals in the estate.")] = 3,
    days: Annotated[int, typer.Option(help="Days of history before now (two default "
                                           "windows: trends on first view).")] = DEMO_DAYS,
    faults: Annotated[str, typer.Option(help="Fault preset: none, default or high.")] = "default",
    volume_scale: Annotated[float, typer.Option(
        help="Scale the realistic volumes (1.0: a real hospital's day).")] = DEMO_VOLUME_SCALE,
) -> None:
    """Run the demo estate, a first collection pass, the collector and the dashboard."""
    if faults not in ("none", "default", "high"):
        raise ConfigError(f"--faults {faults!r}: use none, default or high")
    _fresh(out)
    sim_url = f"http://127.0.0.1:{sim_port}"
    dashboard_url = f"http://127.0.0.1:{port}"
    children = Children()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop children on `kill` too
    try:
        with MailSink(out / "mail") as sink:
            config = _write_config(out, sim_url, dashboard_url, sink.port)
            # the demo, and only the demo, runs on the documented public secret (every
            # process that uses it logs a warning; core.keys)
            env = {**base_env, "CHARGELINE_CONFIG": str(config.resolve()),
                   "CHARGELINE_PHI_SECRET": DEMO_PHI_SECRET}
            typer.echo(f"Demo estate: {facilities} hospitals x {days} days, seed {seed}, "
                       f"faults {faults} (building, then live) ...")
            children.start("simulator", _cli(
                "simulate", "--live", "--out", str(out / "estate"), "--port", str(sim_port),
                "--seed", str(seed), "--facilities", str(facilities), "--days", str(days),
                "--faults", faults, "--volume-scale", str(volume_scale)),
                env, out / "simulator.log")
            _wait_http(f"{sim_url}/health", "demo estate", children)
            typer.echo(f"First collection pass from {sim_url}:")
            _first_pass(env)
            children.start("collector", _cli("collector"), env, out / "collector.log")
            # The sign-in page lists the demo accounts (app.session.demo_mode).
            children.start("dashboard", _cli("dashboard", "--port", str(port)),
                           {**env, "CHARGELINE_DEMO_LOGIN": "1"}, out / "dashboard.log")
            _wait_http(f"{dashboard_url}/_stcore/health", "dashboard", children)
            _print_ready(out, sim_url, dashboard_url)
            while True:
                children.check()
                time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping the demo ...")
    finally:
        children.stop()


def _print_ready(out: Path, sim_url: str, dashboard_url: str) -> None:
    typer.echo("")
    typer.secho(f"Chargeline dashboard: {dashboard_url}", bold=True)
    typer.echo(f"  sign in with any of these (password {DEMO_PASSWORD!r}):")
    for email, role in DEMO_USERS:
        typer.echo(f"    {email:<26} {role}")
    typer.echo(f"Demo estate APIs:     {sim_url}  (HL7 logs and truth.json in "
               f"{out / 'estate'})")
    typer.echo(f"Stewards' e-mails:    {out / 'mail'}/*.eml")
    typer.echo(f"Collector, every {SOURCE_INTERVAL_SECONDS}s: log in {out / 'collector.log'}")
    typer.echo("Ctrl+C stops everything.")
