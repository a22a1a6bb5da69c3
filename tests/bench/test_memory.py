"""``bench metrics`` reports the process's own memory (anonymous pages, sampled to a
peak) beside the resident-set high-water mark, which counts file pages too."""

from __future__ import annotations

import time
from typing import Any

from bench.metrics import AnonPeak, anon_mb, pss_anon_mb, report


def test_the_anonymous_peak_catches_memory_freed_before_it_is_read() -> None:
    peak = AnonPeak(every=0.005)
    peak.reset()
    before = anon_mb()
    block = bytearray(120 * 1024 * 1024)  # touched: zero-filled pages are resident
    block[::4096] = b"x" * len(block[::4096])
    time.sleep(0.1)
    del block
    time.sleep(0.05)
    assert anon_mb() < before + 60  # given back
    assert peak.peak_mb() >= before + 100  # yet the peak saw it
    peak.reset()
    assert peak.peak_mb() < before + 60  # and a reset starts from what is held now


def test_pss_anon_reads_the_rollup() -> None:
    assert 0 < pss_anon_mb() < 10_000


def test_the_report_prints_both_figures() -> None:
    class Args:
        rows, seed, facilities, days, repeat, new_rows = 10, 1, 1, 1, 1, 5

    stages = {"duplicates": 0.1, "mapping": 0.1}
    run: dict[str, Any] = {
        "load": {"load_seconds": 1.0, "rows": {"usage_events": 10}},
        "compute": {"full_s": [3.0], "full_checks_s": [0.2], "full_stages": [stages],
                    "full_peak_mb": 900.0, "full_anon_peak_mb": 321.0, "incr_s": [0.5],
                    "incr_checks_s": [0.1], "incr_stages": [stages], "incr_peak_mb": 800.0,
                    "incr_anon_peak_mb": 123.0, "incr_results": [{}],
                    "full_checkpoint_s": [0.1], "incr_checkpoint_s": [0.1]}}
    text = report(Args(), {"sqlite": run}, {}, {})  # type: ignore[arg-type]
    header = next(ln for ln in text.splitlines() if ln.startswith("backend"))
    row = next(ln for ln in text.splitlines() if ln.startswith("sqlite"))
    assert "RSS MB full/incr" in header and "own MB full/incr" in header
    assert "900/800" in row and "321/123" in row
    assert "RssAnon" in text and "VmHWM" in text
