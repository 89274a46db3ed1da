"""A health prober: polls the service's readiness every ``interval_s`` from its own thread and
keeps (time, up) samples, so detection and restoration times come from what a client (a load
balancer's health check) would see, not from the injector's own clock.

Times are ``time.monotonic()`` seconds; "up" means ``GET <path>`` answered 200 within
``timeout_s`` (a refused connection, a timeout or any other status is "down").
"""
from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Prober:
    url: str
    path: str = "/ready"
    interval_s: float = 0.02
    timeout_s: float = 1.0
    samples: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def probe(self) -> bool:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + self.path, timeout=self.timeout_s) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            up = self.probe()
            self.samples.append((time.monotonic(), up))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - t)))

    def start(self) -> Prober:
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 1)

    def first(self, up: bool, after: float) -> float | None:
        """Time of the first sample at or after ``after`` whose state is ``up``."""
        for t, u in list(self.samples):
            if t >= after and u is up:
                return t
        return None

    def wait_for(self, up: bool, after: float, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            t = self.first(up, after)
            if t is not None:
                return t
            time.sleep(self.interval_s / 2)
        return None
