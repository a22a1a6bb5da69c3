"""``chargeline simulate``: build the demo estate, write its HL7 logs and truth, serve it."""

from __future__ import annotations

import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from core.errors import ConfigError
from simulator.config import EstateConfig, FaultRates
from simulator.estate import build_estate
from simulator.estate_record import Estate
from simulator.export import export_estate
from simulator.files import EstateFileWriter, LiveLogs, write_estate_files, write_truth
from simulator.rendering import Rendering, get_rendering
from simulator.server import EstateServer, freeze_heap

_FAULT_HELP = ("Override one fault rate, KIND=RATE (repeatable), e.g. --fault http_429=0.1. "
               "Kinds: see docs/wire-formats.md.")

cli = typer.Typer()


def _number(option: str, value: str, kind: type, low: float, high: float) -> float:
    """Parse a numeric option into a one-line ConfigError when it is wrong."""
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a {'whole ' if kind is int else ''}"
                          f"number — e.g. {option} {kind(low) if low > 0 else kind(1)}") from None
    if not low <= number <= high:
        raise ConfigError(f"{option} {value} is out of range {kind(low)}..{kind(high)}")
    return number


def _overrides(pairs: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pair in pairs:
        kind, sep, rate = pair.partition("=")
        if not sep or not kind.strip():
            raise ConfigError(f"--fault {pair!r} must be KIND=RATE, e.g. --fault http_429=0.05")
        out[kind.strip()] = _number(f"--fault {kind.strip()}=", rate, float, 0.0, 1.0)
    return out


def _end(value: str, live: bool) -> datetime | None:
    if live:
        now = int(time.time()) // 60 * 60
        return datetime.fromtimestamp(now, UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--end {value!r} is not an ISO date or time — e.g. "
                          "--end 2026-11-20 or --end 2026-11-20T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}) — pick another "
                          "--port (0 = any free port) or stop what uses it") from None
    sock.listen(128)
    return sock


@cli.command("simulate")
def simulate(
    seed: Annotated[str, typer.Option(help="Random seed (same seed, same estate).",
                                      metavar="INTEGER")] = "7",
    facilities: Annotated[str, typer.Option(help="Number of hospitals (1-50).",
                                            metavar="INTEGER")] = "3",
    days: Annotated[str, typer.Option(help="Days of history (1-366).", metavar="INTEGER")] = "7",
    port: Annotated[str, typer.Option(help="HTTP port (0 = any free port).",
                                      metavar="INTEGER")] = "8700",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    out: Annotated[Path, typer.Option(help="Folder for HL7 logs and truth.json.")] = Path(
        "./data/estate"),
    faults: Annotated[str, typer.Option(help="Fault preset: none, default or high.")] = "default",
    fault: Annotated[list[str] | None, typer.Option("--fault", help=_FAULT_HELP,
                                                    metavar="KIND=RATE")] = None,
    volume_scale: Annotated[str, typer.Option(help="Scale the realistic volumes (0.01-5).",
                                              metavar="FLOAT")] = "1.0",
    timeout_fault_seconds: Annotated[str, typer.Option(
        help="How long a timeout fault holds its answer.", metavar="FLOAT")] = "15",
    end: Annotated[str, typer.Option(help="Window end, ISO date/time (default: today 00:00 "
                                          "UTC; now in --live mode).")] = "",
    live: Annotated[bool, typer.Option("--live", help="Keep producing events in real time.")
                    ] = False,
    live_days: Annotated[str, typer.Option(help="With --live: how many days ahead to generate.",
                                           metavar="INTEGER")] = "1",
    serve: Annotated[bool, typer.Option("--serve/--no-serve",
                                        help="Serve over HTTP, or only write the files.")] = True,
    rendering: Annotated[str, typer.Option(
        help="Write the same estate the way other systems do: plain, local, mixed_zones, "
             "unlinked, erp_lag, unit_price, crlf_acks or world (docs/wire-formats.md). "
             "The collectors' mapping overrides go to <out>/mappings.",
        metavar="NAME")] = "plain",
    remittance: Annotated[str, typer.Option(
        help="How the payers send remittances: x12 (835 files under <out>/x12, the demo) or "
             "fhir (also as ExplanationOfBenefit on the billing FHIR API and in an export; "
             "each claim payment is one remittance in Chargeline either way).",
        metavar="x12|fhir")] = "x12",
    export: Annotated[Path | None, typer.Option(
        "--export", help="Write the estate at its window end as files to this folder "
                         "instead of serving it: FHIR R4 NDJSON, OData JSON pages, HL7 logs, "
                         "truth.json, the rendering's mappings and a README.txt with the "
                         "'chargeline ingest' command that loads them (new, empty or an "
                         "earlier export).", metavar="DIR")] = None,
) -> None:
    """Build the demo estate, write its HL7 logs and truth.json, and serve its APIs."""
    chosen = get_rendering(rendering)
    if remittance not in ("x12", "fhir"):
        raise ConfigError(f"--remittance {remittance!r}: use x12 or fhir")
    if remittance != chosen.remittance:
        chosen = chosen.model_copy(update={"remittance": remittance})
    rates = FaultRates.preset(faults, **_overrides(fault or []))
    try:
        config = EstateConfig(
            seed=int(_number("--seed", seed, int, 0, 2**63)),
            facilities=int(_number("--facilities", facilities, int, 1, 50)),
            days=int(_number("--days", days, int, 1, 366)),
            volume_scale=_number("--volume-scale", volume_scale, float, 0.01, 5.0),
            faults=rates,
            live_horizon_days=int(_number("--live-days", live_days, int, 1, 30)) if live else 0,
            **({"end": e} if (e := _end(end, live)) else {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    listen_port = int(_number("--port", port, int, 0, 65535))
    wait = _number("--timeout-fault-seconds", timeout_fault_seconds, float, 0.0, 3600.0)
    if export is not None:
        if live:
            raise ConfigError("--export writes the estate at its window end; leave --live out")
        _export(build_estate(config), export, chosen)
        return
    sock = _bind(host, listen_port) if serve else None
    started = time.perf_counter()
    estate = build_estate(config)
    writer = write_estate_files(estate, out, int(time.time() * 1000) if live else None,
                                rendering=chosen)
    cols = estate.collections
    typer.echo(f"estate: {config.facilities} facilities x {config.days} days, "
               f"{cols['ehr/SupplyDelivery'].count(estate.end_ms)} usage events, "
               f"{cols['billing/ChargeItem'].count(estate.end_ms)} charges, "
               f"{len(estate.truth['faults'])} faults{' (live horizon included)' if live else ''}"
               f", built in {time.perf_counter() - started:.1f}s")
    typer.echo(f"HL7 logs:   {out / 'hl7'}")
    typer.echo(f"truth:      {out / 'truth.json'}")
    remits = estate.truth["remittances"]
    typer.echo(f"835 files:  {out / 'x12'} ({remits['files']} files, {remits['claims']} "
               f"claims, {remits['denied_claims']} denied)")
    if not chosen.is_plain:
        mappings = sorted(p.name for p in (out / "mappings").glob("*.yaml"))
        typer.echo(f"rendering:  {rendering} ({out / 'rendering.json'}); source mappings: "
                   + (", ".join(str(out / "mappings" / m) for m in mappings) or "none needed"))
    if sock is None:
        return
    try:
        _serve(estate, sock, host, live, wait, writer, chosen)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl+C it handled: a normal stop
    finally:
        write_truth(estate.truth, out)  # now with the HTTP faults served
        typer.echo(f"stopped; {len(estate.truth['http_faults'])} HTTP faults served, "
                   f"listed in {out / 'truth.json'}")


def _export(estate: Estate, folder: Path, rendering: Rendering) -> None:
    started = time.perf_counter()
    summary = export_estate(estate, folder, rendering)
    rows = summary.rows
    typer.echo(f"exported {summary.rendering} estate as of {summary.as_of} to {folder}: "
               f"{rows['ehr/SupplyDelivery']} usage events, {rows['billing/ChargeItem']} "
               f"charges, {rows['erp/InventoryTransactions']} inventory transactions, "
               f"{rows['x12/835']} remitted claims (835), "
               f"{len(summary.files)} data files, in {time.perf_counter() - started:.1f}s")
    typer.echo(f"truth:      {folder / 'truth.json'}")
    typer.echo(f"load with:  {summary.ingest_command()}")
    typer.echo(f"            (see {folder / 'README.txt'})")


def _serve(estate: Estate, sock: socket.socket, host: str, live: bool, wait: float,
           writer: EstateFileWriter, rendering: Rendering) -> None:
    base = f"http://{host}:{sock.getsockname()[1]}"
    for label, path in (("base URL", ""), ("billing", "/billing/fhir (OAuth2: /oauth/token, "
                        "client chargeline / demo-secret)"), ("EHR usage", "/ehr/fhir"),
                        ("ERP", "/erp/odata"), ("engine", "/engine/api/channels"),
                        ("faults", "/_faults")):
        typer.echo(f"{label + ':':<11} {base}{path}")
    typer.echo("live mode: records appear as the clock passes; Ctrl+C stops" if live
               else "serving a fixed snapshot at the window end; Ctrl+C stops")
    sys.stdout.flush()
    state = EstateServer(estate, live=live, timeout_fault_seconds=wait, rendering=rendering)
    freeze_heap()
    server = uvicorn.Server(uvicorn.Config(state.app(), log_level="warning", lifespan="off",
                                           access_log=False, timeout_graceful_shutdown=2))
    if live:
        with LiveLogs(writer):
            server.run(sockets=[sock])
    else:
        server.run(sockets=[sock])
