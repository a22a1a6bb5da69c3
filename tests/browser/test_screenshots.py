"""Screenshots of the main pages for the README, taken on the demo estate (``chargeline
demo``: the simulator, a first collection pass, metrics, rules and the dashboard).

Only when asked (it takes a few minutes)::

    CHARGELINE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py -p no:xdist

writes ``docs/screenshots/{overview,interfaces,drilldown,lineage,trace,alerts,revenue,
recall}.png``. Each
page's visible text is checked against the patients of the estate's HL7 logs (MRNs and
names): no PHI may show in a screenshot.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, select

from chargeline.demo import DEMO_PASSWORD
from store.schema_metrics import metric_usage_facts
from tests.browser.harness import free_port, open_page, sign_in, wait_ready

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CHARGELINE_SCREENSHOTS") != "1",
                       reason="set CHARGELINE_SCREENSHOTS=1 to write docs/screenshots"),
]
OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
READY = "Chargeline dashboard: "
PID = re.compile(r"PID\|[^|]*\|[^|]*\|([^|^]*)[^|]*\|[^|]*\|([^|^]*)\^([^|^]*)")


def _start_demo(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port, sim_port = free_port(), free_port()
    log = folder / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chargeline", "demo", "--out", str(folder / "demo"),
             "--port", str(port), "--sim-port", str(sim_port), "--facilities", "3",
             "--days", "14"], stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=folder,
            start_new_session=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if READY in log.read_text(errors="replace"):
            return proc, f"http://127.0.0.1:{port}"
        if proc.poll() is not None:
            break
        time.sleep(1)
    _stop(proc)
    pytest.fail(f"the demo did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # the demo stops its children on Ctrl+C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _patients(estate: Path) -> set[str]:
    """MRNs and 'FAMILY^GIVEN' / 'Given Family' of every patient in the HL7 logs."""
    found: set[str] = set()
    for path in (estate / "hl7").rglob("*.hl7"):
        for mrn, family, given in PID.findall(path.read_text(errors="replace")):
            if mrn:
                found.add(mrn)
            if family and given:
                found |= {f"{family}^{given}", f"{given.title()} {family.title()}"}
    return found


def _shoot(page: Page, name: str, phi: set[str]) -> None:
    wait_ready(page)
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 40, 4000)})
    page.wait_for_timeout(800)
    wait_ready(page)
    text = page.inner_text("body")
    leaked = sorted(p for p in phi if p in text)
    assert not leaked, f"{name}: PHI on the page: {leaked[:5]}"
    page.screenshot(path=str(OUT / f"{name}.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


def test_screenshots_of_the_main_pages(browser: Browser, tmp_path: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    proc, url = _start_demo(tmp_path)
    try:
        phi = _patients(tmp_path / "demo" / "estate")
        assert phi, "no patients found in the estate's HL7 logs"
        engine = create_engine(f"sqlite:///{tmp_path / 'demo' / 'chargeline.db'}")
        with engine.connect() as conn:
            missing = conn.execute(select(metric_usage_facts.c.usage_id).where(
                metric_usage_facts.c.capture == "missing").order_by(
                metric_usage_facts.c.used_at).limit(1)).scalar_one()
        engine.dispose()
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        open_page(page, url)
        sign_in(page, "admin@demo.example", DEMO_PASSWORD)
        open_page(page, url + "/overview")
        _shoot(page, "overview", phi)
        # The drill-down as the Revenue at risk card opens it (its window), so the two
        # screenshots show the same $.
        at_risk = page.get_by_role("link", name="Records").nth(1).get_attribute("href")
        assert at_risk and "dataset=at_risk" in at_risk, at_risk
        # the recall of the estate's most-scanned UDI lot, as the truth names it
        truth = json.loads((tmp_path / "demo" / "estate" / "truth.json").read_text())
        lot = truth["recall"]["lot"]
        for name, path in (("interfaces", "/interfaces"),
                           ("drilldown", "/" + at_risk.split("/", 3)[-1].lstrip("/")),
                           ("lineage", "/lineage"), ("trace", f"/lineage?trace={missing}"),
                           ("alerts", "/alerts"), ("revenue", "/revenue"),
                           ("recall", f"/recall?by=lot&value={lot}")):
            open_page(page, url + path)
            _shoot(page, name, phi)
        context.close()
    finally:
        _stop(proc)
    assert {p.stem for p in OUT.glob("*.png")} >= {"overview", "interfaces", "drilldown",
                                                   "lineage", "trace", "alerts", "revenue",
                                                   "recall"}
