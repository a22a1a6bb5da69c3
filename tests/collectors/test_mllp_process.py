"""``chargeline collector`` as a process: it listens on an mllp source's port, serves
``/metrics`` on ``metrics_port``, a message sent over MLLP is acknowledged, stored and
counted in a scrape, the metrics pass it starts puts it in the channel's figures, and
SIGTERM stops it with exit 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from hl7.client import MLLPClient
from prometheus_client.parser import text_string_to_metric_families

from tests.collectors import payloads as p

DEADLINE = 60.0


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_collector_process_listens_and_serves_metrics(tmp_path: Path) -> None:
    config = tmp_path / "chargeline.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'store.db'}", "data_dir": str(tmp_path),
        "metrics_port": 0, "metrics_window_hours": 24 * 365 * 5,
        "sources": [{"name": "engine-tee", "kind": "mllp", "listen": "127.0.0.1:0",
                     "channel": "FAC01_CHG_OUT"}]}))
    env = {**os.environ, "CHARGELINE_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "collector.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "chargeline", "collector"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=tmp_path)
    try:
        deadline = time.monotonic() + DEADLINE
        listen = metrics = None
        while listen is None or metrics is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            text = log.read_text()
            found = re.search(r"listening for MLLP on 127\.0\.0\.1:(\d+)", text)
            listen = int(found.group(1)) if found else None
            found = re.search(r"metrics: (http://\S+/metrics)", text)
            metrics = found.group(1) if found else None
            time.sleep(0.1)

        with MLLPClient("127.0.0.1", listen) as mllp:
            mllp.socket.settimeout(DEADLINE)
            now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
            for i in range(1, 4):  # received now: queued in the last 7 days
                message = p.dft(i).replace("20261118101532.123+0000", now)
                assert b"MSA|AA|MSG-FAC01-" in mllp.send_message(message)
        chan = (("channel", "FAC01_CHG_OUT"), ("facility", "FAC01"))
        while True:
            samples = _samples(metrics)
            if (samples.get(("chargeline_channel_messages_total", chan)) == 3
                    and samples.get(("chargeline_channel_queue_depth", chan)) == 3
                    and ("chargeline_channel_messages_held", chan) in samples):
                break  # stored, and the metrics pass it started has run (held is a point)
            assert time.monotonic() < deadline, (
                {k: v for k, v in samples.items() if "channel" in k[0]}, log.read_text()[-3000:])
            time.sleep(0.5)
        assert samples[("chargeline_mllp_frames_total",
                        (("ack", "AA"), ("source", "engine-tee")))] == 3
        assert samples[("chargeline_mllp_listening", (("source", "engine-tee"),))] == 1
        assert samples[("chargeline_store_up", ())] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log.read_text()
