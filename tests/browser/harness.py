"""Driving the real dashboard in Debian's Chromium: start ``streamlit run`` on loopback,
wait the way Streamlit's own e2e suite waits, sign in.

Readiness (engineering facts 1.3): ``/_stcore/health`` answers ``ok``; then, after every
navigation or interaction, ``stApp`` is CONNECTED and ``notRunning`` and no ``stSkeleton``
is left. The server writes to a file, never a pipe (a full pipe would block it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-sandbox",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
WAIT_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StreamlitServer:
    """``streamlit run app/main.py`` on 127.0.0.1 and a free port, for one store."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "streamlit.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamlit", "run", str(MAIN),
                "--server.headless", "true", "--global.developmentMode", "false",
                "--global.e2eTest", "true", "--server.address", "127.0.0.1",
                "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none", "--server.scriptHealthCheckEnabled", "true",
                "--client.toolbarMode", "minimal"]

    def start(self, attempts: int = 3) -> StreamlitServer:
        """Start and wait for ``/_stcore/health``; retry on another port (as Streamlit's
        own suite does) when a start fails."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGELINE_")}
        env["CHARGELINE_DATABASE_URL"] = self.database_url
        for _ in range(attempts):
            self.port = free_port()
            with self.log.open("ab") as sink:
                self.proc = subprocess.Popen(self.command(), stdout=sink,
                                             stderr=subprocess.STDOUT, env=env,
                                             cwd=self.workdir)
            if self._healthy(timeout=60):
                return self
            self.stop()
        raise RuntimeError(f"streamlit did not start:\n{self.log.read_text(errors='replace')}")

    def _healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium through Playwright (no browser download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_ready(page: Page) -> None:
    """Wait until the app is connected, its script is not running and nothing is still
    a skeleton (what Streamlit's e2e ``wait_for_app_run`` does)."""
    page.wait_for_selector("[data-testid='stAppViewContainer']", state="attached",
                           timeout=WAIT_MS)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                           timeout=WAIT_MS)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=WAIT_MS)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=WAIT_MS)
    page.wait_for_timeout(250)  # debounced widgets settle


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_timeout(210)
    wait_ready(page)


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form and wait until the signed cookie is in the browser."""
    page.locator(".st-key-login_email input").fill(email)
    page.locator(".st-key-login_password input").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_ready(page)
    page.wait_for_function("document.cookie.includes('chargeline_session=')", timeout=WAIT_MS)
    wait_ready(page)


def box_select(page: Page, chart_key: str, left: float = 0.02, right: float = 0.98) -> None:
    """Drag a selection box across a Plotly chart's plot area (``dragmode='select'``)."""
    chart = page.locator(f".st-key-{chart_key}")
    chart.scroll_into_view_if_needed()
    chart.hover()
    area = chart.locator(".nsewdrag").first
    box = area.bounding_box()
    assert box is not None, "the chart has no plot area"
    x0, x1 = box["x"] + box["width"] * left, box["x"] + box["width"] * right
    y0, y1 = box["y"] + 2, box["y"] + box["height"] - 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * step / 10, y0 + (y1 - y0) * step / 10)
    page.mouse.up()
    page.wait_for_timeout(300)
    wait_ready(page)
