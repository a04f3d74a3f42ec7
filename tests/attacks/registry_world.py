"""A small system for the attacks on identity's trust boundaries: members, identity and
content on real NATS and PostgreSQL, behind a real uvicorn (so X-Forwarded-For goes
through uvicorn's trusted-proxy handling as in production), with two committees of
registry members whose cards, phones and passwords the tests know.

Each test module starts its own, with the settings it attacks (throttle sizes, the
trusted proxies, token lifetimes)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import httpx
from sqlalchemy import text

import services.content
import services.identity
import services.members
from tests.support.system import (
    CONSENT,
    RunningSystem,
    create_org_tree,
    eventually,
    import_registry,
    real_server,
    registry_row,
    running_system,
)

PASSWORD = "Chi bo so 1 vung manh"
# The reverse proxy in front of the system: the test client connects from this address (not
# 127.0.0.1, which uvicorn would trust by default), and adds X-Forwarded-For as a proxy does.
PROXY = "127.0.0.2"
COMMITTEES = ("ba-dinh", "tay-ho")


def cell(committee: str, n: int = 1) -> str:
    return f"{committee}-g1-c{n}"


def card(committee_index: int, i: int) -> str:
    return f"0{committee_index + 1}{i:08d}"


def phone_of(card_no: str) -> str:
    """The member's phone in the registry: one per member, across committees too."""
    return f"09{card_no[1]}{card_no[-7:]}"


def name_of(i: int) -> str:
    return f"Nguyễn Văn {chr(65 + i % 26)}"


@dataclass
class RegistryWorld:
    system: RunningSystem
    http: httpx.AsyncClient  # to the real server

    def auth(self, role: str, unit: str = "city", **kw) -> dict[str, str]:
        return self.system.auth(role, unit, **kw)

    def registration(self, committee_index: int, i: int, **changes) -> dict:
        number = card(committee_index, i)
        body = {"party_card_no": number, "full_name": name_of(i), "date_of_birth": "1970-01-01",
                "phone": phone_of(number), "password": PASSWORD, "platform": "mobile", "consent": CONSENT}
        return {**body, **changes}

    async def register(self, body: dict, *, address: str | None = None) -> httpx.Response:
        return await self.http.post("/api/identity/v1/registrations", json=body, headers=forwarded(address))

    async def approved(self, committee_index: int, i: int, **changes) -> dict:
        """A member of the registry with an approved account; returns the registration body."""
        body = self.registration(committee_index, i, **changes)
        registered = await self.register(body)
        assert registered.status_code == 202, registered.text
        approver = self.auth("unit_admin", COMMITTEES[committee_index])
        decided = await self.http.post(f"/api/identity/v1/registrations/{registered.json()['id']}/approve",
                                       headers=approver)
        assert decided.status_code == 200, decided.text
        return body

    async def sign_in(self, username: str, password: str = PASSWORD, *, address: str | None = None,
                      **form) -> httpx.Response:
        return await self.http.post("/api/identity/v1/token", headers=forwarded(address),
                                    data={"grant_type": "password", "username": username, "password": password,
                                          **form})

    async def account_id(self, card_no: str) -> str:
        async with self.system.runtimes["identity"].context.engine.connect() as db:
            return str((await db.execute(text("SELECT id FROM accounts WHERE party_card_no = :c"),
                                         {"c": card_no})).scalar_one())

    def scalar(self, service: str, sql: str, **params):
        async def go():
            async with self.system.runtimes[service].context.engine.connect() as db:
                return (await db.execute(text(sql), params)).scalar()
        return go()


def forwarded(address: str | None) -> dict[str, str]:
    """The headers a proxy in front of the system adds for a client at `address`."""
    return {"X-Forwarded-For": address} if address else {}


@contextlib.asynccontextmanager
async def registry_world(settings, nats_url: str, database_url: str, *, members_per_committee: int = 60):
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, COMMITTEES, admin)
        rows = [{**registry_row(card(c, i), name_of(i), cell(committee, 1 + i % 2), born="1970-01-01"),
                 "phone": phone_of(card(c, i))}
                for c, committee in enumerate(COMMITTEES) for i in range(members_per_committee)]
        await import_registry(system.client, rows, admin)

        async def identity_holds_them():
            async with system.runtimes["identity"].context.engine.connect() as db:
                return (await db.execute(text("SELECT count(*) FROM registry_members"))).scalar_one() == len(rows)
        await eventually(identity_holds_them, timeout=30)
        async with real_server(system) as base_url, proxy_client(base_url) as http:
            yield RegistryWorld(system, http)


def proxy_client(base_url: str) -> httpx.AsyncClient:
    """An HTTP client connecting from the proxy's address."""
    return httpx.AsyncClient(base_url=base_url, timeout=60,
                             transport=httpx.AsyncHTTPTransport(local_address=PROXY))
