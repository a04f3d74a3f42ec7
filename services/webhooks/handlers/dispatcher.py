"""Sending deliveries: one replica at a time (the leader, sotay/kit/leader.py) runs one worker
per enabled endpoint. A worker sends its endpoint's next pending delivery, one at a time (so
an endpoint gets each stream's events in stream order, the two streams interleaved as they
were queued; store.head), and:

- on a 2xx answer marks it delivered and forgets the event's bytes;
- otherwise (another status, a timeout, a refused address, a redirect) counts the try and waits
  retry_delay (exponential, with jitter; a Retry-After up to the longest wait is honoured);
- after SOTAY_WEBHOOK_MAX_ATTEMPTS tries publishes the event to SOTAY_DLQ
  (`sotay.dlq.webhooks-deliver`, with the reason, endpoint and delivery in its headers), then
  marks the delivery failed; the next one follows. The operator may send it again (retry).

Workers are independent: a slow or dead endpoint holds up only its own queue. Delivery is at
least once (a replica dying between the answer and the commit sends again): receivers dedupe by
the CloudEvent `id`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.adapters import store
from services.webhooks.adapters.sender import Sender, policy_from_settings
from services.webhooks.domain import retry_delay
from services.webhooks.handlers.endpoints import secret_context
from sotay.kit.consumer import error_text
from sotay.kit.keys import MissingKey, unseal, webhooks_kek
from sotay.kit.leader import Leader
from sotay.kit.streams import dlq_subject

log = logging.getLogger("sotay.webhooks")

DLQ_CONSUMER = "webhooks-deliver"  # the dead letters' consumer name (sotay.dlq.webhooks-deliver)


class Dispatcher:
    def __init__(self) -> None:
        self.task: asyncio.Task | None = None
        self.sender: Sender | None = None
        self.workers: dict[uuid.UUID, tuple[tuple, asyncio.Task]] = {}

    async def start(self, ctx) -> None:
        self.ctx, self.settings = ctx, ctx.settings
        self.kek = webhooks_kek(ctx.settings)
        self.sender = Sender(policy_from_settings(ctx.settings), ctx.settings.webhook_timeout_s)
        self.leader = Leader("webhooks:dispatch", ctx.engine.connect, wait_s=1.0)
        self.task = asyncio.create_task(self.leader.run(self._supervise), name="webhooks-dispatch")

    async def stop(self, ctx) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.sender is not None:
            await self.sender.close()

    async def _supervise(self, conn: AsyncConnection) -> None:
        """While this replica leads: a worker per enabled endpoint, started, restarted on a change
        of its URL or mode, stopped when the endpoint is disabled."""
        try:
            while True:
                endpoints = await store.enabled_endpoints(conn)
                await conn.rollback()  # no snapshot held between rounds
                wanted = {e["id"]: e for e in endpoints}
                for endpoint_id in list(self.workers):
                    config, task = self.workers[endpoint_id]
                    endpoint = wanted.get(endpoint_id)
                    if endpoint is None or self._config(endpoint) != config or task.done():
                        task.cancel()
                        del self.workers[endpoint_id]
                for endpoint_id, endpoint in wanted.items():
                    if endpoint_id not in self.workers:
                        task = asyncio.create_task(self._work(endpoint), name=f"webhook-{endpoint_id}")
                        self.workers[endpoint_id] = (self._config(endpoint), task)
                await asyncio.sleep(max(self.settings.webhook_poll_s, 0.2) * 2)
        finally:
            tasks = [task for _, task in self.workers.values()]
            self.workers.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _config(endpoint: dict[str, Any]) -> tuple:
        return endpoint["url"], endpoint["mode"], bytes(endpoint["secret_sealed"])

    async def _work(self, endpoint: dict[str, Any]) -> None:
        endpoint_id = endpoint["id"]
        try:
            secret = unseal(self.kek, bytes(endpoint["secret_sealed"]), context=secret_context(endpoint_id)).decode()
        except MissingKey as exc:  # another SOTAY_WEBHOOKS_KEK than the one it was sealed with
            log.error("webhook endpoint %s: its secret cannot be opened (%s); nothing is sent to it", endpoint_id, exc)
            await asyncio.sleep(60)
            return
        poll = self.settings.webhook_poll_s
        pause = 0.0
        while True:
            try:
                async with self.ctx.engine.connect() as db:
                    head = await store.head(db, endpoint_id)
                if head is None:
                    await asyncio.sleep(poll)
                    continue
                wait = (head["next_attempt_at"] - head["now"]) / timedelta(seconds=1)
                if wait > 0:
                    # Looked at again soon: an operator's retry may put an older one in front.
                    await asyncio.sleep(min(wait, poll * 4))
                    continue
                await self._deliver(endpoint, secret, head)
                pause = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or NATS away: this endpoint waits, the others go on
                pause = min(max(pause * 2, 0.5), 10.0)
                log.warning("webhook endpoint %s: %s; again in %.1f s", endpoint_id, error_text(exc), pause)
                await asyncio.sleep(pause)

    async def _deliver(self, endpoint: dict[str, Any], secret: str, head: dict[str, Any]) -> None:
        attempt = head["attempts"] + 1
        result = await self.sender.send(url=endpoint["url"], mode=endpoint["mode"], secret=secret,
                                        published=bytes(head["body"]), delivery_id=head["id"], attempt=attempt,
                                        endpoint_id=str(endpoint["id"]), traceparent=head["traceparent"])
        if result.ok:
            async with self.ctx.engine.begin() as db:
                await store.delivered(db, head["id"], result.status_code)
            log.info("webhook delivery %s (event %s) to endpoint %s: delivered on try %d", head["id"],
                     head["event_id"], endpoint["id"], attempt)
            return
        if attempt >= self.settings.webhook_max_attempts:
            reason = f"webhook endpoint {endpoint['id']} failed {attempt} tries; last: {result.error}"
            await self._dead_letter(endpoint, head, reason, attempt)
            async with self.ctx.engine.begin() as db:
                await store.gave_up(db, head["id"], status_code=result.status_code, error=result.error)
            log.error("webhook delivery %s (event %s) to endpoint %s: dead-lettered after %d tries: %s", head["id"],
                      head["event_id"], endpoint["id"], attempt, result.error)
            return
        wait = retry_delay(attempt, base_s=self.settings.webhook_retry_base_s, max_s=self.settings.webhook_retry_max_s)
        if result.retry_after_s is not None:
            wait = max(wait, min(result.retry_after_s, self.settings.webhook_retry_max_s))
        async with self.ctx.engine.begin() as db:
            await store.attempt_failed(db, head["id"], status_code=result.status_code, error=result.error,
                                       retry_in_s=wait)
        log.warning("webhook delivery %s to endpoint %s: try %d failed (%s); again in %.1f s", head["id"],
                    endpoint["id"], attempt, result.error, wait)

    async def _dead_letter(self, endpoint: dict[str, Any], head: dict[str, Any], reason: str, attempts: int) -> None:
        """The event, as published, to SOTAY_DLQ with why (the kit's dead-letter headers,
        consumer.py), before the row is marked failed: a crash between the two sends once more and
        publishes again, which the stream drops as a duplicate (same Nats-Msg-Id)."""
        headers = {
            "Nats-Msg-Id": f"dlq:{DLQ_CONSUMER}:{head['id']}:{head['event_id']}:{attempts}",
            "Sotay-Dlq-Original-Msg-Id": str(head["event_id"]),
            "Sotay-Dlq-Reason": reason[:2000],
            "Sotay-Dlq-Consumer": DLQ_CONSUMER,
            "Sotay-Dlq-Subject": head["subject"],
            "Sotay-Dlq-Stream-Seq": str(head["stream_seq"]),
            "Sotay-Dlq-Deliveries": str(attempts),
            "Sotay-Webhook-Endpoint": str(endpoint["id"]),
            "Sotay-Webhook-Delivery": str(head["id"]),
        }
        await self.ctx.js.publish(dlq_subject(DLQ_CONSUMER), bytes(head["body"]), headers=headers, timeout=10)

