"""Headless Chromium over the DevTools protocol: open a page as a person's browser would and report
every request it made, its console errors and uncaught exceptions, and whether each <img> decoded
and each <audio>/<video> loaded its data. Debian's `chromium` package; .ci/run installs it."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import websocket

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--mute-audio", "--window-size=1280,900", "--remote-debugging-port=0"]

# Waits for every <img> to decode and every <audio>/<video> to load its data or fail; an element
# that would load only its metadata (preload other than auto) is asked for its data.
CHECK = """(async (ms) => {
  const late = (what) => new Promise(r => setTimeout(() => r(what), ms));
  // both ends: kind and file
  const short = (s) => (s = s || '').length > 100 ? s.slice(0, 60) + '…' + s.slice(-39) : s;
  const images = await Promise.all([...document.images].map(async (img) => {
    let decoded = await Promise.race([img.decode().then(() => true, () => false), late(false)]);
    return {src: short(img.currentSrc || img.getAttribute('src')), complete: img.complete,
            naturalWidth: img.naturalWidth, ok: decoded && img.complete && img.naturalWidth > 0};
  }));
  const media = await Promise.all([...document.querySelectorAll('audio, video')].map(el =>
    new Promise(resolve => {
      const done = (how) => resolve({tag: el.tagName.toLowerCase(), how,
        src: short(el.currentSrc || el.getAttribute('src') || el.querySelector('source')?.getAttribute('src')),
        readyState: el.readyState, error: el.error ? el.error.code : null,
        duration: Number.isFinite(el.duration) ? el.duration : null,
        ok: !el.error && el.readyState >= 2});
      if (el.error || el.readyState >= 2) return done('already');
      for (const e of ['loadeddata', 'canplaythrough']) el.addEventListener(e, () => done(e));
      el.addEventListener('error', () => done('error'));
      el.querySelectorAll('source').forEach(s => s.addEventListener('error', () => done('source error')));
      setTimeout(() => done('timeout'), ms);
      if (el.preload !== 'auto') { el.preload = 'auto'; el.load(); }
    })));
  return {images, media};
})"""


@dataclass
class Report:
    url: str
    requests: list = field(default_factory=list)        # every URL requested, in order
    external: list = field(default_factory=list)        # those not data:, the page itself, or allowed
    failed: list = field(default_factory=list)          # (url, net error) of requests that failed
    console: list = field(default_factory=list)         # (level, text), console.* and Log entries
    exceptions: list = field(default_factory=list)      # uncaught exceptions' text
    images: list = field(default_factory=list)
    media: list = field(default_factory=list)
    waited: object = None                               # `wait_for`'s value; falsy if it never came

    @property
    def errors(self) -> list:
        return [text for level, text in self.console if level in ("error", "assert")]

    def problems(self) -> list[str]:
        """Everything a person would call broken, one line each."""
        return ([f"external request: {u}" for u in self.external]
                + [f"console error: {t}" for t in self.errors]
                + [f"exception: {t}" for t in self.exceptions]
                + [f"image not decoded: {i['src']}" for i in self.images if not i["ok"]]
                + [f"{m['tag']} not loaded ({m['how']}, error {m['error']}): {m['src']}"
                   for m in self.media if not m["ok"]])


def assert_clean_page(report: Report) -> None:
    """No external request, no console error or exception, every image and player loads."""
    assert not report.problems(), f"{report.url}:\n" + "\n".join(report.problems())


def find_chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


class Browser:
    """One headless Chromium with a throwaway profile; `open` takes a page in a new tab each time."""

    def __init__(self, binary: str, start_timeout: float = 30):
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-"))
        self.log = open(self.profile.parent / f"{self.profile.name}.log", "w")
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            port_file, deadline = self.profile / "DevToolsActivePort", time.monotonic() + start_timeout
            while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start: {Path(self.log.name).read_text()[-2000:]}")
                time.sleep(0.1)
            port, path = port_file.read_text().split()
            self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=10,
                                                  suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self._id, self._events = 0, []

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close(timeout=2)
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)     # the browser and its renderers: its group
            self.proc.wait(timeout=10)
        finally:
            self.log.close()
            os.unlink(self.log.name)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, session: str | None = None, timeout: float = 30, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        self.ws.send(json.dumps({**msg, "sessionId": session} if session else msg))
        reply = self._wait(lambda m: m.get("id") == self._id, timeout, method)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait(self, done, timeout: float, what: str | None = None) -> dict | None:
        """The first message `done` accepts, keeping the events until then; with `what` None, only
        listen for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(min(left, 10))
            try:
                m = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if done and done(m):
                return m
            if "method" in m:
                self._events.append(m)
        if what:
            raise TimeoutError(f"no answer to {what} in {timeout} s")

    def open(self, url: str, allowed_origin: str | None = None, timeout: float = 60,
             media_timeout: float = 10, screenshot: Path | None = None, settle: float = 0.5,
             wait_for: str | None = None) -> Report:
        """Load `url`, wait for its load event and for its images and media, and report. `wait_for`:
        a JS expression polled after the load event until it is truthy or `timeout` has passed (a
        page that renders itself); `settle`: seconds to keep listening after the checks (late
        console errors); `screenshot`: a PNG of the whole page is written there."""
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        try:
            for domain in ("Page", "Network", "Runtime", "Log"):
                self._call(f"{domain}.enable", session)
            self._events = []
            if error := self._call("Page.navigate", session, url=url).get("errorText"):
                raise RuntimeError(f"{url}: {error}")
            self._wait(lambda m: m.get("method") == "Page.loadEventFired", timeout, f"loading {url}")
            deadline, waited = time.monotonic() + timeout, None
            while wait_for and not waited and time.monotonic() < deadline:
                waited = self._call("Runtime.evaluate", session, expression=wait_for,
                                    returnByValue=True)["result"].get("value")
                if not waited:
                    self._wait(None, 0.5)
            found = self._call("Runtime.evaluate", session, timeout=timeout + media_timeout,
                               expression=f"{CHECK}({int(media_timeout * 1000)})",
                               awaitPromise=True, returnByValue=True)
            if "exceptionDetails" in found:
                raise RuntimeError(f"the page check failed: {found['exceptionDetails']}")
            self._wait(None, settle)
            if screenshot:
                size = self._call("Page.getLayoutMetrics", session)["cssContentSize"]
                shot = self._call("Page.captureScreenshot", session, captureBeyondViewport=True,
                                  clip={"x": 0, "y": 0, "scale": 1, **size})
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            report = self._report(url, allowed_origin, session, found["result"]["value"])
            report.waited = waited
            return report
        finally:
            self._call("Target.closeTarget", targetId=target)

    def _report(self, url: str, allowed_origin: str | None, session: str, found: dict) -> Report:
        report = Report(url, images=found["images"], media=found["media"])
        ids = {}
        for e in (e for e in self._events if e.get("sessionId") == session):
            p = e["params"]
            if e["method"] == "Network.requestWillBeSent":
                u = ids[p["requestId"]] = p["request"]["url"]
                report.requests.append(u[:200])
                if not (u.startswith("data:") or u == url.split("#")[0]
                        or (allowed_origin and u.startswith(allowed_origin.rstrip("/") + "/"))):
                    report.external.append(u[:200])
            elif e["method"] == "Network.loadingFailed":
                report.failed.append((ids.get(p["requestId"]), p["errorText"]))
            elif e["method"] == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                report.console.append((p["type"], text))
            elif e["method"] == "Log.entryAdded":
                entry = p["entry"]
                report.console.append((entry["level"], f"{entry['text']} {entry.get('url', '')}".strip()))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                report.exceptions.append(d.get("exception", {}).get("description") or d["text"])
        return report
