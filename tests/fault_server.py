"""A tiny OpenAI-style server on 127.0.0.1 that misbehaves on request, for the client's error paths.

``plan`` is a list of behaviours consumed one per chat request (the last one repeats):
"ok", "429", "500", "400", "slow" (sleeps past the client's timeout), "garbage" (not JSON),
"empty" (JSON without choices).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, plan: list[str], slow_seconds: float = 1.0) -> None:
        self.plan = list(plan)
        self.slow_seconds = slow_seconds
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.peak = 0  # most requests handled at once
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_behaviour(self, body: dict, headers: dict) -> str:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, json.dumps({"data": [{"id": "fake"}]}))

            def do_POST(self) -> None:
                with owner._lock:
                    owner.in_flight += 1
                    owner.peak = max(owner.peak, owner.in_flight)
                try:
                    self._answer()
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                behaviour = owner.next_behaviour(body, dict(self.headers))
                if behaviour == "slow":
                    time.sleep(owner.slow_seconds)
                    behaviour = "ok"
                if behaviour in ("429", "500", "400"):
                    self._send(int(behaviour), json.dumps({"error": behaviour}))
                elif behaviour == "garbage":
                    self._send(200, "<html>not json")
                elif behaviour == "empty":
                    self._send(200, json.dumps({"choices": []}))
                else:
                    question = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                    answer = question.rsplit("</context>", 1)[0].rstrip().rsplit(" ", 1)[-1].strip(".")
                    message = {"message": {"role": "assistant", "content": answer}} if "messages" in body else {"text": answer}
                    usage = {"prompt_tokens": len(question.split()), "completion_tokens": 1}
                    self._send(200, json.dumps({"choices": [message], "usage": usage}))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        return Handler
