"""Headless Chromium driven over the DevTools protocol through a pipe: print a page to PDF, run
JavaScript in it and hear what its console says.

The protocol runs over the two file descriptors `--remote-debugging-pipe` opens (3: commands in,
4: replies out, each message JSON ending in NUL), so no port is opened and no websocket package is
needed; Debian's `chromium` package is the only requirement.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


CLOSE_TIMEOUT = 10
"""Seconds Chromium may take to close once its work is done."""


def chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH, if any."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class BrowserError(RuntimeError):
    """Chromium failed, timed out, or a page's script threw."""


class BrowserTimeout(BrowserError):
    """Chromium did not answer within the time allowed."""


@dataclass
class Page:
    """One tab: its DevTools session, and what its console and runtime reported."""

    browser: Browser
    session: str
    errors: list[str] = field(default_factory=list)

    def call(self, method: str, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """One DevTools command in this tab."""
        return self.browser.call(method, params, self.session, timeout)

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """The value of a JavaScript expression (a promise is awaited), as JSON."""
        reply = self.call(
            "Runtime.evaluate",
            timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script failed: {text}")
        return reply["result"].get("value")

    def print_pdf(self, timeout: float | None = None, **options: Any) -> bytes:
        """The page printed as PDF (Page.printToPDF's options; the page's CSS sets the size)."""
        settings = {"printBackground": True, "preferCSSPageSize": True, **options}
        reply = self.call("Page.printToPDF", timeout, **settings)
        return base64.b64decode(reply["data"])


class Browser:
    """A headless Chromium process and its DevTools pipe; use `with launch() as browser`."""

    def __init__(self, process: subprocess.Popen[bytes], send: int, receive: int, timeout: float):
        self.process, self._send, self._receive, self.timeout = process, send, receive, timeout
        self._buffer = b""
        self._next_id = 0
        self._pages: dict[str, Page] = {}

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile are recorded."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._event(reply)

    def wait_for(self, event: str, session: str, timeout: float | None = None) -> None:
        """Read messages until `event` arrives in `session`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._read(deadline, event)
            self._event(message)
            if message.get("method") == event and message.get("sessionId") == session:
                return

    def open(self, url: str, width: int = 1280, height: int = 720) -> Page:
        """A new tab of `width`×`height` CSS pixels showing `url`, loaded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        self._pages[page.session] = page
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", page.session)
        return page

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserTimeout(f"chromium did not answer {waiting_for} in time")
            ready, _, _ = select.select([self._receive], [], [], left)
            if ready:
                chunk = os.read(self._receive, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited while waiting for {waiting_for}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _event(self, message: dict[str, Any]) -> None:
        """Keep what a page reports as an error: console.error, uncaught exceptions, failed
        loads (Log entries of level error)."""
        page = self._pages.get(message.get("sessionId", ""))
        params = message.get("params", {})
        if page is None:
            return
        if message.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = params.get("args", [])
            page.errors.append(
                "console.error: "
                + " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            )
        elif message.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            page.errors.append(f"uncaught: {text}")
        elif message.get("method") == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                where = entry.get("url", "")
                page.errors.append(f"{entry.get('source')}: {entry.get('text')} {where}".strip())


@contextmanager
def launch(binary: str | None = None, timeout: float = 120) -> Iterator[Browser]:
    """A headless Chromium for the duration of the block; each command may take `timeout` s."""
    binary = binary or chromium()
    if binary is None:
        raise BrowserError("no chromium on PATH (e.g. `apt-get install chromium`)")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def pipes_as_3_and_4() -> None:
        """In the child, before exec: copies first, as either pipe end may be fd 3 or 4."""
        commands, replies = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(commands, 3)
        os.dup2(replies, 4)

    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=pipes_as_3_and_4,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        browser = Browser(process, to_browser_w, from_browser_r, timeout)
        try:
            yield browser
            browser.call("Browser.close", timeout=CLOSE_TIMEOUT)
            process.wait(timeout=CLOSE_TIMEOUT)
        finally:
            if process.poll() is None:  # failed, or hung on closing
                process.kill()
                process.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)


def as_url(path: Path) -> str:
    """A local file's file:// URL."""
    return Path(path).resolve().as_uri()
