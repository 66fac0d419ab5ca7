"""Requests in flight against a served model with a fixed delay, at 1M-token samples.

Runs the real ``babilong eval --model openai`` command against a local OpenAI-style server
that answers every request after ``--delay`` seconds, and counts at the server how many
requests it holds over time. With ``--baseline CHECKOUT`` the same command runs from another
checkout (e.g. the commit before a change) in the same session, for a side-by-side figure.

    git worktree add /tmp/old <commit before the change>
    PYTHONPATH=$PWD python benchmarks/bench_inflight.py --samples 48 --workers 2 --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class DelayServer:
    """Answers each chat request with the context's last word after a fixed delay; logs in-flight counts."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.changes: list[tuple[float, int]] = []  # (monotonic time, requests held after the change)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _change(self, step: int) -> None:
        with self.lock:
            self.in_flight += step
            self.changes.append((time.monotonic(), self.in_flight))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(json.dumps({"data": [{"id": "delay"}]}))

            def do_POST(self) -> None:
                owner._change(+1)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(owner.delay)
                text = body["messages"][-1]["content"]
                answer = text.rsplit("</context>", 1)[0].rstrip().rsplit(" ", 1)[-1].strip(".")
                owner._change(-1)
                self._send(json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}))

            def _send(self, text: str) -> None:
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_eval(checkout: Path, server: DelayServer, args: argparse.Namespace, output: Path,
             extra: tuple[str, ...] = ()) -> dict[str, float]:
    """One real eval from ``checkout``; throughput and the in-flight profile seen by the server."""
    server.changes.clear()
    model_args = f"model=delay,base_url={server.url},concurrency={args.concurrency},timeout=600,api_key=none"
    command = [sys.executable, "-m", "babilong", "eval", "--model", "openai", "--model-args", model_args,
               "--tasks", "qa1", "--lengths", args.length, "--samples", str(args.samples), "--output", str(output),
               "--no-progress", *extra]
    began = time.monotonic()
    # run from the checkout itself: `python -m` puts the working folder first on the path
    finished = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout,
                              capture_output=True, text=True)
    seconds = time.monotonic() - began
    if finished.returncode != 0:
        raise SystemExit(f"eval from {checkout} failed: {finished.stderr.strip().splitlines()[-1:]}")
    return {"seconds": seconds, "samples_per_s": args.samples / seconds, **profile(server.changes)}


def profile(changes: list[tuple[float, int]]) -> dict[str, float]:
    """Peak and time-weighted mean of requests held, from the first arrival to the last answer."""
    if not changes:
        return {"peak": 0, "mean": 0.0, "timeline": []}
    start, end = changes[0][0], changes[-1][0]
    weighted = sum((later[0] - now[0]) * now[1] for now, later in zip(changes, changes[1:]))
    seconds = max(end - start, 1e-9)
    timeline, step = [], max(seconds / 12, 0.5)  # the mean held in each of about 12 slices
    for slice_start in [start + i * step for i in range(int(seconds / step) + 1)]:
        held = [count for at, count in changes if slice_start <= at < slice_start + step]
        timeline.append(round(sum(held) / len(held), 1) if held else 0)
    return {"peak": max(count for _, count in changes), "mean": weighted / seconds, "timeline": timeline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--length", default="1M")
    parser.add_argument("--delay", type=float, default=6.0, help="seconds the server takes per answer")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline", type=Path, help="another checkout to run the same command from")
    parser.add_argument("--workers", type=int, default=0, help="also run this checkout with --workers N sample builders")
    args = parser.parse_args()
    server = DelayServer(args.delay)
    print(f"{args.samples} qa1 samples at {args.length}, server delay {args.delay:g} s, concurrency {args.concurrency}")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = [("this checkout", run_eval(ROOT, server, args, Path(scratch) / "new"))]
            if args.workers:
                rows.append((f"this checkout, --workers {args.workers}",
                             run_eval(ROOT, server, args, Path(scratch) / "workers", ("--workers", str(args.workers)))))
            if args.baseline:
                rows.append((f"baseline {args.baseline}", run_eval(args.baseline.resolve(), server, args, Path(scratch) / "old")))
    finally:
        server.close()
    for name, row in rows:
        print(f"{name}: {row['seconds']:.1f} s, {row['samples_per_s']:.2f} samples/s, requests in flight: "
              f"peak {row['peak']}, mean {row['mean']:.1f}; over time {row['timeline']}")
    if args.baseline:
        base = rows[-1][1]["samples_per_s"]
        for name, row in rows[:-1]:
            print(f"samples/s ratio ({name} / baseline): {row['samples_per_s'] / base:.2f}x")


if __name__ == "__main__":
    main()
