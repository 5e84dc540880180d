"""Drive the real app for benches and tests: start `streamlit run serve.py` (or app.py) on 127.0.0.1, open pages
in headless Debian Chromium through Playwright's async API (many sessions from one thread), and time a visit from
navigation to the page's first figure and to the end of its run. Playwright is a dev dependency
(requirements-dev.txt); benches that drive the browser say so when it is missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from explainer.ui.progressive import PENDING_CLASS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
FIGURE = "[data-testid='stPlotlyChart'] .main-svg"
NOTICE = "[data-testid='stMain'] [data-testid='stAlert']"  # a page that says why it has no figure for this model
EXCEPTION = "[data-testid='stException']"
# The script is running while Streamlit's status widget ("Running...", shown 0.5 s into a run; needs a toolbar
# mode other than "minimal", see .streamlit/config.toml) or one of our spinners is on the page.
# A progressive page's "Drawing the rest of the page…" (explainer/ui/progressive.py) waits for the browser to draw
# the first figure before the run that sends the rest: the page's work is not over either.
BUSY = "() => !!(document.querySelector(\"[data-testid='stStatusWidget']\") || " \
       f"document.querySelector(\"[data-testid='stSpinner']\") || document.querySelector('.{PENDING_CLASS}'))"
SETTLE_S = 0.8  # idle this long counts as the end of the run: longer than the status widget's 0.5 s delay
PENDING = "[data-testid='stMain'] [data-testid='stSkeleton']"  # an element whose code the browser still loads
LOOK = f"""() => [!!document.querySelector("{FIGURE}, {EXCEPTION}"), !!document.querySelector("{NOTICE}"),
              ({BUSY})() || !!document.querySelector("{PENDING}")]"""  # figure/exception, notice, busy or pending


# Where a visit ended up when its sidebar did not show its text: for the test's message, not for any decision.
# The sidebar's own content (not its page list, which filled the first 300 characters) and every text box's value
# (innerText leaves a textarea's value out).
WHERE = """() => {
  const text = (id) => (document.querySelector(`[data-testid='${id}']`)?.innerText ?? "none").slice(0, 300);
  const boxes = [...document.querySelectorAll("textarea")].map((box) => JSON.stringify(box.value)).join(", ");
  const sidebar = text("stSidebarUserContent");
  return `${location.href} | text boxes: [${boxes}] | sidebar: ${sidebar} | main: ${text("stMain")}`;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its children."""
        return sum(p.memory_info().rss for p in self._processes())

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the server process and its live children."""
        return sum(sum(p.cpu_times()[:2]) for p in self._processes())

    def _processes(self) -> list:
        import psutil

        try:
            main = psutil.Process(self.process.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@contextlib.contextmanager
def app_server(cache_dir: Path, env: Mapping[str, str] | None = None, script_args: tuple[str, ...] = (),
               timeout: float = 120.0, script: str = "serve.py") -> Iterator[Server]:
    """Serve the app from a cold process (`script`: serve.py warm-starts, app.py does not); yield it when
    /_stcore/health answers; stop it afterwards."""
    port = free_port()
    cache_dir.mkdir(parents=True, exist_ok=True)
    log = cache_dir / f"streamlit-{port}.log"
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    if script_args:
        command += ["--", *script_args]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "EXPLAINER_CACHE": str(cache_dir), "PYTHONUNBUFFERED": "1",
                                        **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def page_url(base: str, path: str, model: str | None, text: str) -> str:
    """The page's URL with the sidebar's text and model; a query the path already has (the floor page's
    `?tokens=17&seed=0`) is kept as its own parameters, not glued on with a second "?"."""
    page, _, own = path.partition("?")
    query = {**dict(urllib.parse.parse_qsl(own)), "text": text, **({"model": model} if model else {})}
    return f"{base}/{page}?{urllib.parse.urlencode(query)}"


@dataclass(frozen=True)
class Visit:
    page: str
    first_figure_s: float | None  # None: no figure within the timeout
    done_s: float | None
    exception: bool  # the page showed a Python exception
    own_text: bool  # the sidebar showed this session's text (no other session's result)
    shown_text: str = ""  # what the sidebar's text box held ("" when it was not drawn)
    texts_seen: tuple[str, ...] = ()  # every non-empty value the box held while the driver waited for its own
    where: str = ""  # when the box did not show the session's text: the address and what the sidebar showed


async def timed_visit(page, url: str, path: str, text: str, timeout_s: float = 180.0) -> Visit:
    """Navigate and time: the first figure (or an exception box; or, on a page whose run ends with neither, its
    notice), then the end of the run (no status, no spinner)."""
    start = time.perf_counter()
    await page.goto(url, wait_until="commit")
    first = done = None
    try:
        first = await _first_figure(page, start + timeout_s) - start
        done = await _end_of_run(page, start, start + timeout_s) - start
    except Exception:  # a timeout: reported as None, counted by the caller
        pass
    exception = await page.locator(EXCEPTION).count() > 0
    if not text:  # a page without the sidebar's text (the bench's floor page): waiting for the box would cost 30 s
        return Visit(path, first, done, exception, True, "")
    shown, seen = await _sidebar_text(page, text)
    where = "" if shown == text else await page.evaluate(WHERE)
    return Visit(path, first, done, exception, shown == text, shown, seen, where)


async def _sidebar_text(page, text: str, wait_s: float = 30.0) -> tuple[str, tuple[str, ...]]:
    """What the sidebar's text box holds once it holds `text`, or after `wait_s` (the sidebar may still be drawing
    when a main-area notice came first, and a session that reconnects redraws it); with every distinct value seen
    on the way, so that a test can check that none was another session's."""
    box = page.locator("[data-testid='stSidebar'] textarea").first
    seen: list[str] = []
    deadline = time.perf_counter() + wait_s
    while True:
        try:
            shown = await box.input_value(timeout=1_000)
        except Exception:  # not drawn (yet)
            shown = ""
        if shown and shown not in seen:
            seen.append(shown)
        if shown == text or time.perf_counter() > deadline:
            return shown, tuple(seen)
        await asyncio.sleep(0.2)


class _Settled:
    """Tracks a condition seen at successive looks; `since(now, holds)` gives the time it began once it has held
    for SETTLE_S without a break, else None."""

    def __init__(self) -> None:
        self.began: float | None = None

    def since(self, now: float, holds: bool) -> float | None:
        if not holds:
            self.began = None
        elif self.began is None:
            self.began = now
        elif now - self.began >= SETTLE_S:
            return self.began
        return None


async def _first_figure(page, deadline: float) -> float:
    """perf_counter time a figure or an exception box first showed. A notice counts only on a page whose run ends
    without either, with nothing left loading in the browser (one saying why this model has no such view): an
    informational notice above a figure (a long text is pooled, a section is limited) is not the figure, even when
    the server's run is over before the browser has loaded plotly.js to draw it."""
    notice_at, settled = None, _Settled()
    while True:
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError("no figure, exception or notice")
        shown, notice, busy = await page.evaluate(LOOK)
        if shown:
            return now
        if notice and notice_at is None:
            notice_at = now
        if settled.since(now, notice and not busy) is not None:
            return notice_at
        await asyncio.sleep(0.05)


async def _end_of_run(page, start: float, deadline: float) -> float:
    """perf_counter time the run ended: the first idle look after the last busy one, once idle has held for
    SETTLE_S (a run can go quiet for a moment between sections, and the status widget shows only 0.5 s in)."""
    settled = _Settled()
    while True:
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError("the run did not end")
        ended = settled.since(now, not await page.evaluate(BUSY))
        if ended is not None:
            return ended
        await asyncio.sleep(0.1)


async def _launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)


def run_sessions(base: str, sessions: list[tuple[str | None, list[tuple[str, str]]]], timeout_s: float = 180.0,
                 until: float | None = None) -> list[list[Visit]]:
    """Run the sessions at once, each in its own browser context: (model, [(page path, text), ...]) visited in
    order, no new visit started after time.monotonic() passes `until`. Returns each session's visits."""
    from playwright.async_api import async_playwright

    async def main() -> list[list[Visit]]:
        async with async_playwright() as playwright:
            browser = await _launch(playwright)

            async def session(model: str | None, visits: list[tuple[str, str]]) -> list[Visit]:
                context = await browser.new_context(viewport={"width": 1400, "height": 1400})
                page = await context.new_page()
                done = []
                for path, text in visits:
                    if until is not None and time.monotonic() > until:
                        break
                    done.append(await timed_visit(page, page_url(base, path, model, text), path, text, timeout_s))
                await context.close()
                return done

            try:
                return list(await asyncio.gather(*(session(m, v) for m, v in sessions)))
            finally:
                await browser.close()

    return asyncio.run(main())
