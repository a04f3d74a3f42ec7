"""A JetStream set-up step that times out is tried again, a few times only."""

import pytest

from sotay.kit import service


async def test_a_step_that_times_out_is_tried_again_until_it_answers(monkeypatch):
    slept = []

    async def no_sleep(seconds):
        slept.append(seconds)
    monkeypatch.setattr(service.asyncio, "sleep", no_sleep)
    calls = []

    async def step():
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("nats: timeout")
    await service.patiently("streams", step)
    assert len(calls) == 3 and slept == [1, 2]


async def test_a_step_that_keeps_timing_out_fails_and_other_errors_are_not_retried(monkeypatch):
    async def no_sleep(seconds):
        pass
    monkeypatch.setattr(service.asyncio, "sleep", no_sleep)
    calls = []

    async def timing_out():
        calls.append(1)
        raise TimeoutError("nats: timeout")
    with pytest.raises(TimeoutError):
        await service.patiently("streams", timing_out, attempts=4)
    assert len(calls) == 4

    async def refused():
        calls.append(2)
        raise PermissionError("refused")
    with pytest.raises(PermissionError):
        await service.patiently("streams", refused)
    assert calls.count(2) == 1
