"""`sotay backup` and `sotay restore`: one encrypted archive of the all-in-one system, taken while
it runs, and the system rebuilt from it into an empty data directory (docs/backup.md).

What the archive holds, in the order it is taken (the order is the consistency argument):

1. every event stream (`SOTAY_*`, with the dead letters), each with its durable consumers' state,
   through JetStream's snapshot API (sotay/kit/stream_backup.py);
2. the database, every schema in one `pg_dump` (one snapshot: one transaction);
3. the key-value buckets' streams (`KV_*`): after the dump, so that every member key a row of the
   dump needs is there (members puts a key before it commits the row), and a key destroyed since
   stays destroyed;
4. the keys of the data directory (`keys/`).

The archive is a tar, sealed with AES-256-GCM in chunks of 1 MiB under a key derived with scrypt
from a passphrase (SOTAY_BACKUP_PASSPHRASE or standard input): nothing in it is readable, nor can
it be cut short, reordered or changed unnoticed, without the passphrase.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sotay.kit.settings import Settings

FORMAT = 1
PASSPHRASE_VARIABLE = "SOTAY_BACKUP_PASSPHRASE"
MIN_PASSPHRASE = 12
DUMP = "postgres/sotay.dump"


class BackupError(RuntimeError):
    """What stops a backup or a restore, in a sentence for the operator."""


# --- the sealed archive ------------------------------------------------------------------------

_MAGIC = b"SOTAY-BACKUP\x00\x01"
_SCRYPT_LOG2N, _SCRYPT_R, _SCRYPT_P = 15, 8, 1
_CHUNK = 1024 * 1024
_HEADER = struct.Struct(f"{len(_MAGIC)}sBBB16s7s")  # magic, scrypt log2 n, r, p, salt, nonce prefix


def _derive(passphrase: str, salt: bytes, log2n: int, r: int, p: int) -> bytes:
    if log2n > 20 or r > 16 or p > 4:
        raise BackupError("the archive asks for a key derivation this version does not do")
    return Scrypt(salt=salt, length=32, n=1 << log2n, r=r, p=p).derive(passphrase.encode())


class SealedWriter(io.RawIOBase):
    """A file-like object that seals what is written to it into `out`: the header (key derivation
    and nonce prefix, bound to every chunk), then each 1 MiB chunk as its length and AES-256-GCM
    ciphertext; a chunk's nonce is the prefix, its number and whether it is the last, so a chunk
    dropped, moved or added, or an archive cut short, does not open."""

    def __init__(self, out: BinaryIO, passphrase: str) -> None:
        self._out = out
        salt, prefix = secrets.token_bytes(16), secrets.token_bytes(7)
        self._header = _HEADER.pack(_MAGIC, _SCRYPT_LOG2N, _SCRYPT_R, _SCRYPT_P, salt, prefix)
        self._aead = AESGCM(_derive(passphrase, salt, _SCRYPT_LOG2N, _SCRYPT_R, _SCRYPT_P))
        self._prefix, self._counter, self._buffer = prefix, 0, bytearray()
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > _CHUNK:
            self._seal(bytes(self._buffer[:_CHUNK]), last=False)
            del self._buffer[:_CHUNK]
        return len(data)

    def _seal(self, plain: bytes, *, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I?", self._counter, last)
        sealed = self._aead.encrypt(nonce, plain, self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def finish(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()


class SealedReader(io.RawIOBase):
    """What SealedWriter sealed, read back; BackupError on a wrong passphrase or any change."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        self._source = source
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size or not header.startswith(_MAGIC):
            raise BackupError("not a sotay backup (or one of a format this version does not read)")
        _, log2n, r, p, salt, prefix = _HEADER.unpack(header)
        self._header, self._prefix = header, prefix
        self._aead = AESGCM(_derive(passphrase, salt, log2n, r, p))
        self._counter, self._plain, self._done = 0, b"", False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        size = self._source.read(4)
        if len(size) != 4:
            raise BackupError("the archive is cut short")
        sealed = self._source.read(struct.unpack(">I", size)[0])
        for last in (False, True):
            nonce = self._prefix + struct.pack(">I?", self._counter, last)
            try:
                self._plain = self._aead.decrypt(nonce, sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._done = last
            if last and self._source.read(1):
                raise BackupError("the archive has data after its end")
            return
        raise BackupError("the archive does not open: wrong passphrase, or it was changed" if self._counter == 0
                          else f"the archive was changed (chunk {self._counter})")

    def readinto(self, buffer) -> int:
        while not self._plain and not self._done:
            self._next()
        n = min(len(buffer), len(self._plain))
        buffer[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n


def passphrase_from(environ: dict[str, str], stdin_line: str | None) -> str:
    passphrase = stdin_line if stdin_line is not None else environ.get(PASSPHRASE_VARIABLE, "")
    passphrase = passphrase.rstrip("\r\n")
    if not passphrase:
        raise BackupError(f"no passphrase: set {PASSPHRASE_VARIABLE} or give --passphrase-stdin")
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    return passphrase


# --- backup --------------------------------------------------------------------------------------


@dataclass
class Report:
    seconds: float = 0.0
    size: int = 0
    events: int = 0  # messages in the event streams
    streams: dict[str, int] = field(default_factory=dict)  # stream → messages
    dump_size: int = 0
    recovery_point: str = ""
    republish: dict[str, int] = field(default_factory=dict)  # schema → outbox rows marked unpublished again
    steps: dict[str, float] = field(default_factory=dict)  # step → seconds


def _is_bucket(stream: str) -> bool:
    return stream.startswith(("KV_", "OBJ_"))


def _pg_tool(name: str) -> str:
    from sotay.kit.embedded import postgres_bin_dir

    return str(postgres_bin_dir() / name)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}")


async def backup(settings: Settings, path: Path, passphrase: str, *, log=print) -> Report:
    """Write the archive of the system on settings.data_dir (its `sotay up` running, or its
    embedded servers started for the while) to `path`."""
    from sotay.kit.db import plain_url
    from sotay.kit.service import connect_nats
    from sotay.kit.stream_backup import snapshot, stream_names
    from sotay.system.registry import SERVICES
    from sotay.system.runtime import Infrastructure

    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} exists: a backup never overwrites one")
    report, started = Report(), time.monotonic()
    infra = Infrastructure(settings).start(list(SERVICES))
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=settings.data_dir.resolve()))
    try:
        urls = {plain_url(infra.database_url_for(s)) for s in SERVICES}
        if len(urls) != 1:
            raise BackupError("the services use more than one database: back them up with the tools of "
                              "deploy/README.md (\"Backups and point-in-time recovery\")")
        (staging / "nats").mkdir()
        (staging / "postgres").mkdir()
        nc = await connect_nats(settings, infra.nats_url)
        manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(),
                                    "nats_server": nc.connected_server_version._server_version,
                                    "streams": [], "buckets": []}
        try:
            names = await stream_names(nc)

            async def take(stream: str, kind: str) -> None:
                # A bucket has no durable consumers: only its watchers', which go with their processes.
                with open(staging / "nats" / f"{stream}.snapshot", "wb") as out:
                    taken = await snapshot(nc, stream, out, consumers=kind == "streams")
                manifest[kind].append(taken.meta())
                report.streams[stream] = taken.state.get("messages", 0)
                log(f"  {stream}: {taken.state.get('messages', 0):,} messages, {taken.state.get('consumer_count', 0)} "
                    f"consumers, {taken.size:,} bytes in {taken.seconds:.1f} s")

            clock = time.monotonic()
            for stream in [n for n in names if not _is_bucket(n)]:
                await take(stream, "streams")
            report.steps["streams"] = time.monotonic() - clock

            clock = time.monotonic()
            dump_started = datetime.now(timezone.utc)
            await asyncio.to_thread(_run, [_pg_tool("pg_dump"), "--format=custom", "--no-password",
                                           f"--file={staging / DUMP}", f"--dbname={urls.pop()}"], "pg_dump")
            report.steps["database"] = time.monotonic() - clock
            report.dump_size = (staging / DUMP).stat().st_size
            manifest["database"] = {"file": DUMP, "started_at": dump_started.isoformat(),
                                    "seconds": round(report.steps["database"], 3), "size": report.dump_size}
            log(f"  database: {report.dump_size:,} bytes in {report.steps['database']:.1f} s")

            clock = time.monotonic()
            for stream in [n for n in names if _is_bucket(n)]:
                await take(stream, "buckets")
            report.steps["buckets"] = time.monotonic() - clock
        finally:
            await nc.close()

        keys = sorted(p.name for p in settings.keys_dir.glob("*") if p.is_file()) if settings.keys_dir.is_dir() else []
        manifest["keys"] = keys
        report.events = sum(report.streams[s["stream"]] for s in manifest["streams"])
        report.recovery_point = manifest["streams"][0]["started_at"] if manifest["streams"] else dump_started.isoformat()
        manifest["recovery_point"] = {
            "streams": report.recovery_point, "database": dump_started.isoformat(),
            "note": "events in the streams as of their snapshots; rows as of the dump, later (docs/backup.md)"}

        clock = time.monotonic()
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as out:
            os.chmod(partial, 0o600)
            sealed = SealedWriter(out, passphrase)
            with tarfile.open(fileobj=sealed, mode="w|") as tar:
                _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
                for kind in ("streams", "buckets"):
                    for meta in manifest[kind]:
                        tar.add(staging / "nats" / f"{meta['stream']}.snapshot", f"nats/{meta['stream']}.snapshot")
                tar.add(staging / DUMP, DUMP)
                for name in keys:
                    tar.add(settings.keys_dir / name, f"keys/{name}")
            sealed.finish()
            out.flush()
            os.fsync(out.fileno())
        partial.rename(path)
        report.steps["archive"] = time.monotonic() - clock
        report.size = path.stat().st_size
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        infra.stop()
    report.seconds = time.monotonic() - started
    return report


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


# --- restore -------------------------------------------------------------------------------------


def _extract(path: Path, passphrase: str, into: Path) -> dict[str, Any]:
    """The archive's files under `into` (only the names a backup writes); its manifest."""
    with open(path, "rb") as source:
        reader = io.BufferedReader(SealedReader(source, passphrase), buffer_size=_CHUNK)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or member.name.startswith("/") or ".." in parts or len(parts) > 2 \
                        or (len(parts) == 2 and parts[0] not in ("nats", "postgres", "keys")) \
                        or (len(parts) == 1 and member.name != "manifest.json"):
                    raise BackupError(f"the archive holds an unexpected entry: {member.name!r}")
                target = into / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as data, open(target, "wb") as out:
                    shutil.copyfileobj(data, out, _CHUNK)
                os.chmod(target, 0o600)
        if reader.read(1):
            raise BackupError("the archive has data after its end")
    try:
        manifest = json.loads((into / "manifest.json").read_text())
    except (OSError, ValueError):
        raise BackupError("the archive has no manifest") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"archive format {manifest.get('format')}: this version reads {FORMAT}")
    return manifest


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def restore(settings: Settings, path: Path, passphrase: str, *, log=print) -> Report:
    """Rebuild the system in settings.data_dir (empty, or not there) from the archive at `path`:
    its keys, the database, the streams with their consumers and the buckets; then mark again for
    publishing the outbox rows the database says were published but the restored streams do not
    hold. Nothing runs afterwards: `sotay up` starts it."""
    data_dir = settings.data_dir
    if settings.nats_url or settings.database_url:
        raise BackupError("restore rebuilds the all-in-one's own servers: unset SOTAY_NATS_URL and "
                          "SOTAY_DATABASE_URL (split deployments: deploy/README.md, \"Backups\")")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"{data_dir} is not empty: restore only into an empty data directory")
    if not Path(path).is_file():
        raise BackupError(f"{path}: no such archive")

    from sotay.kit.embedded import EmbeddedNats, EmbeddedPostgres
    from sotay.kit.service import connect_nats
    from sotay.kit.stream_backup import restore as restore_stream

    report, started = Report(), time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir.resolve()))
    servers: list = []
    try:
        clock = time.monotonic()
        manifest = await asyncio.to_thread(_extract, Path(path), passphrase, staging)
        report.steps["archive"] = time.monotonic() - clock

        keys_dir = settings.keys_dir
        keys_dir.mkdir(exist_ok=True)
        keys_dir.chmod(0o700)
        for name in manifest.get("keys", []):
            shutil.move(staging / "keys" / name, keys_dir / name)
            (keys_dir / name).chmod(0o600)

        clock = time.monotonic()
        postgres = EmbeddedPostgres(data_dir / "postgres")
        servers.append(postgres)
        database_url = await asyncio.to_thread(postgres.start)
        dump = staging / manifest["database"]["file"]
        dump.chmod(0o644)  # pg_restore reads it as this user; the server never does
        await asyncio.to_thread(_run, [_pg_tool("pg_restore"), "--exit-on-error", "--single-transaction",
                                       "--no-password", f"--dbname={database_url}", str(dump)], "pg_restore")
        report.dump_size = manifest["database"]["size"]
        report.steps["database"] = time.monotonic() - clock
        log(f"  database: restored ({report.dump_size:,} bytes of dump) in {report.steps['database']:.1f} s")

        clock = time.monotonic()
        nats = EmbeddedNats(data_dir / "nats")
        servers.append(nats)
        nats_url = await asyncio.to_thread(nats.start)
        nc = await connect_nats(settings, nats_url)
        try:
            for kind in ("streams", "buckets"):
                for meta in manifest[kind]:
                    with open(staging / "nats" / f"{meta['stream']}.snapshot", "rb") as source:
                        info = await restore_stream(nc, meta["config"], meta["state"], source)
                    await _drop_ephemeral_consumers(nc, meta["stream"])
                    messages = info.get("state", {}).get("messages", 0)
                    report.streams[meta["stream"]] = messages
                    if messages != meta["state"].get("messages", 0):
                        raise BackupError(f"{meta['stream']}: {messages} messages restored, the snapshot had "
                                          f"{meta['state'].get('messages')}")
                    durable = len(await nc.jetstream().consumers_info(meta["stream"]))
                    log(f"  {meta['stream']}: {messages:,} messages, {durable} durable consumers restored")
            report.steps["streams"] = time.monotonic() - clock
            report.events = sum(report.streams[m["stream"]] for m in manifest["streams"])

            clock = time.monotonic()
            snapshots = [_parse_time(m["started_at"]) for m in manifest["streams"]]
            window = max((m["config"].get("duplicate_window", 0) / 1e9 for m in manifest["streams"]), default=0.0)
            since = min(snapshots) - timedelta(seconds=window + 60) if snapshots else None
            report.republish = await reconcile_outboxes(database_url, nc, since=since, margin_s=window + 60)
            report.steps["outbox"] = time.monotonic() - clock
        finally:
            await nc.close()
        report.recovery_point = manifest["recovery_point"]["streams"]
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


async def _drop_ephemeral_consumers(nc, stream: str) -> None:
    """A snapshot holds every consumer of the stream, ephemeral ones too (readers' and watchers'
    of the moment); only the durable ones have someone to come back to them."""
    js = nc.jetstream()
    for consumer in await js.consumers_info(stream):
        if not consumer.config.durable_name:
            await js.delete_consumer(stream, consumer.name)


async def reconcile_outboxes(database_url: str | dict[str, str], nc, *, since: datetime | None = None,
                             margin_s: float = 960.0) -> dict[str, int]:
    """kit.outbox.reconcile on every service's schema; the rows marked unpublished again, per schema.
    `database_url`: one for all, or one per service."""
    import asyncpg

    from sotay.kit.db import plain_url
    from sotay.kit.outbox import reconcile
    from sotay.system.registry import SERVICES

    marked: dict[str, int] = {}
    for schema in SERVICES:
        url = database_url[schema] if isinstance(database_url, dict) else database_url
        conn = await asyncpg.connect(plain_url(url))
        try:
            done = await reconcile(conn, nc, schema, since=since, margin_s=margin_s)
        finally:
            await conn.close()
        marked[schema] = done.republish
    return marked
