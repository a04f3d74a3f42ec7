"""A client's POST as the design asks clients to make it: one Idempotency-Key,
the same request again with it until it gets a final answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import httpx


class Tally(Protocol):
    attempts: int
    retries: int
    failures: list[str]  # requests that got a final answer other than success, or none in time


async def post_until_answered(client: httpx.AsyncClient, base: Callable[[], str], path: str, *, ok: int,
                              tally: Tally, headers: dict[str, str], give_up_after: float = 90,
                              **request: Any) -> dict | None:
    """POST `path` to `base()` (asked again for each attempt: the next replica) with one
    Idempotency-Key, again with it on a dead connection, a 5xx or a 409 "in progress".
    The answer's body once `ok`; None (recorded in `tally.failures`) on any other answer."""
    key = str(uuid.uuid4())
    deadline = time.monotonic() + give_up_after
    while True:
        tally.attempts += 1
        try:
            answer = await client.post(f"{base()}{path}", headers={**headers, "Idempotency-Key": key}, **request)
        except httpx.TransportError as exc:
            reason = repr(exc)
        else:
            if answer.status_code == ok:
                return answer.json()
            in_progress = answer.status_code == 409 and "progress" in answer.text
            if answer.status_code < 500 and not in_progress:
                tally.failures.append(f"POST {path}: {answer.status_code} {answer.text[:300]}")
                return None
            reason = f"{answer.status_code} {answer.text[:200]}"
        if time.monotonic() > deadline:
            tally.failures.append(f"POST {path}: gave up after {give_up_after} s: {reason}")
            return None
        tally.retries += 1
        await asyncio.sleep(0.3)
