"""Server-sent event streams: how many may be open, and a response that lets
its resources go however it ends."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from fastapi.responses import StreamingResponse

from sotay.kit.http import Problem


class StreamSlots:
    """Open rollout streams, per account and in all (per process): each holds a connection and a
    NATS subscription for as long as a dashboard stays open, so one account opening streams in a
    loop, or a crowd of them, must not take them all. Over the account's cap: 429; over the
    process's: 503 (another replica may have room); both with Retry-After."""

    RETRY_AFTER_S = 30

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self.open: Counter[str] = Counter()

    def take(self, who: str) -> None:
        if self.open[who] >= self.per_user:
            raise Problem(429, "Too many streams", f"At most {self.per_user} rollout streams per account are open at "
                          "once: close another dashboard first.", retry_after=self.RETRY_AFTER_S)
        if self.open.total() >= self.total:
            raise Problem(503, "Too many streams", "The service has as many rollout streams open as it serves: "
                          "try again shortly.", retry_after=self.RETRY_AFTER_S)
        self.open[who] += 1

    def give_back(self, who: str) -> None:
        self.open[who] -= 1
        if self.open[who] <= 0:
            del self.open[who]


class ClosingStream(StreamingResponse):
    """A streaming response that runs `on_close` once it is over, however it ends (finished, the
    client gone, the server stopping), even if its body was never started."""

    def __init__(self, content, on_close: Callable[[], Awaitable[None]], **kw) -> None:
        super().__init__(content, **kw)
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.on_close()
