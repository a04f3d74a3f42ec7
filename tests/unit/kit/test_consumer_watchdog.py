"""A fetch that never returns does not stop a replica consuming: past its timeout and a grace,
the runner gives the subscription up and binds a new one (which then delivers)."""

import asyncio

from sotay.kit import consumer as kit_consumer
from sotay.kit.consumer import Consumer, ConsumerRunner


class Hanging:
    """A pull subscription whose fetch never answers (what a replica that stopped pulling had)."""

    def __init__(self) -> None:
        self.unsubscribed = False

    async def fetch(self, batch, timeout):
        await asyncio.Event().wait()

    async def unsubscribe(self):
        self.unsubscribed = True


class Answering(Hanging):
    def __init__(self, fetched: asyncio.Event) -> None:
        super().__init__()
        self.fetched = fetched

    async def fetch(self, batch, timeout):
        self.fetched.set()
        await asyncio.sleep(timeout)
        return []


class JetStream:
    def __init__(self, fetched: asyncio.Event) -> None:
        self.subscriptions = [Hanging(), Answering(fetched)]
        self.bound = 0

    async def pull_subscribe_bind(self, durable, stream):
        self.bound += 1
        return self.subscriptions[min(self.bound, len(self.subscriptions)) - 1]


async def test_a_fetch_that_never_returns_is_given_up_and_the_subscription_bound_again(monkeypatch):
    monkeypatch.setattr(kit_consumer, "FETCH_GRACE_S", 0.2)
    real_sleep = asyncio.sleep
    monkeypatch.setattr(kit_consumer.asyncio, "sleep", lambda s: real_sleep(min(s, 0.05)))
    fetched = asyncio.Event()
    js = JetStream(fetched)
    runner = ConsumerRunner(Consumer("probe-stuck", "SOTAY_PROBE", "sotay.probe.>"), engine=None, js=js,
                            max_deliver=3, nack_delay=0.1, fetch_timeout=0.1)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(fetched.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert js.bound == 2 and js.subscriptions[0].unsubscribed
