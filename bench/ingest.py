"""Ingest benchmark: HL7 messages/s from log files, FHIR and OData canonical records/s
over HTTP from the simulator, and the collector CPU of a poll that finds nothing new on a
source holding 1M records.

Run from the repository root::

    .venv/bin/python -m bench ingest                 # full size, SQLite then PostgreSQL
    .venv/bin/python -m bench ingest --small         # the same at a small size (~2 min)
    .venv/bin/python -m bench ingest --backend sqlite --parts hl7,http

Parts (``--parts``, default all):

- ``hl7``: ``--hl7-messages`` (200,000) DFT^P03 charge messages, each followed by its
  ACK, written as engine logs (4 channels x 2 daily files, CR segments, one message in
  five MLLP-framed), then one pass of the ``hl7_log`` collector into an empty store.
  Prints HL7 messages read per second (inbound and ACK; goal >= 20,000/s on 2 cores),
  the canonical records per second, and the CPU of the collector and its workers.
- ``http``: the demo estate (``chargeline simulate``, in its own process, no faults,
  ``--facilities`` x ``--days``) over real HTTP; one pass of the billing and EHR-usage
  sources (FHIR) and one of the ERP source (OData) into an empty store. Prints canonical
  records per second for each protocol (goal >= 10,000/s).
- ``idle``: a FHIR ChargeItem source holding ``--records`` (1,000,000) records over 30
  days (a compact server in its own process speaking the simulator's wire format; the
  simulator itself would need gigabytes for that many), collected once into the store
  (its records/s are printed too), then polled five times with nothing new. Prints the
  collector's CPU time of such a poll (median; goal <= 200 ms: the cost follows new
  data and the overlap window, not the 1M records held).

Options: ``--backend sqlite,postgresql`` (the stores, each part run on each in turn;
default both; PostgreSQL at ``--pg-url``, a scratch database is created and dropped),
``--workdir`` (default: a temporary folder), ``--json FILE``. Records/s and messages/s
are the wall clock of the collector's passes; the CPU of the collector, of its worker
processes (started for long backlogs, stopped and counted after each part) and, for
``http``, of the simulator are printed beside them, the simulator's also as its busy share
of the pass (near 100% it, not the collector, sets the pace). Figures on a shared machine
are noisy; the ratios of one run compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scratchdb import (
    SERVER_URL,
    create_announced,
    drop_database,
    scratch_name,
    sigterm_as_exit,
)

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"hl7": 20_000.0, "fhir": 10_000.0, "odata": 10_000.0, "idle_ms": 200.0}
DAY_MS = 86_400_000


# --- stores ---------------------------------------------------------------------------

@contextmanager
def fresh_store(args: argparse.Namespace, name: str) -> Iterator[Any]:
    """An empty, migrated store (SQLite file in the workdir, or a scratch PG database)."""

    from store.engine import make_engine
    from store.migrate import upgrade

    if args.backend == "sqlite":
        path = Path(args.workdir) / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    database = scratch_name("ingest")
    with sigterm_as_exit():
        url = create_announced(args.pg_url, database)
        try:
            engine = make_engine(url)
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        finally:
            drop_database(args.pg_url, database)


def _settings(engine: Any, sources: list[Any]) -> Any:
    from core.config import Settings

    return Settings(database_url=engine.url.render_as_string(False), sources=sources)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _workers_cpu(children_before: float) -> float:
    """CPU of the collector's worker processes since ``children_before``: a pass leaves
    its workers warm for the next, so they are stopped (and reaped) to be counted; the
    next timed part starts its own."""
    from collectors.workers import close_idle_pools

    close_idle_pools()
    return _children_cpu() - children_before


# --- part 1: HL7 logs -----------------------------------------------------------------

DFT = ("MSH|^~\\&|EHR|{fac}|BILLING|{fac}|{ts}||DFT^P03|MSG-{fac}-{n:08d}|P|2.5.1\r"
       "EVN|P03|{ts}\r"
       "PID|1||MRN{n:07d}^^^{fac}^MR||PATIENT^TEST{m}||19700101|F\r"
       "PV1|1|I|{fac}-OR1||||||||||||||||ENC-{fac}-{e:07d}\r")
FT1 = ("FT1|{k}|U-{fac}-{n:08d}-{k}||{ts}||CG|27800{k:05d}|||{q}|{a}.00||{fac}-OR1\r"
       "ZUS|{k}|U-{fac}-{n:08d}-{k}|ITM-{i:06d}|EA|LOT{n:06d}|\r")
ACK = ("MSH|^~\\&|BILLING|{fac}|EHR|{fac}|{ts2}||ACK^P03|ACK-{fac}-{n:08d}|P|2.5.1\r"
       "MSA|AA|MSG-{fac}-{n:08d}\r")


def write_logs(folder: Path, messages: int) -> int:
    """Engine logs with ``messages`` DFT^P03 and their ACKs; returns the bytes written."""
    channels = [f"FAC0{c}_CHG_OUT" for c in range(1, 5)]
    handles = {}
    for channel in channels:
        (folder / channel).mkdir(parents=True, exist_ok=True)
    total = 0
    start = 1_763_424_000  # 2025-11-18 00:00 UTC
    try:
        for n in range(messages):
            channel = channels[n % 4]
            day = 0 if n < messages // 2 else 1
            key = (channel, day)
            if key not in handles:
                path = folder / channel / f"{channel}-2025111{8 + day}.hl7"
                handles[key] = open(path, "wb")  # noqa: SIM115 - closed below
            fac = channel[:5]
            t = start + day * 86_400 + (n * 86_400 // max(1, messages // 2)) % 86_400
            ts = time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + ".000+0000"
            ts2 = time.strftime("%Y%m%d%H%M%S", time.gmtime(t + 2)) + ".500+0000"
            body = DFT.format(fac=fac, ts=ts, n=n, m=n % 97, e=n // 3)
            body += "".join(FT1.format(k=k, fac=fac, n=n, ts=ts, q=1 + k % 2, a=100 + k,
                                       i=(n * 7 + k) % 5000) for k in range(1, 2 + n % 3))
            ack = ACK.format(fac=fac, ts2=ts2, n=n)
            if n % 5 == 0:
                data = b"".join(b"\x0b" + m.encode() + b"\x1c\r\n" for m in (body, ack))
            else:
                data = body.encode() + b"\n" + ack.encode() + b"\n"
            handles[key].write(data)
            total += len(data)
    finally:
        for handle in handles.values():
            handle.close()
    return total


def bench_hl7(args: argparse.Namespace) -> dict[str, Any]:
    from collectors.runner import run_source
    from core.config import SourceConfig

    folder = Path(args.workdir) / "hl7"
    size = write_logs(folder, args.hl7_messages)
    with fresh_store(args, "hl7") as engine:
        source = SourceConfig(name="engine-logs", kind="hl7_log", path=str(folder))
        settings = _settings(engine, [source])
        cpu0, child0, t0 = time.process_time(), _children_cpu(), time.perf_counter()
        result = run_source(settings, engine, source)
        wall = time.perf_counter() - t0
        cpu, child = time.process_time() - cpu0, _workers_cpu(child0)
    assert result is not None and result.status.value == "ok", result
    messages = 2 * args.hl7_messages
    return {"messages": messages, "records": result.records, "mb": size / 1e6, "wall": wall,
            "cpu": cpu, "workers_cpu": child, "messages_per_s": messages / wall,
            "records_per_s": result.records / wall}


# --- part 2: the simulator over HTTP --------------------------------------------------

def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """``chargeline simulate`` in its own process; yields its base URL and pid."""
    out = Path(args.workdir) / "estate"
    cmd = [sys.executable, "-m", "chargeline", "simulate", "--faults", "none", "--port", "0",
           "--facilities", str(args.facilities), "--days", str(args.days), "--out", str(out),
           "--end", "2026-11-20"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        base = ""
        lines = []
        for line in proc.stdout:
            lines.append(line)
            found = re.match(r"base URL:\s+(\S+)", line)
            if found:
                base = found.group(1)
                break
        if not base:
            raise RuntimeError("the simulator did not start:\n" + "".join(lines))
        print("  " + "  ".join(line for line in lines if line.startswith("estate")), end="")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def bench_http(args: argparse.Namespace) -> dict[str, Any]:
    from collectors.runner import run_source
    from core.config import OAuth2Client, SourceConfig

    out: dict[str, Any] = {}
    with simulator(args) as (base, server_pid), fresh_store(args, "http") as engine:
        billing = SourceConfig(name="billing", kind="fhir_billing",
                               base_url=f"{base}/billing/fhir",
                               oauth2=OAuth2Client(token_url=f"{base}/oauth/token",
                                                   client_id="chargeline",
                                                   client_secret="demo-secret"))
        usage = SourceConfig(name="ehr-usage", kind="fhir_usage", base_url=f"{base}/ehr/fhir")
        erp = SourceConfig(name="erp", kind="odata_erp", base_url=f"{base}/erp/odata")
        settings = _settings(engine, [billing, usage, erp])
        for label, sources in (("fhir", [billing, usage]), ("odata", [erp])):
            records, t0, cpu0 = 0, time.perf_counter(), time.process_time()
            server0, child0 = process_cpu(server_pid), _children_cpu()
            for source in sources:
                result = run_source(settings, engine, source)
                assert result is not None and result.status.value == "ok", result
                records += result.records
            wall = time.perf_counter() - t0  # the collector's passes, wall clock
            cpu, server = time.process_time() - cpu0, process_cpu(server_pid) - server0
            out[label] = {"records": records, "wall": wall, "cpu": cpu,
                          "workers_cpu": _workers_cpu(child0), "server_cpu": server,
                          "records_per_s": records / wall}
    return out


# --- part 3: a poll with nothing new on a source holding 1M records --------------------

def serve_charges(count: int, port_file: str) -> None:
    """A ChargeItem search endpoint over ``count`` records (the wire format of
    docs/wire-formats.md), each rendered on demand from its index."""
    import bisect
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from collectors.incremental import format_instant, parse_instant

    start_ms = 1_761_955_200_000  # 2025-11-01 UTC
    step = 30 * DAY_MS // count
    stamps = [start_ms + i * step for i in range(count)]  # sorted: bisect finds a bound

    def iso(ms: int) -> str:
        return format_instant(datetime.fromtimestamp(ms / 1000, UTC))

    def render(i: int) -> dict[str, Any]:
        fac = f"FAC0{1 + i % 3}"
        when = iso(stamps[i])
        cid = f"CHG-{fac}-{i:08d}"
        return {"resourceType": "ChargeItem", "id": cid, "meta": {"lastUpdated": when},
                "identifier": [{"system": "urn:chargeline:charge", "value": cid}],
                "status": "billable",
                "code": {"coding": [{"system": "urn:chargeline:cdm",
                                     "code": f"27800{i % 977:05d}"}]},
                "subject": {"reference": f"Patient/p-{i // 7}",
                            "identifier": {"system": f"urn:mrn:{fac}",
                                           "value": f"MRN{i // 7:08d}"}},
                "context": {"reference": f"Encounter/ENC-{fac}-{i // 4:07d}"},
                "occurrenceDateTime": when, "enteredDate": when,
                "quantity": {"value": 1 + i % 3, "unit": "EA"},
                "priceOverride": {"value": 125.0 + i % 500, "currency": "USD"},
                "costCenter": {"identifier": {"value": f"{fac}-OR1"}},
                "extension": [
                    {"url": "urn:chargeline:usage-id", "valueString": f"U-{fac}-{i:08d}"},
                    {"url": "urn:chargeline:hl7-control-id",
                     "valueString": f"MSG-{fac}-{i:08d}"},
                    {"url": "urn:chargeline:lot", "valueString": f"LOT{i % 9999:04d}"}]}

    async def search(request: Request) -> Response:
        kind = request.path_params["resource"]
        q = request.query_params
        size = int(q.get("_count", "100"))
        if "_cursor" in q:
            first = int(q["_cursor"])
        else:
            first = 0
            for bound in q.getlist("_lastUpdated"):
                ms = int(parse_instant(bound[2:]).timestamp() * 1000)
                first = max(first, bisect.bisect_left(stamps, ms + (bound[:2] == "gt")))
        if kind != "ChargeItem":
            first = count
        last = min(count, first + size)
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "total": count - first, "link": [],
                                  "entry": [{"resource": render(i)} for i in range(first, last)]}
        if last < count:
            bundle["link"].append({"relation": "next",
                                   "url": f"{base}?_cursor={last}&_count={size}"})
        return Response(json.dumps(bundle, separators=(",", ":")),
                        media_type="application/fhir+json")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    app = Starlette(routes=[Route("/fhir/{resource}", search)])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                  lifespan="off")).run(sockets=[sock])


@contextmanager
def charge_server(args: argparse.Namespace) -> Iterator[str]:
    port_file = Path(args.workdir) / "charges.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "bench.ingest", "--serve-charges",
                             str(args.records), "--port-file", str(port_file)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ChargeItem server did not start")
            time.sleep(0.1)
        time.sleep(0.5)
        yield f"http://127.0.0.1:{port_file.read_text()}/fhir"
    finally:
        proc.terminate()
        proc.wait(30)


def bench_idle(args: argparse.Namespace) -> dict[str, Any]:
    from collectors.runner import run_source
    from core.config import SourceConfig

    mapping = Path(args.workdir) / "charges-only.yaml"
    mapping.write_text("Encounter: {enabled: false}\nClaim: {enabled: false}\n"
                       "ClaimResponse: {enabled: false}\n")
    with charge_server(args) as base, fresh_store(args, "idle") as engine:
        source = SourceConfig(name="billing", kind="fhir_billing", base_url=base,
                              page_size=1000, mapping=str(mapping), timeout_seconds=60)
        settings = _settings(engine, [source])
        t0, child0 = time.perf_counter(), _children_cpu()
        first = run_source(settings, engine, source)
        load = time.perf_counter() - t0
        assert first is not None and first.status.value == "ok", first
        load_workers = _workers_cpu(child0)  # and no warm worker is left for the polls
        polls = []
        for _ in range(5):
            time.sleep(1.0)  # a new slot
            cpu0, w0 = time.process_time(), time.perf_counter()
            result = run_source(settings, engine, source)
            polls.append((time.process_time() - cpu0, time.perf_counter() - w0, result))
        assert all(r is not None and r.status.value == "nodata" for _, _, r in polls), polls
    cpu_ms = statistics.median(p[0] for p in polls) * 1000
    return {"records": first.records, "load_wall": load, "load_per_s": first.records / load,
            "load_workers_cpu": load_workers,
            "poll_cpu_ms": cpu_ms, "poll_wall_ms": statistics.median(p[1] for p in polls) * 1000,
            "reread": polls[-1][2].records}


# --- report ---------------------------------------------------------------------------

def _ratio(value: float, goal: float, lower_is_better: bool = False) -> str:
    ratio = goal / value if lower_is_better else value / goal
    return f"{ratio:5.2f}x of goal {'(met)' if ratio >= 1 else '(MISSED)'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="hl7,http,idle")
    parser.add_argument("--small", action="store_true", help="a quick run at a small size")
    parser.add_argument("--hl7-messages", type=int, default=200_000)
    parser.add_argument("--facilities", type=int, default=3)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backend", default="sqlite,postgresql",
                        help="sqlite, postgresql, or both (comma-separated; the default)")
    parser.add_argument("--pg-url", default=SERVER_URL)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--serve-charges", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_charges:
        serve_charges(args.serve_charges, args.port_file)
        return 0
    if args.small:
        args.hl7_messages, args.facilities, args.days, args.records = 20_000, 1, 2, 50_000
    parts = set(args.parts.split(","))
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown or not backends:
        parser.error(f"--backend: sqlite and/or postgresql, not {sorted(unknown)}")
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        args.workdir = args.workdir or tmp
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        print(f"ingest benchmark, {os.cpu_count()} cores (a shared machine gives noisy "
              "figures; records/s are wall clock of the collector's passes)")
        for backend in backends:
            args.backend = backend
            print(f"-- {backend}")
            figures[backend] = run_parts(args, parts)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
    return 0


def run_parts(args: argparse.Namespace, parts: set[str]) -> dict[str, Any]:
    """Run and print the chosen parts on one backend (``args.backend``)."""
    figures: dict[str, Any] = {}
    if "hl7" in parts:
        h = figures["hl7"] = bench_hl7(args)
        print(f"HL7 logs   {h['messages']:>9,} messages ({h['mb']:.0f} MB) in "
              f"{h['wall']:6.1f}s = {h['messages_per_s']:>8,.0f} messages/s  "
              f"{_ratio(h['messages_per_s'], GOALS['hl7'])}  [{h['records_per_s']:,.0f} "
              f"records/s; CPU {h['cpu']:.1f}s + workers {h['workers_cpu']:.1f}s]")
    if "http" in parts:
        figures["http"] = bench_http(args)
        for label in ("fhir", "odata"):
            h = figures["http"][label]
            # the simulator shares the cores: its busy share of the pass says whether it,
            # not the collector, set the pace
            print(f"{label.upper():<6} HTTP {h['records']:>9,} records in {h['wall']:6.1f}s "
                  f"= {h['records_per_s']:>8,.0f} records/s   "
                  f"{_ratio(h['records_per_s'], GOALS[label])}  "
                  f"[CPU: collector {h['cpu']:.1f}s + workers {h['workers_cpu']:.1f}s, "
                  f"simulator {h['server_cpu']:.1f}s = busy "
                  f"{100 * h['server_cpu'] / h['wall']:.0f}% of the pass]")
    if "idle" in parts:
        h = figures["idle"] = bench_idle(args)
        print(f"FHIR load  {h['records']:>9,} records in {h['load_wall']:6.1f}s "
              f"= {h['load_per_s']:>8,.0f} records/s (the store now holds them; workers "
              f"{h['load_workers_cpu']:.1f}s CPU)")
        print(f"idle poll  on {h['records']:,} records: CPU {h['poll_cpu_ms']:.0f} ms "
              f"(wall {h['poll_wall_ms']:.0f} ms, {h['reread']} re-read in the overlap "
              f"window)  {_ratio(h['poll_cpu_ms'], GOALS['idle_ms'], lower_is_better=True)}")
    return figures


if __name__ == "__main__":
    sys.exit(main())
