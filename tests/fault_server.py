"""A tiny OpenAI-style server on 127.0.0.1 that misbehaves on request, for the client's error paths.

``plan`` is a list of behaviours consumed one per chat request (the last one repeats):
"ok", "429", "500", "400", "slow" (sleeps past the client's timeout), "garbage" (not JSON),
"empty" (JSON without choices), "drip" (a good answer sent one byte every ``drip_seconds``),
"hang" (never answers, as a frozen server), "retry-after" (429 asking for ``retry_after``
seconds' wait), "echo-key-500" / "echo-key-401" (an error whose text repeats the API key in
several forms, one of them across the client's 200-character cut), "echo-key-variants-401" (an
error repeating the key upper-cased and without its first and last three characters),
"key-in-answer" (a normal answer whose text repeats the key in those forms and as sent), "huge"
(an answer of about 1 MB, as from a server that ignores ``max_tokens``).
"""

from __future__ import annotations

import base64
import json
import threading
import time

from tests.local_server import LocalServer, QuietHandler


class FaultServer(LocalServer):
    def __init__(self, plan: list[str], slow_seconds: float = 1.0, drip_seconds: float = 0.05,
                 retry_after: str = "1") -> None:
        self.plan = list(plan)
        self.slow_seconds = slow_seconds
        self.drip_seconds = drip_seconds
        self.retry_after = retry_after
        self.stopped = threading.Event()
        self.requests: list[dict] = []
        self.times: list[float] = []  # when each chat request arrived (time.monotonic)
        self.headers: list[dict] = []
        self.in_flight = 0
        self.peak = 0  # most requests handled at once
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def stop(self) -> None:
        self.stopped.set()  # drip replies stop between bytes
        super().stop()

    def next_behaviour(self, body: dict, headers: dict) -> str:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.times.append(time.monotonic())
            return self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]

    def _handler(self):
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._send(200, json.dumps({"data": [{"id": "fake"}]}))

            def do_POST(self) -> None:
                with owner._lock:
                    owner.in_flight += 1
                    owner.peak = max(owner.peak, owner.in_flight)
                self.counted = True
                try:
                    self._answer()
                finally:
                    self._done()

            def _done(self) -> None:
                """Leave the in-flight count once, before the reply goes out: a client that has its
                answer may send its next request at once, and must not be counted twice."""
                if getattr(self, "counted", False):
                    self.counted = False
                    with owner._lock:
                        owner.in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                behaviour = owner.next_behaviour(body, dict(self.headers))
                if behaviour == "slow":
                    time.sleep(owner.slow_seconds)
                    behaviour = "ok"
                if behaviour == "hang":
                    owner.stopped.wait(60)
                    return
                if behaviour == "retry-after":
                    self._send(429, json.dumps({"error": "slow down"}), {"Retry-After": owner.retry_after})
                elif behaviour == "echo-key-variants-401":
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    self._send(401, json.dumps({"error": f"key {key.upper()} refused; did you mean {key[3:-3]}?"}))
                elif behaviour.startswith("echo-key-"):
                    self._send(int(behaviour.removeprefix("echo-key-")), self._echo_key())
                elif behaviour in ("429", "500", "400"):
                    self._send(int(behaviour), json.dumps({"error": behaviour}))
                elif behaviour == "garbage":
                    self._send(200, "<html>not json")
                elif behaviour == "empty":
                    self._send(200, json.dumps({"choices": []}))
                else:
                    question = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                    answer = question.rsplit("</context>", 1)[0].rstrip().rsplit(" ", 1)[-1].strip(".")
                    if behaviour == "huge":
                        answer = f"{answer} " + "and so on " * 100_000
                    if behaviour == "key-in-answer":
                        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                        answer = f"{answer}. Your key: {key}, {key.upper()}, {key[3:-3]}."
                    message = {"message": {"role": "assistant", "content": answer}} if "messages" in body else {"text": answer}
                    usage = {"prompt_tokens": len(question.split()), "completion_tokens": 1}
                    text = json.dumps({"choices": [message], "usage": usage})
                    self._send(200, text, drip=behaviour == "drip")

            def _echo_key(self) -> str:
                """An error text that repeats the key raw (split by a 200-character cut), URL-encoded,
                JSON-escaped, in base64 and cut short at the end, as careless servers do."""
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                from urllib.parse import quote

                encoded = base64.b64encode(key.encode()).decode()
                head = "invalid key: ".ljust(200 - len(key) // 2, ".")
                return (f"{head}{key} url={quote(key, safe='')} json={json.dumps(key)} b64={encoded} "
                        f"{'x' * 20} your key begins {key[:-3]}")

            def _send(self, status: int, text: str, extra: dict | None = None, drip: bool = False) -> None:
                data = text.encode()
                self._done()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (extra or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    if not drip:
                        self.wfile.write(data)
                        return
                    for byte in data:  # each read gets a byte well within any per-read timeout
                        if owner.stopped.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(owner.drip_seconds)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        return Handler
