"""MLLP tap benchmark: messages a tee sends over loopback, each stored before its AA, and
the time from an AA to the message being counted by the metrics.

Run (from the repository root)::

    .venv/bin/python -m bench mllp                                # SQLite and PostgreSQL
    .venv/bin/python -m bench mllp --backend sqlite --messages 200

Per backend, on an empty store: the collector's ``MllpListener`` on a free loopback port,
and python-hl7's ``MLLPClient`` sending ``--messages`` DFT^P03 charge messages one after
the other over one connection, as an engine's tee channel does (it waits for each ACK
before the next message), each followed by the receiver's ACK the tee copies. It prints
frames per second, the ACK latency of the messages (median, p95, max: the commit of the
message and its usage links is inside it), and checks that every frame got AA and every
message is stored once. Then, with the metrics pass as the after-pass hook (what
``chargeline collector`` runs), one more message: the seconds from its AA until the store
reader counts it in ``messages_received`` (one incremental pass on this small store; the
metrics benchmark times passes on large ones).

Options: ``--messages``, ``--backend sqlite,postgresql``, ``--pg-url`` (an admin URL; a
scratch database is created and dropped), ``--json FILE``. Figures on a shared machine
are noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from hl7.client import MLLPClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bench.scratchdb import (
    SERVER_URL,
    create_announced,
    drop_database,
    scratch_name,
    sigterm_as_exit,
)
from collectors.plugins.mllp import MllpListener
from core.config import ChargeSla, Settings, SourceConfig
from metrics.compute.run import compute
from metrics.read.reader import StoreMetricReader
from store.engine import make_engine
from store.migrate import upgrade
from store.schema import interface_messages

PG_ADMIN_URL = SERVER_URL
CHANNEL = "FAC01_CHG_OUT"
TIMEOUT_S = 60.0


def dft(n: int, at: datetime) -> str:
    """A DFT^P03 charge message numbered ``n``, received at ``at`` (made-up patient)."""
    stamp = at.strftime("%Y%m%d%H%M%S.000+0000")
    return (f"MSH|^~\\&|EHR|FAC01|BILLING|FAC01|{stamp}||DFT^P03|MSG-FAC01-{n:07d}|P|2.5\r"
            f"EVN|P03|{stamp}\r"
            "PID|1||MRN0012345^^^FAC01^MR||DOE^JANE||19700101|F\r"
            "PV1|1|I|FAC01-OR1||||||||||||||||ENC-FAC01-000045\r"
            f"FT1|1|U-FAC01-{n:07d}||{stamp}||CG|2780001713|||2|25.00||FAC01-OR1\r"
            f"ZUS|1|U-FAC01-{n:07d}|ITM-100234|EA|LOT2311A|SN000123\r")


def ack(n: int, at: datetime) -> str:
    """The receiver's AA for message ``n``, as the tee copies it."""
    stamp = at.strftime("%Y%m%d%H%M%S.000+0000")
    return (f"MSH|^~\\&|BILLING|FAC01|EHR|FAC01|{stamp}||ACK^P03|ACK-FAC01-{n:07d}|P|2.5\r"
            f"MSA|AA|MSG-FAC01-{n:07d}|\r")


def msa_code(answer: bytes) -> str:
    """MSA-1 of a framed ACK."""
    for segment in answer.strip(b"\x0b\x1c\r").split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode()
    return ""


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run_backend(url: str, messages: int, folder: str) -> dict[str, Any]:
    """Send ``messages`` messages and their ACKs to a listener on the store at ``url``,
    then one more with the metrics pass as after-pass hook."""
    engine = make_engine(url)
    upgrade(engine)
    source = SourceConfig(name="engine-tee", kind="mllp", listen="127.0.0.1:0",
                          channel=CHANNEL)
    # a throw-away key: the bench's messages carry a made-up patient
    settings = Settings(database_url=url, sources=[source], data_dir=Path(folder),
                        phi_secret=SecretStr(uuid.uuid4().hex),
                        quarantine_keys=[SecretStr(Fernet.generate_key().decode())])
    passes: list[float] = []
    hook_on = threading.Event()

    def after_pass() -> None:  # chargeline.pipeline's first step, once switched on
        if hook_on.is_set():
            compute(engine, ChargeSla())
            passes.append(time.perf_counter())

    listener = MllpListener(settings, engine, source, on_written=after_pass).start()
    if listener.address is None:
        raise RuntimeError(listener.bind_error)
    latencies, codes = [], []
    try:
        with MLLPClient(*listener.address) as mllp:
            mllp.socket.settimeout(TIMEOUT_S)
            started = time.perf_counter()
            for n in range(1, messages + 1):
                now = datetime.now(UTC)
                sent = time.perf_counter()
                codes.append(msa_code(mllp.send_message(dft(n, now))))
                latencies.append(time.perf_counter() - sent)
                codes.append(msa_code(mllp.send_message(ack(n, now + timedelta(seconds=1)))))
            elapsed = time.perf_counter() - started
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(interface_messages)
                                      .where(interface_messages.c.status == "S")).scalar_one()

            # one more message, with the metrics pass running after each commit
            hook_on.set()
            reader = StoreMetricReader(engine)
            n = messages + 1
            codes.append(msa_code(mllp.send_message(dft(n, datetime.now(UTC)))))
            acked = time.perf_counter()
        counted = 0.0
        while counted < n:
            if time.perf_counter() - acked > TIMEOUT_S:
                raise RuntimeError(f"message {n} not in the metrics after {TIMEOUT_S} s")
            time.sleep(0.01)
            counted = sum(v.value or 0 for v in reader.values(
                "messages_received", window=timedelta(days=1),
                scope_keys=("facility", "channel"), now=datetime.now(UTC)))
        to_metrics = time.perf_counter() - acked
    finally:
        listener.stop()
        engine.dispose()
    frames = 2 * messages
    return {
        "messages": messages, "frames": frames, "seconds": elapsed,
        "frames_per_s": frames / elapsed,
        "ack_latency_ms": {"median": 1000 * statistics.median(latencies),
                           "p95": 1000 * nearest_rank(latencies, 0.95),
                           "max": 1000 * max(latencies)},
        "all_aa": all(code == "AA" for code in codes), "answers": len(codes),
        "stored_sent": stored, "ack_to_metrics_s": to_metrics, "passes": len(passes),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench mllp", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run it; SIGTERM, like Ctrl+C, still drops the scratch database."""
    with sigterm_as_exit():
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(f"mllp benchmark: {args.messages} DFT^P03 messages and their ACKs over one "
          f"loopback connection, each answered after its commit (shared machine: noisy)")
    figures: dict[str, Any] = {"messages": args.messages}
    failed = False
    for backend in [b.strip() for b in args.backend.split(",") if b.strip()]:
        folder = tempfile.mkdtemp(prefix="chargeline-bench-mllp-")
        if backend == "sqlite":
            url, cleanup = f"sqlite:///{folder}/mllp.db", None
        elif backend == "postgresql":
            name = scratch_name("mllp")
            try:
                url = create_announced(args.pg_url, name)
            except Exception as exc:  # no server: say so and go on with the others
                print(f"  postgresql: skipped ({str(exc).splitlines()[0]})")
                continue
            cleanup = name
        else:
            print(f"unknown backend {backend!r}; use sqlite or postgresql", file=sys.stderr)
            return 2
        try:
            result = run_backend(url, args.messages, folder)
        finally:
            if cleanup:
                drop_database(args.pg_url, cleanup)
            shutil.rmtree(folder, ignore_errors=True)
        figures[backend] = result
        lat = result["ack_latency_ms"]
        ok = result["all_aa"] and result["stored_sent"] == args.messages
        failed = failed or not ok
        print(f"  {backend}: {result['frames']} frames in {result['seconds']:.2f} s = "
              f"{result['frames_per_s']:,.0f} frames/s; ACK latency of a message median "
              f"{lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms; "
              f"{result['answers']} answers {'all AA' if result['all_aa'] else 'NOT all AA'}, "
              f"{result['stored_sent']} messages stored with their ACK; AA to counted in "
              f"the metrics {result['ack_to_metrics_s']:.2f} s ({result['passes']} pass(es))")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
