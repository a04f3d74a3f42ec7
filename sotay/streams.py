"""The JetStream streams of DESIGN.md, created or updated at start-up."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

STREAMS = {
    "SOTAY_MEMBERS": "sotay.members.>",
    "SOTAY_IDENTITY": "sotay.identity.>",
    "SOTAY_CONTENT": "sotay.content.>",
    "SOTAY_METRICS": "sotay.metrics.>",
    "SOTAY_DLQ": "sotay.dlq.>",
}
DLQ_STREAM = "SOTAY_DLQ"


def stream_for_service(service: str) -> str:
    return f"SOTAY_{service.upper()}"


def stream_config(name: str, *, replicas: int, duplicate_window_s: float) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=[STREAMS[name]],
        retention=RetentionPolicy.LIMITS,  # kept for replay
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=duplicate_window_s,
    )


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1, duplicate_window_s: float = 900.0) -> None:
    for name in STREAMS:
        config = stream_config(name, replicas=replicas, duplicate_window_s=duplicate_window_s)
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
