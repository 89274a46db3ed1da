"""Time from a violation starting to the Slack alert being delivered, during a running load scenario.

A loopback HTTP/1.1 service answers 200 until ``--flip-s`` seconds into the run, then 500 to every
request (a violation of the 5 % error-rate target begins at that moment). The load engine drives
it (open model, ``--rate`` req/s) and writes its live window; a LiveMonitor with the settings of
``config/alerts.yaml`` (``live:``) judges it and posts through slack-sdk's WebhookClient to a
webhook receiver on loopback, which stamps the arrival. Reported per round: seconds from the flip
to the message's arrival (goal: < 60 s), and to the violation being first seen.

    PYTHONPATH=. .venv/bin/python benchmarks/live_alert.py [--rounds 3] [--flip-s 15] [--rate 100]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from perf_tasks.alerts.slack import webhook_sender
from perf_tasks.config import load_config
from perf_tasks.load.journey import JourneySpec, StepSpec
from perf_tasks.load.live import LiveMonitor, LiveSettings
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.runner import run_plan

REPO = Path(__file__).resolve().parents[1]


class _Service(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    flip_at = float("inf")

    def do_GET(self) -> None:  # noqa: N802
        code = 500 if time.time() >= type(self).flip_at else 200
        body = b"{}"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Webhook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[tuple[float, dict]] = []

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length", 0))
        type(self).received.append((time.time(), json.loads(self.rfile.read(n))))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_round(flip_s: float, rate: float, duration_s: float) -> dict[str, float]:
    cfg = load_config(REPO / "config").alerts.live
    service, hook = _serve(_Service), _serve(_Webhook)
    _Webhook.received = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            live = LiveSettings(f"{tmp}/shard-0.json", f"{tmp}/abort", cfg.window_s, cfg.every_s)
            send = webhook_sender(f"http://127.0.0.1:{hook.server_port}/services/T/B/x")
            seen: list[float] = []

            def on_alert(alert) -> None:
                seen.append(alert.started_unix)
                send({"text": alert.text()})

            mon = LiveMonitor("flip", [Path(live.path)], Path(live.abort_path), p95_target_ms=200.0,
                              max_error_rate_pct=5.0, window_s=cfg.window_s, hold_s=cfg.hold_s, every_s=cfg.every_s,
                              abort=True, on_alert=on_alert)
            plan = LoadPlan(scenario="flip", target_url=f"http://127.0.0.1:{service.server_port}", journey_name="j",
                            journey=JourneySpec(mode="sequence", steps=[StepSpec(name="get", path="/x")]),
                            duration_s=duration_s, users=50, rate_per_s=rate, arrival="poisson", live=live,
                            start_at_unix=time.time() + 1.0)
            _Service.flip_at = plan.start_at_unix + flip_s
            with mon:
                result = run_plan(plan)
        if not _Webhook.received:
            return {"delivered_s": float("nan"), "seen_s": float("nan"), "requests": result.requests}
        return {"delivered_s": _Webhook.received[0][0] - _Service.flip_at, "seen_s": seen[0] - _Service.flip_at,
                "requests": result.requests, "messages": len(_Webhook.received)}
    finally:
        service.shutdown()
        hook.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flip-s", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--duration-s", type=float, default=180.0, help="schedule length (the alert aborts it)")
    args = ap.parse_args(argv)
    cfg = load_config(REPO / "config").alerts.live
    print(f"live alerts: window {cfg.window_s:g} s, hold {cfg.hold_s:g} s, every {cfg.every_s:g} s; "
          f"service flips to 500 at {args.flip_s:g} s; open model {args.rate:g} req/s")
    delivered = []
    for i in range(args.rounds):
        r = one_round(args.flip_s, args.rate, args.duration_s)
        delivered.append(r["delivered_s"])
        print(f"round {i + 1}: violation seen {r['seen_s']:.1f} s after the flip, alert delivered "
              f"{r['delivered_s']:.1f} s after it ({r.get('messages', 0)} message(s), {r['requests']} requests)")
        sys.stdout.flush()
    med = statistics.median(delivered)
    print(f"median time from violation to delivered alert: {med:.1f} s (goal < 60 s): {'MET' if med < 60 else 'NOT MET'}")
    return 0 if med < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
