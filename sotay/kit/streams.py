"""The JetStream streams of DESIGN.md, created or updated at start-up (or by
`sotay migrate`), the key-value buckets and the district systems' consumers."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

from sotay.kit.auth import JWKS_BUCKET, REVOKED_BUCKET

STREAMS = {
    "SOTAY_MEMBERS": "sotay.members.>",
    "SOTAY_IDENTITY": "sotay.identity.>",
    "SOTAY_CONTENT": "sotay.content.>",
    "SOTAY_METRICS": "sotay.metrics.>",
    "SOTAY_DLQ": "sotay.dlq.>",
}
DLQ_STREAM = "SOTAY_DLQ"
ROLLOUT_BUCKET = "sotay_rollout"  # the latest RolloutSnapshot figures per unit, put by metrics
MEMBER_KEYS_BUCKET = "sotay_member_keys"  # each member's event key, put and destroyed by members


def dlq_subject(consumer: str | None = None) -> str:
    """Where a consumer's dead letters go (consumer.py); without one, all of them."""
    return f"sotay.dlq.{consumer}" if consumer else STREAMS[DLQ_STREAM]


# The key-value buckets, one configuration each, for the service that uses it and for
# `sotay migrate` (ensure_buckets), so either may create it first.
def jwks_bucket(replicas: int = 1) -> KeyValueConfig:
    return KeyValueConfig(bucket=JWKS_BUCKET, history=5, replicas=replicas)


def revoked_bucket(ttl_s: float, replicas: int = 1) -> KeyValueConfig:
    return KeyValueConfig(bucket=REVOKED_BUCKET, history=1, ttl=ttl_s, replicas=replicas)


def member_keys_bucket(replicas: int = 1) -> KeyValueConfig:
    """Each member's event key (sotay/kit/member_keys.py); direct gets, so a replica reads one key
    in one request from any server of a cluster."""
    return KeyValueConfig(bucket=MEMBER_KEYS_BUCKET, history=1, replicas=replicas, storage=StorageType.FILE,
                          direct=True)


def rollout_bucket(replicas: int = 1) -> KeyValueConfig:
    return KeyValueConfig(bucket=ROLLOUT_BUCKET, history=1, replicas=replicas)


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


async def ensure_streams(js: JetStreamContext, *, atomic: bool, replicas: int = 1,
                         duplicate_window_s: float = 900.0) -> None:
    """The event streams, created or brought to this configuration; `atomic`: the server takes
    atomic batches (publishing.server_has_atomic_batches), which the streams then allow."""
    for name in STREAMS:
        config = stream_config(name, replicas=replicas, duplicate_window_s=duplicate_window_s, atomic=atomic)
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig, *, atomic: bool = False, update: bool = True):
    """The key-value bucket, created if new; with `atomic` (the server takes them), its stream
    takes atomic batches of puts (publishing.py). An existing bucket takes the configured time to live (a new
    release may keep entries longer) unless `update` is false (a service that may not
    change streams: `sotay migrate` does it); its other settings stay."""
    try:
        kv = await js.key_value(config.bucket)
    except BucketNotFoundError:
        kv = await js.create_key_value(config)
    if not update:
        return kv
    stream = (await js.stream_info(f"KV_{config.bucket}")).config
    changed = False
    if (stream.max_age or None) != (config.ttl or None):
        stream.max_age, changed = config.ttl, True
    if atomic and not stream.allow_atomic:
        stream.allow_atomic, changed = True, True
    if changed:
        await js.update_stream(stream)
    return kv


async def latest_value(js: JetStreamContext, bucket: str, key: str, timeout: float = 5.0) -> bytes | None:
    """The bucket's current value under `key`, or None, read through a watch: what every service's
    NATS user may do (a direct get needs a permission none of them has, deploy/nats/auth.conf)."""
    watcher = await (await js.key_value(bucket)).watch(key)
    try:
        entry = await watcher.updates(timeout)  # the latest entry, or None when there is none
        return entry.value if entry is not None else None
    finally:
        await watcher.stop()


async def ensure_buckets(js: JetStreamContext, *, atomic: bool, replicas: int = 1, revoked_ttl_s: float) -> None:
    """The buckets of identity (sotay_jwks, sotay_revoked), members (sotay_member_keys) and metrics
    (sotay_rollout), as those services create them when they set up themselves."""
    for config in (jwks_bucket(replicas), revoked_bucket(revoked_ttl_s, replicas), member_keys_bucket(replicas)):
        await ensure_bucket(js, config)
    await ensure_bucket(js, rollout_bucket(replicas), atomic=atomic)


def district_consumer(code: str) -> str:
    """The durable consumer, on each event stream, of the outside system of committee `code`."""
    return f"district-{code}"


def district_consumer_config(stream: str, code: str, *, ack_wait: float) -> ConsumerConfig:
    service = STREAMS[stream].split(".")[1]
    return ConsumerConfig(
        durable_name=district_consumer(code),
        # sotay.<service>.<event>.<committee>: that committee's events only.
        filter_subject=f"sotay.{service}.*.{code}",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=1000,
    )


async def ensure_district_consumers(js: JetStreamContext, codes: list[str], *, ack_wait: float = 30.0) -> None:
    """A durable pull consumer `district-<code>` on every event stream (not the dead letters) for
    each committee code; an existing one keeps where it is."""
    for code in codes:
        for stream in STREAMS:
            if stream == DLQ_STREAM:
                continue
            config = district_consumer_config(stream, code, ack_wait=ack_wait)
            try:
                existing = (await js.consumer_info(stream, config.durable_name)).config
            except NotFoundError:
                existing = None
            if existing is not None:
                config.deliver_policy, config.opt_start_seq = existing.deliver_policy, existing.opt_start_seq
                config.opt_start_time = existing.opt_start_time
            await js.add_consumer(stream, config)
