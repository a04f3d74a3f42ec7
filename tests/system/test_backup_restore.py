"""The restore drill (issue 23, docs/backup.md): `sotay up` under load (registrations and their
decisions, new members and transfers, an import, reads), `sotay backup` taken in the middle of
that traffic, more traffic, then the data directory destroyed, `sotay restore` into it and `sotay up`
again. Every command acknowledged before the backup began is there exactly once (rows, replicas,
the rollout figures recomputed from the source tables, accounts that sign in, the article); what
came after the recovery point is there whole or not at all, never doubled, in the streams either;
then new traffic works and every consumer catches up (none pending, no dead letter).

It prints the drill's figures: events archived, the seconds the backup and the restore took, the
archive's size."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import nats
import pytest

from sotay.kit.auth import Grant, mint_token
from sotay.kit.embedded import free_port
from sotay.kit.settings import Settings
from sotay.system import backup as backup_module
from tests.chaos.harness import PASSWORD, Ledger, Workload, populate, settle
from tests.support.system import ONE_ADDRESS_FOR_A_CITY

pytestmark = pytest.mark.integration

PASSPHRASE = "drill passphrase: not a real one"
GAP_S = 2.0  # seconds between the streams' snapshots and the dump
EVENT_STREAMS = {"SOTAY_MEMBERS": "sotay.members.>", "SOTAY_IDENTITY": "sotay.identity.>",
                 "SOTAY_CONTENT": "sotay.content.>"}


class Up:
    """A `sotay up` of its own on a data dir, with what tests/chaos/harness.py's Workload, populate
    and settle ask of a system: each service's base URL (all one here), tokens, its processes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.services = {name: SimpleNamespace(base=self.base) for name in ("members", "identity", "content",
                                                                             "metrics-1", "metrics-2")}
        # settle() asks both metrics replicas of the chaos harness; here there is one.
        self.processes = SimpleNamespace(running={"metrics-1": SimpleNamespace(poll=lambda: None),
                                                  "metrics-2": SimpleNamespace(poll=lambda: 0)})
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
        env.update(SOTAY_DATA_DIR=str(self.data_dir), SOTAY_HTTP_PORT=str(self.port), SOTAY_LOG_LEVEL="WARNING",
                   SOTAY_ACK_WAIT_S="5", SOTAY_NACK_DELAY_S="0.3", SOTAY_CONSUMER_FETCH_TIMEOUT_S="1",
                   SOTAY_BACKUP_PASSPHRASE=PASSPHRASE, **ONE_ADDRESS_FOR_A_CITY)
        return env

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sotay", "up"], env=self.env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert self.proc.poll() is None, self.proc.stdout.read()
                try:
                    # Ready, and trusting identity's key: the services learn it from the JWKS bucket, on a
                    # loaded machine a second or two after /readyz says ready (a token is refused meanwhile).
                    if (await client.get(f"{self.base}/readyz")).status_code == 200 and all([
                            (await client.get(f"{self.base}/api/{service}", headers=self.auth())).status_code != 401
                            for service in ("members/v1/members?limit=1", "identity/v1/registrations?status=pending",
                                            "content/v1/articles", "metrics/v1/rollout?unit=city")]):
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"sotay up not ready within {timeout} s"
                await asyncio.sleep(0.3)

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out

    def servers(self) -> dict[str, str]:
        return json.loads((self.data_dir / "runtime.json").read_text())

    async def cli(self, *args: str, stdin: str | None = None) -> tuple[float, str]:
        """`sotay ARGS` on this data dir: the seconds it took and its output (it must succeed)."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sotay", *args, env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        out, _ = await proc.communicate(stdin.encode() if stdin else None)
        assert proc.returncode == 0, out.decode()
        return time.monotonic() - started, out.decode()

    def token(self, role: str = "city_admin", unit: str = "city", subject: str = "drill-admin",
              card: str | None = None) -> str:
        key = Settings(data_dir=self.data_dir).signing_key()
        return mint_token(key, subject, [Grant(role, unit)], ttl_s=3600, member_card_no=card,
                          unit=unit if role == "member" else None)

    def auth(self, **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kw)}"}


async def restored_ledger(db: asyncpg.Pool, before: Ledger, after: Ledger) -> Ledger:
    """What the restored database holds, as a ledger, once it is checked against the clients' two:
    everything acknowledged before the backup began is there, nothing that was never acknowledged
    is, and no effect went back past what was acknowledged before."""
    ledger = Ledger()
    regs = {str(r["id"]): r for r in await db.fetch(
        "SELECT id, party_card_no, platform, status FROM identity.registrations")}
    assert set(before.registrations) <= set(regs), "a registration acknowledged before the backup is missing"
    assert set(regs) <= set(after.registrations), "a registration no client was acknowledged"
    for reg_id, row in regs.items():
        assert (row["party_card_no"], row["platform"]) == after.registrations[reg_id]
        if reg_id in before.decisions:
            assert row["status"] == before.decisions[reg_id], f"{reg_id}: decided before the backup"
        else:
            assert row["status"] in ("pending", after.decisions.get(reg_id)), reg_id
        ledger.registrations[reg_id] = after.registrations[reg_id]
        if row["status"] != "pending":
            ledger.decisions[reg_id] = row["status"]

    members = {str(r["id"]): r for r in await db.fetch(
        "SELECT m.id, m.party_card_no, m.version, u.code AS unit FROM members.members m "
        "JOIN members.org_units u ON u.id = m.unit_id")}
    assert set(before.members) <= set(members), "a member created before the backup is missing"
    for member_id in after.members:
        if member_id not in members:
            continue
        row = members[member_id]
        transfers = row["version"] - 1
        assert before.transfers.get(member_id, 0) <= transfers <= after.transfers.get(member_id, 0), member_id
        if transfers == after.transfers.get(member_id, 0):
            assert row["unit"] == after.members[member_id], member_id
        ledger.members[member_id] = row["unit"]
        if transfers:
            ledger.transfers[member_id] = transfers
    cards = {r["party_card_no"] for r in members.values()}
    assert before.imported <= cards, "a member imported before the backup is missing"
    ledger.imported = after.imported & cards

    reads = {r["account_id"] for r in await db.fetch("SELECT account_id FROM content.reads")}
    assert {f"reader-{c}" for c in before.reads} <= reads, "a read recorded before the backup is missing"
    assert reads <= {f"reader-{c}" for c in after.reads}
    ledger.reads = {c for c in after.reads if f"reader-{c}" in reads}
    return ledger


async def stream_copies(nc, stream: str) -> Counter:
    """How many times each event id (Nats-Msg-Id) is in the stream."""
    js = nc.jetstream()
    copies: Counter = Counter()
    sub = await js.subscribe(EVENT_STREAMS[stream], ordered_consumer=True)
    try:
        total = (await js.stream_info(stream)).state.messages
        for _ in range(total):
            msg = await sub.next_msg(timeout=10)
            copies[(msg.headers or {}).get("Nats-Msg-Id")] += 1
    finally:
        await sub.unsubscribe()
    return copies


async def signs_in(base: str, card: str) -> bool:
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{base}/api/identity/v1/token", data={
            "grant_type": "password", "username": card, "password": PASSWORD})
    return answer.status_code == 200 and "access_token" in answer.json()


async def test_a_backup_taken_under_load_restores_every_acknowledged_command_once(tmp_path, monkeypatch):
    data_dir, archive = tmp_path / "data", tmp_path / "sotay.backup"
    up = Up(data_dir)
    up.start()
    try:
        await up.ready()
        people, article = await populate(up)
        workload = Workload(up, people, article, seed=23)
        await workload.mixed(40)
        await workload.import_burst(30)

        # The backup, in the middle of traffic: what was acknowledged before it began must come back.
        backed_up = asyncio.Event()

        async def keep_loading() -> None:
            while not backed_up.is_set() and len(workload.unregistered) > 40:
                await workload.mixed(12, concurrency=4)
            await workload.mixed(12, concurrency=4)
        traffic = asyncio.create_task(keep_loading())
        started = workload.ledger.commands
        while workload.ledger.commands < started + 10 and not traffic.done():
            await asyncio.sleep(0.05)
        before = copy.deepcopy(workload.ledger)
        # The backup runs here, in this process (the same code as `sotay backup`, which ends this test), with
        # the moment between the streams' snapshots and the dump stretched: commands the database then holds
        # and the streams do not are certain, and the restore must publish their events again.
        real_run = backup_module._run

        def later_dump(cmd: list[str], what: str) -> None:
            if what == "pg_dump":
                time.sleep(GAP_S)
            real_run(cmd, what)
        monkeypatch.setattr(backup_module, "_run", later_dump)
        try:
            report = await backup_module.backup(Settings(data_dir=data_dir), archive, PASSPHRASE, log=lambda _: None)
        finally:
            backed_up.set()
        during = workload.ledger.commands - before.commands
        await traffic
        await workload.import_burst(10)
        after = workload.ledger
        assert after.failures == [], after.failures
        assert report.size == archive.stat().st_size > 0 and report.events > 0
        sealed = archive.read_bytes()
        for clear in (b"manifest.json", b"SOTAY_MEMBERS", b"PGDMP", (data_dir / "keys" / "kek.key").read_bytes()):
            assert clear not in sealed, f"{clear[:20]!r} in clear in the archive"
        up.stop()
        assert up.proc.returncode == 0

        # The data directory is lost; the archive rebuilds it.
        shutil.rmtree(data_dir)
        restore_s, restore_out = await up.cli("restore", "--passphrase-stdin", str(archive), stdin=PASSPHRASE + "\n")
        republished = re.search(r"outbox rows to publish again: (.*)\. Start", restore_out).group(1)
        assert republished != "none", f"no event fell between the streams' snapshots and the dump:\n{restore_out}"
        up.start()
        await up.ready()
        servers = up.servers()
        db = await asyncpg.create_pool(servers["database_url"], min_size=1, max_size=4)
        nc = await nats.connect(servers["nats_url"])
        try:
            ledger = await restored_ledger(db, before, after)
            restored = len(ledger.registrations)
            verdict, settled_s = await settle(db, nc.jetstream(), ledger, up, timeout=90)
            for stream in EVENT_STREAMS:
                doubled = {i: n for i, n in (await stream_copies(nc, stream)).items() if n > 1}
                assert doubled == {}, f"{stream}: events in it twice: {list(doubled)[:5]}"
            approved = [after.registrations[r][0] for r, s in before.decisions.items() if s == "approved"]
            assert approved and all([await signs_in(up.base, card) for card in approved[:3]])
            reader = next(p for p in people if p.card in before.reads)
            shown = await httpx.AsyncClient(timeout=10).get(
                f"{up.base}/api/content/v1/articles/{article}",
                headers=up.auth(role="member", unit=reader.cell, subject=f"reader-{reader.card}", card=reader.card))
            assert shown.status_code == 200 and shown.json()["id"] == article, shown.text

            # Traffic again: new commands work, every consumer catches up.
            workload.ledger = ledger
            await workload.mixed(30)
            await workload.import_burst(10)
            assert workload.ledger.failures == [], workload.ledger.failures
            await settle(db, nc.jetstream(), workload.ledger, up, timeout=90)  # none pending, no dead letter

            # `sotay backup` as an operator runs it; a restore over a data directory in use is refused.
            cli_s, cli_out = await up.cli("backup", str(tmp_path / "again.backup"))
            assert "backup written" in cli_out and (tmp_path / "again.backup").stat().st_size > 0, cli_out
            refused = subprocess.run([sys.executable, "-m", "sotay", "restore", str(archive)], env=up.env(),
                                     capture_output=True, text=True)
            assert refused.returncode == 2 and "not empty" in refused.stderr, refused.stderr
        finally:
            await nc.close()
            await db.close()
            await workload.close()
        lost = len(after.registrations) - restored
        print(f"\nrestore drill: {report.events:,} events in the event streams; backup {report.seconds:.1f} s "
              f"(the dump {GAP_S} s late on purpose; {during} commands acknowledged meanwhile), archive "
              f"{report.size:,} bytes; restore {restore_s:.1f} s, settled {settled_s:.1f} s after start "
              f"({verdict.checks} checks); registrations: {len(before.registrations)} acknowledged before the backup, "
              f"{len(after.registrations)} in all, {restored} restored ({lost} acknowledged after the "
              f"recovery point); outbox rows published again: {republished}; `sotay backup` {cli_s:.1f} s")
    finally:
        up.stop()
