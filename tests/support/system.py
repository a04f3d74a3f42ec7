"""An in-process system for integration tests: real servers, services
started as `sotay up` starts them, and an HTTP client on the ASGI app."""

from __future__ import annotations

import asyncio
import inspect
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text

from services.identity.domain import CURRENT_NOTICE
from services.members.adapters.import_files import write_csv
from sotay.kit.auth import Grant, mint_token
from sotay.kit.embedded import free_port
from sotay.kit.keys import publish_development_jwks
from sotay.kit.service import ServiceDefinition, ServiceRuntime, service_app
from sotay.kit.settings import Settings
from sotay.system.runtime import http_server_config


# What a registrant agrees to in the tests: the current privacy notice's required purposes only
# (a registration without them is refused).
CONSENT = {"notice_version": CURRENT_NOTICE.version, "purposes": list(CURRENT_NOTICE.required)}


@dataclass
class RunningSystem:
    settings: Settings
    runtimes: dict[str, ServiceRuntime]
    client: httpx.AsyncClient
    app: Any  # the ASGI app the client calls

    def token(self, role: str, unit: str = "city", *, subject: str | None = None, card: str | None = None) -> str:
        key = self.settings.signing_key()
        return mint_token(key, subject or f"test-{role}-{unit}", [Grant(role, unit)], member_card_no=card,
                          unit=unit if role == "member" else None,
                          ttl_s=min(3600, self.settings.token_max_lifetime_s))

    def auth(self, role: str, unit: str = "city", **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, unit, **kw)}"}


# For `sotay serve` processes a test starts: every test client comes from one address, whose
# budgets are then those of a whole city (what make_settings does for in-process systems).
ONE_ADDRESS_FOR_A_CITY = {"SOTAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR": "1000000",
                          "SOTAY_SIGN_IN_FAILURES_PER_ADDRESS": "1000000"}


def make_settings(data_dir, **overrides) -> Settings:
    # Every test client comes from one address: its budgets are those of a whole city, unless
    # a test of the throttles sets its own.
    values = dict(data_dir=data_dir, max_deliver=3, nack_delay_s=0.2, ack_wait_s=5.0,
                  consumer_fetch_timeout_s=1.0, registrations_per_address_per_hour=1_000_000,
                  sign_in_failures_per_address=1_000_000)
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_system(definitions: list[ServiceDefinition], settings: Settings, nats_url: str,
                         database_url: str):
    runtimes = {d.name: ServiceRuntime(d, settings, nats_url, database_url) for d in definitions}
    for runtime in runtimes.values():
        await runtime.start()
    if "identity" not in runtimes:  # nobody publishes the keys the tests' tokens are signed with
        await publish_development_jwks(next(iter(runtimes.values())).context.js, settings)

    async def keys_trusted():
        return all(r.context.verifier.trusted_key_ids for r in runtimes.values())
    await eventually(keys_trusted)

    @asynccontextmanager
    async def no_lifespan(app):
        yield

    app = service_app(list(runtimes.values()), title="sotay-test", lifespan=no_lifespan)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sotay.test") as client:
        try:
            yield RunningSystem(settings, runtimes, client, app)
        finally:
            for runtime in reversed(list(runtimes.values())):
                await runtime.stop()


async def create_org_tree(client: httpx.AsyncClient, committees, headers: dict[str, str]) -> None:
    """The city, and under each committee one grassroots organisation `<committee>-g1` with two
    cells `<committee>-g1-c1` and `-c2`, made through the members API."""
    tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
    for committee in committees:
        tree += [{"code": committee, "name": f"Đảng bộ {committee}", "kind": "committee", "parent": "city", "wave": 1},
                 {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots", "parent": committee}]
        tree += [{"code": f"{committee}-g1-c{n}", "name": f"Chi bộ {n}", "kind": "cell", "parent": f"{committee}-g1"}
                 for n in (1, 2)]
    for unit in tree:
        created = await client.post("/api/members/v1/org-units", json=unit, headers=headers)
        assert created.status_code == 201, created.text


def registry_row(card: str, name: str, unit: str, *, born: str = "1970-01-01", status: str = "active",
                 eligible: bool = True, reason: str = "") -> dict[str, str]:
    """One row of a registry import file, the member's phone derived from the card."""
    return {"party_card_no": card, "full_name": name, "date_of_birth": born, "gender": "", "citizen_id": "",
            "phone": f"09{card[-8:]}", "unit": unit, "status": status, "eligible": "true" if eligible else "false",
            "ineligible_reason": reason, "admitted_on": "", "official_on": ""}


async def import_registry(client: httpx.AsyncClient, rows: list[dict[str, str]], headers: dict[str, str],
                          base: str = "") -> None:
    """Import the rows through the members API as a CSV file, and wait until every one is in."""
    imported = await client.post(f"{base}/api/members/v1/imports", params={"wait": "true"},
                                 files={"file": ("m.csv", write_csv(rows), "text/csv")}, headers=headers)
    assert imported.status_code == 200 and imported.json()["imported"] == len(rows), imported.text


async def identity_holds_registry(system: RunningSystem, count: int, timeout: float = 30) -> None:
    """Wait until identity's replica of the registry holds `count` members (registrations match then)."""
    async def ready():
        async with system.runtimes["identity"].context.engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM registry_members"))).scalar_one() == count
    await eventually(ready, timeout=timeout)


async def consumers_caught_up(system: RunningSystem, stream: str, durables: list[str], timeout: float = 30) -> None:
    """Wait until each durable consumer of `stream` has delivered and had acknowledged every message
    so far (what a test needs before its next events must land in batches of their own)."""
    js = next(iter(system.runtimes.values())).context.js

    async def caught_up():
        for durable in durables:
            info = await js.consumer_info(stream, durable)
            if info.num_pending or info.num_ack_pending:
                return False
        return True
    await eventually(caught_up, timeout=timeout)


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll a check (a function, async or not) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


@asynccontextmanager
async def real_server(system, settings: Settings | None = None):
    """The system's services behind a real uvicorn server on a free port (configured by
    `settings`, the system's own by default: its trusted proxies, say)."""
    @asynccontextmanager
    async def no_lifespan(app):
        yield
    port = free_port()
    app = service_app(list(system.runtimes.values()), title="sotay-test", lifespan=no_lifespan)
    # Open streams (server-sent events) must not hold the shutdown up.
    server = uvicorn.Server(http_server_config(app, settings or system.settings, host="127.0.0.1", port=port,
                                               log_level="warning", timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
