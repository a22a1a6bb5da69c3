"""What the estate writes to disk: the engine's HL7 logs, the payers' 835 files
(``x12/<payer_id>/<YYYYMMDD>.835``, simulator.x12_835), the billing system's 837 claim
files (``x12-claims/<facility_id>/<YYYYMMDD>.837``, simulator.x12_837) and ``truth.json``,
and the live loop that keeps appending logs and adding 835 and 837 files as the clock
passes.

Under a rendering other than ``plain`` (simulator.rendering) the logs are written its way,
``truth.json`` stays the estate's, and two more things are written: ``mappings/<source>.yaml``,
the field-mapping overrides its collectors need (``simulator.sources.demo_sources`` points
the sources at them), and ``rendering.json``: the rendering's settings and, where the
rendered logs moved a malformed message (CR LF after ACKs adds bytes), its offset there."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from simulator.estate_record import Estate
from simulator.hl7log import Hl7Layout, Hl7LogWriter, build_layout
from simulator.renderer import EstateRenderer
from simulator.rendering import SOURCES, Rendering, rendering_name
from simulator.x12_835 import plan_files, render_file
from simulator.x12_837 import plan_claim_files, render_claim_file

MAPPINGS_DIR = "mappings"
X12_DIR = "x12"
X12_CLAIMS_DIR = "x12-claims"  # the billing system's 837 claim files, per facility


class X12Writer:
    """Writes each 835 file of the estate under ``root`` once it is ready (atomically: a
    folder poller never reads half a file)."""

    def __init__(self, estate: Estate, root: Path) -> None:
        self.root = Path(root)
        self.files = plan_files(estate)
        self.facilities = {f.facility.facility_id: f.facility for f in estate.facilities}
        self.written: set[str] = set()

    def write_until(self, now_ms: int) -> int:
        """Write every file ready by ``now_ms`` not written yet; return how many."""
        written = 0
        for f in self.files:
            if f.ready_ms > now_ms:
                break  # in ready order
            if f.path in self.written:
                continue
            path = self.root / f.path
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(self.render(f), encoding="ascii")
            os.replace(tmp, path)
            self.written.add(f.path)
            written += 1
        return written

    def render(self, f: Any) -> str:
        return render_file(f, self.facilities)

    def reset(self) -> None:
        """Remove the 835 files an earlier run left."""
        if self.root.is_dir():
            shutil.rmtree(self.root)


class ClaimFileWriter(X12Writer):
    """Writes each 837I claim file of the estate (simulator.x12_837) once it is sent."""

    def __init__(self, estate: Estate, root: Path) -> None:
        super().__init__(estate, root)
        self.files = plan_claim_files(estate)  # type: ignore[assignment]
        self.cdm = {c.cdm_code: c for c in estate.catalog.cdm}

    def render(self, f: Any) -> str:
        return render_claim_file(f, self.facilities, self.cdm)


class EstateFileWriter:
    """The HL7 log writer and the 835 writer, moved on together by the live loop."""

    def __init__(self, hl7: Hl7LogWriter, x12: X12Writer,
                 claims: X12Writer | None = None) -> None:
        self.hl7 = hl7
        self.x12 = x12
        self.claims = claims

    def write_until(self, now_ms: int) -> int:
        """Write the log entries, 835 and 837 files ready by ``now_ms``; return how many."""
        return (self.hl7.write_until(now_ms) + self.x12.write_until(now_ms)
                + (self.claims.write_until(now_ms) if self.claims is not None else 0))


def write_truth(truth: dict[str, Any], out: Path) -> Path:
    """Write ``<out>/truth.json`` atomically (a reader never sees half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "truth.json"
    tmp = out / f".truth.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def mapping_path(out: Path, source: str) -> Path:
    """Where the mapping override of demo source ``source`` is written."""
    return Path(out) / MAPPINGS_DIR / f"{source}.yaml"


def write_mappings(estate: Estate, rendering: Rendering, out: Path) -> dict[str, Path]:
    """Write the mapping override each demo source needs for ``rendering``; by source."""
    ids = [f.facility.facility_id for f in estate.facilities]
    written = {}
    for source, override in rendering.mapping_overrides(ids).items():
        path = mapping_path(out, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# {source}: field mapping for the '{rendering_name(rendering)}' rendering "
                  "(only what differs from collectors/mappings)\n")
        path.write_text(header + yaml.safe_dump(override, sort_keys=False), encoding="utf-8")
        written[source] = path
    return written


def _moved_offsets(plain: Hl7Layout, rendered: Hl7Layout) -> list[dict[str, Any]]:
    """The malformed messages whose byte offset the rendering moved (file, truth offset,
    offset in the rendered log)."""
    out = []
    for channel, entries in plain.channels.items():
        # an ACK in a log of its own (separate_ack_log) has no counterpart in the plain log
        own = [e for e in rendered.channels[channel] if not e.ack]
        for a, b in zip(entries, own, strict=True):
            if a.malformed is not None and (a.file, a.offset) != (b.file, b.offset):
                out.append({"file": a.file, "offset": a.offset, "rendered_offset": b.offset})
    return out


def write_estate_files(estate: Estate, out: Path, now_ms: int | None = None,
                       rendering: Rendering | None = None) -> EstateFileWriter:
    """Write fresh HL7 logs and 835 files up to ``now_ms`` (default: the estate end) and
    the truth, and for a rendering other than plain its mapping overrides and
    ``rendering.json`` (the 835 files are the same under every rendering).

    Returns the writer, positioned to add what comes later (live mode)."""
    out = Path(out)
    layout = estate.hl7
    # what an earlier run under another rendering left would misconfigure the sources
    for source in SOURCES:
        mapping_path(out, source).unlink(missing_ok=True)
    (out / "rendering.json").unlink(missing_ok=True)
    if rendering is not None and not rendering.is_plain:
        layout = build_layout(estate, EstateRenderer(estate, rendering))
        mappings = write_mappings(estate, rendering, out)
        (out / "rendering.json").write_text(json.dumps({
            "rendering": rendering_name(rendering),
            "settings": rendering.model_dump(mode="json"),
            "mappings": {source: path.relative_to(out).as_posix()
                         for source, path in mappings.items()},
            "malformed_hl7_offsets": _moved_offsets(estate.hl7, layout),
        }, indent=1) + "\n", encoding="utf-8")
    writer = EstateFileWriter(Hl7LogWriter(layout, out / "hl7"), X12Writer(estate, out / X12_DIR),
                              ClaimFileWriter(estate, out / X12_CLAIMS_DIR))
    writer.hl7.reset()
    writer.x12.reset()
    writer.claims.reset()  # type: ignore[union-attr]
    (out / "hl7").mkdir(parents=True, exist_ok=True)
    (out / X12_DIR).mkdir(parents=True, exist_ok=True)
    (out / X12_CLAIMS_DIR).mkdir(parents=True, exist_ok=True)  # polled before its first 837
    writer.write_until(estate.end_ms if now_ms is None else now_ms)
    write_truth(estate.truth, out)
    return writer


class LiveLogs:
    """A daemon thread appending HL7 log entries (and adding 835 files, given an
    ``EstateFileWriter``) as the wall clock reaches them."""

    def __init__(self, writer: Hl7LogWriter | EstateFileWriter, interval_seconds: float = 1.0,
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
