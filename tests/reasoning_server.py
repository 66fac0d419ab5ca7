"""A tiny OpenAI-style server on 127.0.0.1 that answers as today's reasoning models do.

It thinks before it answers, one "token" a word: the thinking names a wrong room first (so a
scorer that read the thinking would get it wrong), then the answer is the context's last word.
``style`` says where the thinking goes: ``field`` (a ``reasoning_content`` field beside the
answer), ``inline`` (``<think>…</think>`` before the answer in the content), ``plain`` (none).
``refuse`` lists what it answers with a 400 as the providers' reasoning models do:
``max_tokens`` (it takes ``max_completion_tokens``) and ``temperature`` (only the default).
When the budget runs out before the answer, the reply is cut (``finish_reason: length``).
``chat_template_kwargs: {"enable_thinking": false}`` turns the thinking off.
"""

from __future__ import annotations

import json
import threading

from tests.local_server import LocalServer, QuietHandler

THINKING = "The question asks where Mary is. She was in the office before, then she moved, so"


class ReasoningServer(LocalServer):
    def __init__(self, style: str = "field", refuse: tuple[str, ...] = (), null_content_when_cut: bool = False) -> None:
        self.style = style
        self.refuse = refuse
        self.null_content_when_cut = null_content_when_cut
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def refusal(self, body: dict) -> str | None:
        """The 400 text a reasoning model's provider sends for this body, if any."""
        if "max_tokens" in self.refuse and "max_tokens" in body:
            return ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.")
        if "temperature" in self.refuse and body.get("temperature", 1) != 1:
            return (f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
                    "Only the default (1) value is supported.")
        return None

    def reply(self, body: dict) -> dict:
        """The choice for one request: thinking, then the answer, as far as the budget reaches."""
        question = body["messages"][-1]["content"]
        answer = question.rsplit("</context>", 1)[0].rstrip().rsplit(" ", 1)[-1].strip(".")
        budget = body.get("max_completion_tokens", body.get("max_tokens", 10_000))
        thinking_on = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True) and self.style != "plain"
        thought = THINKING.split() if thinking_on else []
        if len(thought) + 1 > budget:  # the budget ends inside the thinking: no answer
            thinking, content, finish = " ".join(thought[:budget]), "", "length"
        else:
            thinking, content, finish = " ".join(thought), answer, "stop"
        message: dict = {"role": "assistant"}
        if self.style == "inline" and thinking_on:
            message["content"] = f"<think>\n{thinking}\n</think>\n\n{content}" if finish == "stop" else f"<think>\n{thinking}"
        else:
            message["content"] = None if (finish == "length" and self.null_content_when_cut) else content
            if thinking_on:
                message["reasoning_content"] = thinking
        used = min(budget, len(thought) + 1)
        return {"choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": len(question.split()), "completion_tokens": used}}

    def _handler(self):
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._send(200, {"data": [{"id": "thinker"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests.append(body)
                refusal = owner.refusal(body)
                if refusal:
                    self._send(400, {"error": {"message": refusal, "type": "invalid_request_error"}})
                else:
                    self._send(200, owner.reply(body))

            def _send(self, status: int, content: dict) -> None:
                data = json.dumps(content).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
