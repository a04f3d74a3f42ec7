"""The JetStream streams of DESIGN.md, created or updated at start-up."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError

from sotay.publishing import server_has_atomic_batches

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


def stream_config(name: str, *, replicas: int, duplicate_window_s: float, atomic: bool = False) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=[STREAMS[name]],
        retention=RetentionPolicy.LIMITS,  # kept for replay
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=duplicate_window_s,
        # Atomic batches let a relay publish a run of rows with one acknowledgement (publishing.py).
        allow_atomic=True if atomic else None,
    )


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1, duplicate_window_s: float = 900.0) -> None:
    atomic = server_has_atomic_batches(js._nc)
    for name in STREAMS:
        config = stream_config(name, replicas=replicas, duplicate_window_s=duplicate_window_s, atomic=atomic)
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig, *, atomic: bool = False):
    """The key-value bucket, created if new; with `atomic`, its stream takes atomic
    batches of puts (publishing.py). An existing bucket keeps its other settings."""
    try:
        kv = await js.key_value(config.bucket)
    except BucketNotFoundError:
        kv = await js.create_key_value(config)
    if atomic and server_has_atomic_batches(js._nc):
        stream = (await js.stream_info(f"KV_{config.bucket}")).config
        if not stream.allow_atomic:
            stream.allow_atomic = True
            await js.update_stream(stream)
    return kv
