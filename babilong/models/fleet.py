"""Several servers of one model, each with its own request slots and health.

Many labs serve a model as a set of vLLM or SGLang servers with no load balancer in front.
A request takes a slot on the least loaded server that is not resting; a server whose
requests keep failing (no connection, timeouts, 5xx) is rested for a while, doubling while it
keeps failing, and its requests go to the others. Only when every server rests at once does
a request wait (and, past its retries, fail).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

MAX_REST = 300.0  # seconds: the longest a failing server is rested before it is tried again


class AllResting(Exception):
    """Every server is resting; ``retry_after`` is when the first one may be tried again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Server:
    """One server of the fleet and how it is doing."""

    url: str
    concurrency: int
    client: Any = None  # its httpx.AsyncClient
    in_flight: int = 0
    failures: int = 0  # requests that failed here in a row
    rests: int = 0  # rests in a row (each twice the one before)
    rested_until: float = 0.0  # loop time
    paused_until: float = 0.0  # loop time the server asked to be left alone until (Retry-After)

    def ready(self, now: float) -> bool:
        return self.rested_until <= now and self.in_flight < self.concurrency


class Fleet:
    """Slots and health of the servers; used on one event loop."""

    def __init__(self, servers: list[Server], max_failures: int, rest: float) -> None:
        self.servers = servers
        self.max_failures = max_failures
        self.rest = rest
        self._changed = asyncio.Condition()

    @property
    def concurrency(self) -> int:
        return sum(server.concurrency for server in self.servers)

    def describe(self) -> str:
        if len(self.servers) == 1:
            return f"the server at {self.servers[0].url}"
        return f"the {len(self.servers)} servers at {', '.join(server.url for server in self.servers)}"

    async def take(self) -> Server:
        """A slot on the least loaded server that is not resting (waiting for one to free up)."""
        loop = asyncio.get_running_loop()
        async with self._changed:
            while True:
                now = loop.time()
                ready = [server for server in self.servers if server.ready(now)]
                if ready:
                    server = min(ready, key=lambda s: s.in_flight / s.concurrency)
                    server.in_flight += 1
                    return server
                resting = [server.rested_until - now for server in self.servers if server.rested_until > now]
                if len(resting) == len(self.servers):
                    raise AllResting(f"{self.describe()} all failed and are resting", min(resting))
                try:
                    await asyncio.wait_for(self._changed.wait(), min(resting) if resting else None)
                except asyncio.TimeoutError:
                    pass  # a rest ended: look again

    async def give_back(self, server: Server, failed: bool | None) -> None:
        """Free a slot; ``failed``: the server failed this request (True), answered (False), or neither (None)."""
        async with self._changed:
            server.in_flight -= 1
            if failed is True:
                self._failed(server)
            elif failed is False:
                server.failures = server.rests = 0
            self._changed.notify_all()

    def _failed(self, server: Server) -> None:
        server.failures += 1
        if server.failures >= self.max_failures and len(self.servers) > 1:
            server.rested_until = asyncio.get_running_loop().time() + min(self.rest * 2 ** server.rests, MAX_REST)
            server.rests += 1
            server.failures = 0

    def rest_now(self, server: Server) -> None:
        """Rest a server that could not be reached at the start."""
        server.rested_until = asyncio.get_running_loop().time() + self.rest
        server.rests += 1
