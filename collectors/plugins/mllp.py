"""The MLLP listener: a real-time tap on the interface engine's traffic.

A site points a tee (an archiver or "send a copy" destination) of its engine at
``listen: HOST:PORT``; the engine's messages and the ACKs its receivers returned arrive
here over MLLP (``collectors.mllp_frames``). Each frame is converted by the log
collector's own converter (``collectors.hl7_records.Hl7Converter``, the source's
``hl7_log`` mapping) and **committed before it is acknowledged**: its message (with its
usage links), or the ACK it carries applied to the message it names (kept in
``hl7_early_acks`` when that message has not come yet), or its quarantine row, in one
transaction (``CollectContext.commit_page``). Only then does the sender get its answer:

- ``AA`` — stored (a resend of a stored message is stored again, harmlessly);
- ``AE`` — read, but its content is rejected: quarantined with the reason, as the log
  collector does (a cut message, a DFT without FT1-2, ...);
- ``AR`` — not HL7 (no MSH, not UTF-8, an over-long or cut frame: quarantined), or not
  stored because the store failed (nothing written; the sender keeps it and resends).

A connection dropped mid-frame loses the partial frame only: it was never acknowledged,
so the sender sends it again. Every frame is answered, the engine's ACKs too (a tee
channel waits for a response to each message it sends).

Runs: the listener keeps one ``collector_runs`` row open per ``schedule`` interval and
closes it ``ok`` (rows written), ``nodata`` (listening, nothing new) or ``error`` (a
commit failed, or the port could not be bound: retried every interval), so freshness
and "minutes since success" read the tap as they read a polled source. A commit that
wrote rows pokes ``on_written`` (the collector's after-pass hook: metrics, rules) from a
thread of its own, so a message received is in the metrics after the next pass and the
ACK never waits for it. A run closed calls ``on_run_finished`` (OpenLineage events, as
after a polled pass).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import Connection, Engine

from collectors.base import CollectContext, Reject
from collectors.data.acks import apply_early_acks, apply_late_acks
from collectors.data.runs import finish_run, start_run
from collectors.hl7_parse import Block, parse_message
from collectors.hl7_records import Hl7Converter
from collectors.hooks import RunFinished, announce_run
from collectors.mapping import load_mapping
from collectors.mllp_frames import (
    ERR_INTERNAL,
    ERR_SEGMENT_SEQUENCE,
    FrameDecoder,
    Header,
    build_ack,
    error_condition,
    frame,
    read_header,
)
from collectors.plugins.hl7_log import channel_name
from collectors.registry import register
from core.config import Settings, SourceConfig
from core.errors import RecordError, SourceError
from core.keys import patient_token_key
from core.model import RunStatus
from core.sealing import sealer_for

log = logging.getLogger("chargeline.collectors")
TICK_SECONDS = 0.25  # how often a blocked accept/recv looks up for a stop or a new run
STOP_GRACE_SECONDS = 2.0  # a frame in flight at stop gets this long to end
STORE_FAILED = "not stored: Chargeline's store failed; send it again"


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:2575`` for IPv6) as a socket address."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class MllpListener:
    """Listens on one ``mllp`` source's address and stores what its tee sends."""

    def __init__(self, settings: Settings, engine: Engine, source: SourceConfig, *,
                 holder: str = "", on_written: Callable[[], None] | None = None,
                 on_run_finished: RunFinished | None = None,
                 max_frame_bytes: int | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.source = source
        self.holder = holder or settings.collector_id or "mllp"
        self.channel = channel_name(source.channel or source.name)
        self.label = f"mllp:{source.listen}"
        self.converter = Hl7Converter(load_mapping("hl7_log", source.mapping), self.channel,
                                      patient_token_key(settings), source.name)
        self.sealer = sealer_for(settings)
        self.max_frame_bytes = max_frame_bytes
        self.interval = float(source.schedule.interval_seconds or 60)
        self.frame_timeout = max(30.0, source.timeout_seconds * 3)
        self.acks: Counter[str] = Counter()  # frames answered, by MSA-1
        self.connections = 0  # open now
        self.address: tuple[str, int] | None = None  # bound address (port 0 resolved)
        self.bind_error = ""
        self._notifier = _Notifier(on_written) if on_written is not None else None
        self.on_run_finished = on_run_finished
        self._lock = threading.Lock()  # commits, the run row, the counters
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._thread: threading.Thread | None = None
        self._ctx: CollectContext | None = None
        self._run_started = 0.0
        self._seq = 0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, wait_seconds: float = 5.0) -> MllpListener:
        """Bind and serve in a thread of its own; return once bound (or the bind failed
        and its retries began: ``bind_error`` says why)."""
        self._thread = threading.Thread(target=self._run, name=f"mllp {self.source.name}",
                                        daemon=True)
        self._thread.start()
        self._bound.wait(wait_seconds)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Accept no new connection, let frames in flight end (commit and ACK), close
        the run row."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for thread in list(self._threads):
            thread.join(timeout)
        if self._notifier is not None:
            self._notifier.stop()

    def _run(self) -> None:
        with self._lock:
            self._open_run()
        try:
            while not self._stop.is_set():
                try:
                    server = socket.create_server(parse_listen(self.source.listen))
                except OSError as exc:
                    self.bind_error = f"cannot listen on {self.source.listen}: {exc}"
                    log.error("source %s: %s — retrying every %.0f s", self.source.name,
                              self.bind_error, self.interval)
                    with self._lock:
                        self._close_run(self.bind_error)
                        self._open_run()
                    self._bound.set()
                    self._stop.wait(self.interval)
                    continue
                self.bind_error = ""
                with server:
                    self.address = server.getsockname()[:2]
                    log.info("source %s: listening for MLLP on %s:%d (channel %s)",
                             self.source.name, *self.address, self.channel)
                    self._bound.set()
                    self._serve(server)
        finally:
            for thread in list(self._threads):
                thread.join(STOP_GRACE_SECONDS + 1)
            with self._lock:
                self._close_run()

    def _serve(self, server: socket.socket) -> None:
        server.settimeout(TICK_SECONDS)
        while not self._stop.is_set():
            self._rotate_run()
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._connection, args=(conn, peer), daemon=True,
                                      name=f"mllp {self.source.name} {peer[0]}:{peer[1]}")
            self._threads.add(thread)
            thread.start()

    def _connection(self, conn: socket.socket, peer: Any) -> None:
        """One sender's stream: frames in, one ACK out for each, in order."""
        decoder = FrameDecoder(**({"max_bytes": self.max_frame_bytes}
                                  if self.max_frame_bytes else {}))
        conn.settimeout(TICK_SECONDS)
        last = time.monotonic()
        stopping_since: float | None = None
        with self._lock:
            self.connections += 1
        try:
            while True:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    now = time.monotonic()
                    if self._stop.is_set():
                        stopping_since = stopping_since or now
                        if not decoder.mid_frame or now - stopping_since > STOP_GRACE_SECONDS:
                            break
                    if decoder.mid_frame and now - last > self.frame_timeout:
                        log.warning("source %s: %s:%s sent half a frame and nothing for %.0f s;"
                                    " connection closed (the frame was not acknowledged)",
                                    self.source.name, peer[0], peer[1], self.frame_timeout)
                        break
                    continue
                except OSError:
                    break
                if not data:
                    if decoder.mid_frame:
                        log.warning("source %s: %s:%s closed the connection mid-frame; its %d "
                                    "bytes were dropped (never acknowledged, so resent)",
                                    self.source.name, peer[0], peer[1], decoder.pending_bytes)
                    break
                last = time.monotonic()
                for received in decoder.feed(data):
                    ack = self.receive(received.payload, oversize=received.oversize,
                                       cut=received.cut)
                    try:
                        conn.sendall(frame(ack))
                    except OSError:  # stored; the sender resends it, harmlessly
                        return
        finally:
            conn.close()
            with self._lock:
                self.connections -= 1
            self._threads.discard(threading.current_thread())

    # --- one frame ---------------------------------------------------------------------

    def receive(self, payload: bytes, *, oversize: bool = False, cut: bool = False) -> bytes:
        """Store one frame's payload (or quarantine it) and return its ACK message."""
        header = read_header(payload)
        where = f"{self.label}/{self.sealer.digest(payload)[:16]}"
        reason = ""
        if oversize:
            reason = (f"MLLP frame longer than {self.max_frame_bytes or 'the limit of'} bytes: "
                      "its head is kept")
        elif cut:
            reason = "truncated: a new MLLP frame started before this one's end byte (0x1C)"
        else:
            try:
                parse_message(payload)
            except RecordError as exc:
                reason = exc.reason
        if reason:  # not an HL7 message we can read: rejected (AR)
            return self._commit(header, [], [Reject(f"{where}@0", reason, payload,
                                                    "interface_message")], [], "AR", reason)
        batch = self.converter.convert([Block(0, len(payload), payload)], where)
        own = next((r for r in batch.rejected if r.position == f"{where}@0"), None)
        rejects = [Reject(r.position, r.reason, r.raw, "interface_message")
                   for r in batch.rejected]
        records = [*batch.messages, *batch.usages]

        def acknowledge(conn: Connection) -> int:
            stored = [{"control_id": m.control_id, "channel": m.channel,
                       "facility_id": m.facility_id} for m in batch.messages]
            return (apply_late_acks(conn, self.channel, batch.late_acks, self.source.name)
                    + apply_early_acks(conn, self.source.name, stored))

        code, text = ("AE", own.reason) if own is not None else ("AA", "")
        return self._commit(header, records, rejects, [acknowledge], code, text)

    def _commit(self, header: Header, records: Sequence[Any], rejects: Sequence[Reject],
                extra: list[Callable[[Connection], int]], code: str, text: str) -> bytes:
        newest = max((r.received_at for r in records if hasattr(r, "received_at")),
                     default=None)
        try:
            with self._lock:
                ctx = self._ctx or self._open_run()
                written = ctx.commit_page(
                    "tee", records, None, rejects, newest=newest,
                    extra=(lambda conn: sum(f(conn) for f in extra)) if extra else None)
        except Exception as exc:  # the store failed: nothing was written, nothing ACKed AA
            log.exception("source %s: a frame could not be stored", self.source.name)
            with self._lock:
                if self._ctx is not None:
                    self._ctx.totals.stream_errors.append(
                        f"{self.source.name}: {type(exc).__name__}: store failed")
            return self._ack(header, "AR", STORE_FAILED, ERR_INTERNAL)
        if written and self._notifier is not None:
            self._notifier.poke()
        error = (ERR_SEGMENT_SEQUENCE if code == "AR" and not header.control_id
                 else error_condition(text)) if code != "AA" else ""
        return self._ack(header, code, text, error)

    def _ack(self, header: Header, code: str, text: str, error: str) -> bytes:
        with self._lock:
            self.acks[code] += 1
            self._seq += 1
            seq = self._seq
        control = f"CL{time.time_ns() // 1_000_000 % 10**12:012d}{seq % 100_000:05d}"
        return build_ack(header, code, control_id=control, text=text, error=error)

    # --- run rows (under self._lock) ---------------------------------------------------

    def _open_run(self) -> CollectContext:
        run_id = str(uuid.uuid4())
        self._ctx = CollectContext(self.source, self.settings, self.engine, None, run_id)
        self._run_started = time.monotonic()
        try:
            with self.engine.begin() as conn:
                start_run(conn, run_id, self.source.name, self.holder, datetime.now(UTC))
        except Exception:  # the store is down: frames get AR until it answers again
            log.exception("source %s: cannot record its run", self.source.name)
        return self._ctx

    def _close_run(self, error: str = "") -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        totals = ctx.totals
        error = "; ".join([*totals.stream_errors, *([error] if error else [])])
        status = (RunStatus.ERROR if error else RunStatus.OK if totals.written
                  else RunStatus.NODATA)
        try:
            with self.engine.begin() as conn:
                finish_run(conn, ctx.run_id, {
                    "status": status.value, "records": totals.written,
                    "quarantined": totals.quarantined,
                    "error_class": ("SourceError" if error else "")[:64],
                    "error": error[:4000], "newest_record_at": totals.newest})
        except Exception:
            log.exception("source %s: cannot close its run", self.source.name)
            return
        announce_run(self.on_run_finished, self.settings, self.engine, ctx.run_id)

    def _rotate_run(self) -> None:
        if time.monotonic() - self._run_started < self.interval:
            return
        with self._lock:
            self._close_run()
            self._open_run()


class _Notifier:
    """Calls ``callback`` from a thread of its own after ``poke``; pokes that come while
    it runs coalesce into one more call."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self._event = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mllp after-pass", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._event.set()

    def stop(self) -> None:
        self._stopped.set()
        self._event.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            self._event.wait()
            if self._stopped.is_set():
                return
            self._event.clear()
            try:
                self.callback()
            except Exception:  # the hook's failure must not stop the listener
                log.exception("after-pass hook (from the MLLP listener) failed")


def start_listeners(settings: Settings, engine: Engine, sources: Iterable[SourceConfig], *,
                    holder: str = "", on_written: Callable[[], None] | None = None,
                    on_run_finished: RunFinished | None = None) -> list[MllpListener]:
    """A started listener for each enabled ``mllp`` source."""
    return [MllpListener(settings, engine, source, holder=holder, on_written=on_written,
                         on_run_finished=on_run_finished).start()
            for source in sources if source.enabled and source.kind == "mllp"]


class ListenerMetrics:
    """The listeners' own figures for ``/metrics`` (a prometheus_client collector)."""

    def __init__(self, listeners: Sequence[MllpListener]) -> None:
        self.listeners = listeners

    def collect(self) -> Iterator[Any]:
        frames = CounterMetricFamily("chargeline_mllp_frames", "MLLP frames answered by this "
                                     "collector process, by the ACK code sent",
                                     labels=["source", "ack"])
        open_now = GaugeMetricFamily("chargeline_mllp_connections",
                                     "MLLP connections open now", labels=["source"])
        up = GaugeMetricFamily("chargeline_mllp_listening", "1 while the MLLP listener is "
                               "bound to its address, else 0", labels=["source"])
        for listener in self.listeners:
            name = listener.source.name
            for code in ("AA", "AE", "AR"):
                frames.add_metric([name, code], listener.acks.get(code, 0))
            open_now.add_metric([name], listener.connections)
            up.add_metric([name], 0 if listener.bind_error or listener.address is None else 1)
        yield from (frames, open_now, up)


@register
class MllpCollector:
    """An ``mllp`` source is not polled: it listens while ``chargeline collector`` runs."""

    kind: ClassVar[str] = "mllp"

    def poll(self, ctx: CollectContext) -> None:
        raise SourceError(f"source {ctx.source.name} listens for MLLP on {ctx.source.listen}"
                          " while `chargeline collector` runs; there is nothing to poll")
