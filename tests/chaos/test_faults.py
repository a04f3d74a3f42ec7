"""Faults against the running system (issue 9): processes killed with SIGKILL mid-batch, mid-request
and between a publish and its mark, nats-server and PostgreSQL restarted (and killed), a consumer
stopped past its ack wait, two events of one registration applied at once by two replicas, a poison
message dead-lettered and redriven. After each, once the system settles: every acknowledged command
has exactly one effect, every projection equals a recomputation from the source tables, no member's
version ever went back in any replica, and `sotay metrics verify` finds every figure. The recovery
time of each is printed at the end of the run (conftest.py)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time

import asyncpg
import pytest

from sotay.kit.settings import Settings
from tests.chaos.harness import ACK_WAIT_S, DUPLICATE_WINDOW_S, MAX_DELIVER, Env, VersionWatch
from tests.support.probe import Faults, probe_definition
from tests.system.test_cluster import until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

SEED = 20231  # the workload's (tests/chaos/conftest.py)


async def test_consumers_killed_mid_batch_at_random_points(env: Env):
    """SIGKILL each consumer process (content, identity, both metrics replicas) in a seeded random order,
    at a random point while a burst of registry events is being consumed; each is started again at once."""
    rng = random.Random(SEED)
    before = env.w.ledger.commands
    kills = []
    with VersionWatch(env.db) as watch:
        background = asyncio.create_task(env.w.mixed(12))
        for victim in rng.sample(["content", "identity", "metrics-1", "metrics-2"], 4):
            await env.w.import_burst(250)
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            env.chaos.kill(victim)
            kills.append(victim)
            ended = time.monotonic()  # the fault ends as the process starts again
            await env.chaos.restart(victim)
        await background
        await env.finish("kill -9 consumers mid-batch", faults=len(kills), commands_before=before, watch=watch,
                         fault_ended=ended, notes={"killed": "+".join(kills)})


# While the test holds this advisory lock, members' relay can publish but not mark what it published:
# a trigger the test puts on members.outbox makes the marking UPDATE wait for the lock.
MARK_WAITS = 731_600
HOLD_THE_MARK = f"""
CREATE FUNCTION members.chaos_hold_the_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared({MARK_WAITS}); RETURN NULL; END $$;
CREATE TRIGGER chaos_hold_the_mark BEFORE UPDATE ON members.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION members.chaos_hold_the_mark();
"""
LET_THE_MARK_GO = "DROP FUNCTION members.chaos_hold_the_mark() CASCADE"


async def test_relay_killed_between_publish_and_mark_past_the_duplicate_window(env: Env):
    """The members relay is killed -9 after the stream acknowledged a batch and before its mark (held back
    by a trigger the test adds), and stays down longer than the duplicate window: the batch is in the
    stream twice, applied once."""
    before = env.w.ledger.commands
    dups_before = await env.stream_messages("SOTAY_MEMBERS") - await env.db.fetchval(
        "SELECT count(*) FROM members.outbox")
    in_stream = await env.stream_messages("SOTAY_MEMBERS")
    async with env.db.acquire() as holder:
        await holder.execute("SELECT pg_advisory_lock($1)", MARK_WAITS)
        await env.db.execute(HOLD_THE_MARK)
        try:
            with VersionWatch(env.db) as watch:
                creating = asyncio.gather(*(env.w.create_member() for _ in range(6)))

                async def published_not_marked():
                    return await env.stream_messages("SOTAY_MEMBERS") > in_stream
                await until(published_not_marked, 30, "the relay publishes")
                env.chaos.kill("members")  # its mark waits on the lock: killed between publish and mark
                unmarked = await env.stream_messages("SOTAY_MEMBERS") - in_stream
                assert await env.db.fetchval(
                    "SELECT count(*) FROM members.outbox WHERE published_at IS NULL") >= unmarked > 0
                # PostgreSQL does not see a client die while its statement waits on a lock: the killed
                # relay's mark would go on (and commit) once let go. A lost host's connection ends; so does this.
                assert await env.db.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'UPDATE outbox SET published_at%' AND wait_event_type = 'Lock'") == 1
                await env.db.execute(LET_THE_MARK_GO)
                await holder.execute("SELECT pg_advisory_unlock($1)", MARK_WAITS)
                await asyncio.sleep(DUPLICATE_WINDOW_S + 1.5)
                ended = time.monotonic()
                await env.chaos.restart("members")
                await creating
                result = await env.finish("kill -9 relay between publish and mark", faults=1, commands_before=before,
                                          watch=watch, fault_ended=ended)
        finally:
            await env.db.execute("DROP FUNCTION IF EXISTS members.chaos_hold_the_mark() CASCADE")
            await holder.execute("SELECT pg_advisory_unlock_all()")
    dups = await env.stream_messages("SOTAY_MEMBERS") - await env.db.fetchval("SELECT count(*) FROM members.outbox")
    # Every row published before the kill went into the stream a second time, and was applied once.
    assert dups - dups_before == unmarked
    result.notes.update(republished=unmarked)


async def test_services_killed_in_the_middle_of_a_request_transaction(env: Env):
    """A registration, an approval and a transfer each wait inside their transaction (the test holds
    a lock their statements need) when identity and members are killed; the clients retry with the
    same Idempotency-Key against the restarted services: exactly one effect each."""
    before = env.w.ledger.commands
    pending = await env.w.register(env.w.unregistered.pop())
    member = await env.w.create_member()
    retries = env.w.ledger.retries
    with VersionWatch(env.db) as watch:
        blocker = await asyncpg.connect(env.chaos.database_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE identity.registrations, members.members IN SHARE MODE")
            requests = asyncio.gather(env.w.register(env.w.unregistered.pop()), env.w.decide(pending, "approve"),
                                      env.w.transfer(member))
            await until(lambda: env.db.fetchval(
                "SELECT count(*) >= 3 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"), 30, "three requests wait inside their transactions")
            env.chaos.kill("identity")
            env.chaos.kill("members")
            await tx.commit()
        finally:
            await blocker.close()
        ended = time.monotonic()
        await asyncio.gather(env.chaos.restart("identity"), env.chaos.restart("members"))
        await requests
        assert env.w.ledger.retries > retries  # the requests were indeed cut off and retried
        assert env.w.ledger.decisions[pending] == "approved" and env.w.ledger.transfers[member] == 1
        await env.finish("kill -9 services mid-transaction", faults=2, commands_before=before, watch=watch,
                         fault_ended=ended)


async def test_nats_server_restarted_gracefully_and_killed(env: Env):
    before = env.w.ledger.commands
    with VersionWatch(env.db) as watch:
        load = asyncio.create_task(env.w.mixed(30))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            await asyncio.sleep(1.0)
            env.chaos.stop_nats(sig)
            await asyncio.sleep(2.0)
            ended = time.monotonic()
            env.chaos.start_nats()
            await env.chaos.wait_nats()
        await load
        await env.finish("nats-server restarted (TERM, then KILL)", faults=2, commands_before=before, watch=watch,
                         fault_ended=ended)


async def test_postgres_killed_and_restarted_while_consuming_and_relaying(env: Env):
    before = env.w.ledger.commands
    with VersionWatch(env.db) as watch:
        load = asyncio.create_task(env.w.mixed(30))
        for sig in (signal.SIGKILL, signal.SIGINT):
            await env.w.import_burst(150)  # consumers and relays busy
            env.chaos.kill_postgres(sig)
            await asyncio.sleep(2.0)
            ended = time.monotonic()
            await asyncio.to_thread(env.chaos.start_postgres)
        await load
        await env.finish("PostgreSQL killed -9, then fast shutdown", faults=2, commands_before=before, watch=watch,
                         fault_ended=ended)


async def test_consumer_stopped_past_its_ack_wait(env: Env):
    """SIGSTOP a metrics replica holding fetched messages for longer than the ack wait: the other replica
    gets them again; SIGCONT, and the stopped one's late batch changes nothing."""
    before = env.w.ledger.commands

    async def held() -> int:
        infos = [await env.js.consumer_info(s, n) for s, n in
                 (("SOTAY_MEMBERS", "metrics-registry"), ("SOTAY_IDENTITY", "metrics-accounts"))]
        return sum(i.num_ack_pending for i in infos)
    with VersionWatch(env.db) as watch:
        attempts = 0
        for _ in range(6):
            attempts += 1
            env.chaos.signal("metrics-1", signal.SIGSTOP)
            stopped = time.monotonic()
            await env.w.import_burst(200)
            await asyncio.sleep(1.5)  # metrics-2 has applied what it got; what is unacked is metrics-1's
            if await held():
                break
            env.chaos.signal("metrics-1", signal.SIGCONT)
        else:
            pytest.fail("the stopped replica never held a message")
        load = asyncio.create_task(env.w.mixed(12))
        await asyncio.sleep(max(0.0, ACK_WAIT_S + 3 - (time.monotonic() - stopped)))
        env.chaos.signal("metrics-1", signal.SIGCONT)
        ended = time.monotonic()
        await load
        await env.finish("SIGSTOP a metrics replica past ack wait", faults=1, commands_before=before, watch=watch,
                         fault_ended=ended, notes={"attempts": attempts})


async def _both_replicas_at_once(env: Env, first, second) -> None:
    """`first` (a coroutine making an identity event) is applied by metrics-1 and `second` by metrics-2 in
    two transactions that overlap: the test holds a lock both need to write and lets go once both wait."""
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND datname = current_database() AND pid <> $1")
    blocker = await asyncpg.connect(env.chaos.database_url)
    stopped: list[str] = []
    try:
        me = await blocker.fetchval("SELECT pg_backend_pid()")
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE metrics.registrations IN SHARE MODE")
        env.chaos.signal("metrics-2", signal.SIGSTOP)
        stopped.append("metrics-2")
        await asyncio.sleep(1.5)  # its outstanding pulls expire: metrics-1 alone fetches
        await first
        await until(lambda: env.db.fetchval(waiting, me), 30, "metrics-1 waits inside its transaction")
        env.chaos.signal("metrics-1", signal.SIGSTOP)
        stopped.append("metrics-1")
        env.chaos.signal("metrics-2", signal.SIGCONT)
        stopped.remove("metrics-2")
        await asyncio.sleep(1.5)  # metrics-1's outstanding pulls expire: metrics-2 alone fetches
        await second
        try:
            await until(lambda: env.db.fetchval(f"SELECT ({waiting}) >= 2", me), 30,
                        "metrics-2 waits inside its transaction too")
        except AssertionError as failed:  # seen twice in CI-like runs, not reproduced: say where things stood
            raise AssertionError(f"{failed}\n{await _where_things_stand(env, me)}") from None
        env.chaos.signal("metrics-1", signal.SIGCONT)
        stopped.remove("metrics-1")
        await tx.commit()
    finally:
        for name in stopped:
            env.chaos.signal(name, signal.SIGCONT)
        await blocker.close()


async def _where_things_stand(env: Env, me: int) -> str:
    """The sessions of the database (but the test's own) and the accounts consumer's deliveries."""
    sessions = await env.db.fetch(  # metrics' idle sessions too: metrics-2 once waited in asyncpg with none busy
        "SELECT pid, application_name, state, wait_event_type, wait_event, backend_start::time(0) AS started, "
        "xact_start::time(3) AS xact, state_change::time(3) AS changed, left(query, 80) AS query "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1 "
        "AND (state IS DISTINCT FROM 'idle' OR application_name = 'sotay-metrics') ORDER BY state_change", me)
    info = await env.js.consumer_info("SOTAY_IDENTITY", "metrics-accounts")
    # What metrics-2's consumers wait for: `kill -USR1` has a sotay process print every task's stack.
    log = env.chaos.processes.logs / "metrics-2.log"
    before = log.stat().st_size
    env.chaos.signal("metrics-2", signal.SIGUSR1)
    await asyncio.sleep(1.0)
    with log.open("rb") as f:
        f.seek(before)
        dump = f.read().decode(errors="replace")
    stacks = [block for block in dump.split("--- task ") if "consumer.py" in block]
    return "\n".join([f"metrics-accounts: pending {info.num_pending}, unacked {info.num_ack_pending}, "
                       f"redelivered {info.num_redelivered}, pulls waiting {info.num_waiting}",
                       *(str(dict(s)) for s in sessions), "metrics-2's consumer tasks:", *stacks])


async def test_registration_and_its_decision_applied_at_once_by_two_replicas(env: Env):
    """Two events of one registration (submitted, then approved or rejected) in two metrics replicas'
    transactions at the same time: for a member (the replicas lock the member) and for a card the
    registry does not hold (no member to lock)."""
    before = env.w.ledger.commands
    faults = 0
    with VersionWatch(env.db) as watch:
        for person in (env.w.unregistered.pop(), None):
            made: dict[str, str] = {}

            async def register(person=person, made=made):
                made["id"] = await env.w.register(person)

            async def decide(person=person, made=made):
                await env.w.decide(made["id"], "approve" if person else "reject")
            assert ACK_WAIT_S > 6  # the choreography must end before either delivery is redelivered
            await _both_replicas_at_once(env, register(), decide())
            faults += 1
        ended = time.monotonic()
        await env.finish("two replicas apply one registration's events at once", faults=faults,
                         commands_before=before, watch=watch, fault_ended=ended)


async def test_poison_message_dead_lettered_then_redriven(env: Env):
    """A test consumer (probe-members, in this process) fails on one member's event every time: it is
    dead-lettered with its reason after SOTAY_MAX_DELIVER deliveries while the rest keep flowing;
    `sotay dlq list` shows it; once the handler is fixed, `sotay dlq redrive` applies it once, and the
    consumers that had applied it take the redriven copy for a duplicate."""
    from sotay.kit.service import ServiceRuntime

    before = env.w.ledger.commands
    faults = Faults(fail_times={"Trần Văn Độc": 10**6})
    settings = Settings(data_dir=env.chaos.data_dir, duplicate_window_s=DUPLICATE_WINDOW_S, max_deliver=MAX_DELIVER,
                        nack_delay_s=0.3, ack_wait_s=ACK_WAIT_S, consumer_fetch_timeout_s=1.0)
    probe = ServiceRuntime(probe_definition(faults), settings, env.chaos.nats_url, env.chaos.database_url)
    await probe.start()
    try:
        with VersionWatch(env.db) as watch:
            await until(lambda: env.db.fetchval(
                "SELECT count(*) > 0 FROM probe.effects"), 60, "the probe consumed the registry")
            poison = await env.w.post("members", "/api/members/v1/members", ok=201, json_body={
                "party_card_no": env.w.new_card(), "full_name": "Trần Văn Độc", "date_of_birth": "1966-06-06",
                "unit": "tay-ho-g1-c1"})
            env.w.ledger.members[poison["id"]] = "tay-ho-g1-c1"
            after = [await env.w.create_member() for _ in range(3)]

            async def listed():
                out = await asyncio.to_thread(env.chaos.cli, "dlq", "list", "--consumer", "probe-members", "--json")
                assert out.returncode == 0, out.stderr
                return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
            (letter,) = await until(listed, 60, "the poison message is dead-lettered")
            ended = time.monotonic()
            assert faults.calls["Trần Văn Độc"] == MAX_DELIVER
            assert letter["deliveries"] == MAX_DELIVER and letter["subject"].startswith("sotay.members.member_registered")
            assert "injected failure" in letter["reason"] and letter["consumer"] == "probe-members"
            # The rest kept flowing, through the probe too.
            applied = {r["subject"] for r in await env.db.fetch("SELECT subject FROM probe.effects")}
            assert set(after) <= applied and poison["id"] not in applied
            await env.finish("poison message (dead-lettered)", faults=1, commands_before=before, watch=watch,
                             fault_ended=ended, dead_letters_expected=1, probe=True, verify=False)
            table = await asyncio.to_thread(env.chaos.cli, "dlq", "list")
            assert table.returncode == 0 and f"{letter['seq']} " in table.stdout, table.stdout + table.stderr
            assert "probe-members" in table.stdout and "injected failure 3 for Trần Văn Độc" in table.stdout
            shown = await asyncio.to_thread(env.chaos.cli, "dlq", "show", str(letter["seq"]))
            assert shown.returncode == 0 and poison["id"] in shown.stdout and "Trần Văn Độc" in shown.stdout

            faults.fail_times.clear()  # the handler is fixed
            redriven = await asyncio.to_thread(env.chaos.cli, "dlq", "redrive", "--consumer", "probe-members")
            assert redriven.returncode == 0 and "1 redriven, 0 failed" in redriven.stdout, \
                redriven.stdout + redriven.stderr
            fixed = time.monotonic()
            rows = await until(lambda: env.db.fetch("SELECT applied FROM probe.effects WHERE subject = $1",
                                                    poison["id"]), 30, "the redriven event is applied")
            result = await env.finish("poison message redriven", faults=0, commands_before=env.w.ledger.commands,
                                      watch=watch, fault_ended=fixed, probe=True)
            assert [r["applied"] for r in rows] == [1]
            assert [r["applied"] for r in await env.db.fetch(
                "SELECT applied FROM probe.effects WHERE subject = $1", poison["id"])] == [1]
            assert await listed() == []
            # The other consumers had it already: the redriven copy is in the stream, and changed nothing.
            result.notes.update(redriven=1)
    finally:
        await probe.stop()


@pytest.mark.slow
async def test_nats_server_down_for_more_than_two_minutes(env: Env):
    before = env.w.ledger.commands
    with VersionWatch(env.db) as watch:
        load = asyncio.create_task(env.w.mixed(40, concurrency=4))
        await asyncio.sleep(1.0)
        env.chaos.stop_nats(signal.SIGKILL)
        await asyncio.sleep(130)
        ended = time.monotonic()
        env.chaos.start_nats()
        await env.chaos.wait_nats()
        await load
        await env.finish("nats-server down 130 s", faults=1, commands_before=before, watch=watch, fault_ended=ended,
                         timeout=240)
