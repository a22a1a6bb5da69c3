"""What the estate writes to disk: the engine's HL7 logs and ``truth.json``, and the live
loop that keeps appending logs as the clock passes."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.hl7log import Hl7LogWriter

if TYPE_CHECKING:
    from simulator.estate import Estate


def write_truth(truth: dict[str, Any], out: Path) -> Path:
    """Write ``<out>/truth.json`` atomically (a reader never sees half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "truth.json"
    tmp = out / f".truth.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_estate_files(estate: Estate, out: Path, now_ms: int | None = None) -> Hl7LogWriter:
    """Write fresh HL7 logs up to ``now_ms`` (default: the estate end) and the truth.

    Returns the log writer, positioned to append what comes later (live mode)."""
    out = Path(out)
    writer = Hl7LogWriter(estate.hl7, out / "hl7")
    writer.reset()
    (out / "hl7").mkdir(parents=True, exist_ok=True)
    writer.write_until(estate.end_ms if now_ms is None else now_ms)
    write_truth(estate.truth, out)
    return writer


class LiveLogs:
    """A daemon thread appending HL7 log entries as the wall clock reaches them."""

    def __init__(self, writer: Hl7LogWriter, interval_seconds: float = 1.0,
                 clock: Callable[[], int] | None = None) -> None:
        self.writer = writer
        self.interval = interval_seconds
        self.clock = clock or (lambda: int(time.time() * 1000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="estate-live-logs")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.writer.write_until(self.clock())
            self._stop.wait(self.interval)

    def __enter__(self) -> LiveLogs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.writer.write_until(self.clock())
