"""Real browser: a Streamlit server and Debian chromium, every page twice, no exception, nothing leaves 127.0.0.1.

Run with `python -m pytest tests/test_browser.py --browser`. The server runs on a free port with its
store in tmp_path (the demo loads on the first visit); its log is printed when a check fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pages.common import i18n

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--no-first-run"]
PAGES = ["", "data", "fund_flow"]  # url paths: default page, then the pages/ file names
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path, lines: int = 80) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def server(tmp_path):
    """A `streamlit run app.py` on a free loopback port; yields (base URL, log path)."""
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "LOANFLOW_DB": str(tmp_path / "loanflow.db")}
    with log.open("wb") as out:  # a file, not a PIPE: a full pipe would block the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {TIMEOUT_S}s:\n{_log_tail(log)}")
            time.sleep(0.3)
        yield base, log
    finally:
        # only the server this fixture started: its own process group
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait_idle(page, timeout_s: float = TIMEOUT_S) -> None:
    """Wait until the app's script has finished running and stayed finished for 0.8 s."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    calm = 0
    while calm < 4:
        state = page.evaluate(
            "() => document.querySelector(\"[data-testid='stApp']\")?.getAttribute('data-test-script-state')")
        calm = calm + 1 if state == "notRunning" else 0
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not go idle (script state {state!r})")
        time.sleep(0.2)


def test_every_page_twice_without_exception_or_external_request(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    base, log = server
    external: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            external.append(url)
            route.abort()
        else:
            route.continue_()

    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1000})
                context.route("**/*", guard)
                page = context.new_page()
                page.on("websocket", lambda ws: None if urlsplit(ws.url).hostname in LOCAL_HOSTS
                        else external.append(ws.url))
                page.goto(base + "/", timeout=TIMEOUT_S * 1000)
                _wait_idle(page)
                assert page.locator("[data-testid='stException']").count() == 0
                for round_no in (1, 2):
                    for path in PAGES:
                        page.goto(f"{base}/{path}", timeout=TIMEOUT_S * 1000)
                        _wait_idle(page)
                        if path == "fund_flow" and round_no == 1:
                            # run a trace so the second round draws the Sankey and the pyvis graph
                            page.get_by_role("button", name=i18n.EN["flow.run"]).click()
                            page.wait_for_timeout(500)
                            _wait_idle(page)
                        page.wait_for_timeout(800)  # let charts and the graph iframe paint
                        shot = tmp_path / f"{round_no}-{path or 'overview'}.png"
                        page.screenshot(path=str(shot), full_page=True)
                        exceptions = page.locator("[data-testid='stException']")
                        assert exceptions.count() == 0, f"/{path} round {round_no}: {exceptions.first.inner_text()}"
                        assert external == [], f"/{path} round {round_no}: external requests {external}"
                        if path == "fund_flow" and round_no == 2:
                            # the path graph renders offline: vis-network draws a canvas inside the iframe
                            frame = page.frame_locator("iframe").first
                            frame.locator("canvas").first.wait_for(timeout=30_000)
            finally:
                browser.close()
    except BaseException:
        print(f"--- streamlit log ({log}) ---\n{_log_tail(log, 200)}\n--- screenshots in {tmp_path} ---")
        raise
