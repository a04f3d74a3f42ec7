"""The webhook bridge's trust boundaries (services/webhooks, docs/webhooks.md):

- an endpoint's URL is typed by an operator and the bridge POSTs a committee's events to it: only
  https on public addresses (plain http to SOTAY_WEBHOOK_ALLOW_NETWORKS only), never loopback,
  private, link-local, shared, metadata or IPv6 forms of them; a host name that resolves inward is
  refused when connecting, not only when saved; redirects are not followed;
- only city admins set up endpoints or read deliveries;
- the signing secret is shown once: never listed, never logged, stored sealed;
- a forged, stale or re-signed request fails the receiver's check.
Real NATS, PostgreSQL and a local receiver on 127.0.0.2 (tests/support/webhooks.py)."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from sqlalchemy import text

import services.members
import services.webhooks
from services.webhooks.adapters.sender import Sender
from services.webhooks.domain import signature, verify
from services.webhooks.handlers.endpoints import secret_context
from sotay.kit.egress import EgressPolicy, parse_networks
from sotay.kit.keys import MissingKey, unseal, webhooks_kek
from tests.attacks.problems import assert_problem
from tests.support.system import create_org_tree, eventually, make_settings, running_system
from tests.support.webhooks import LocalReceiver

pytestmark = pytest.mark.integration

SETTINGS = dict(webhook_allow_networks="127.0.0.2/32", webhook_retry_base_s=0.1, webhook_retry_max_s=0.2,
                webhook_max_attempts=2, webhook_poll_s=0.05, webhook_timeout_s=3.0)


@pytest.fixture(scope="module")
def receiver():
    with LocalReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir, **SETTINGS)
    async with running_system([services.members.definition(), services.webhooks.definition()], settings,
                              nats_url, database_url) as system:
        await create_org_tree(system.client, ["ba-dinh", "tay-ho"], system.auth("city_admin"))

        async def known():
            async with system.runtimes["webhooks"].context.engine.connect() as db:
                return (await db.execute(text("SELECT count(*) FROM committees"))).scalar() == 3
        await eventually(known)
        yield system


async def endpoint_rows(system) -> int:
    async with system.runtimes["webhooks"].context.engine.connect() as db:
        return (await db.execute(text("SELECT count(*) FROM endpoints"))).scalar()


REFUSED = {
    "http://hooks.example.vn/in": "must be an https address",
    "ftp://hooks.example.vn/in": "must be an https address",
    "https://127.0.0.1/in": "loopback",
    "https://127.0.0.2:8443/in": None,  # trusted, and https: accepted below, not here
    "http://127.0.0.3/in": "loopback",  # http to loopback outside the trusted network
    "https://localhost/in": "loopback",  # a name resolving inward, checked as it is saved
    "https://10.0.0.5/in": "private",
    "https://192.168.1.1/in": "private",
    "https://172.16.0.1/in": "private",
    "https://169.254.169.254/latest/meta-data/": "link-local",
    "https://100.64.0.1/in": "shared (CGNAT)",
    "https://[::1]/in": "loopback",
    "https://[::ffff:10.0.0.5]/in": "private",
    "https://[fe80::1]/in": "link-local",
    "https://[fd00::1]/in": "private",
    "https://0.0.0.0/in": "unspecified",
    "https://user:pw@hooks.example.vn/in": "user name or password",
    "not a url": "https",
}


async def test_only_https_on_public_addresses_is_accepted(system):
    admin = system.auth("city_admin")
    before = await endpoint_rows(system)
    for url, why in REFUSED.items():
        if why is None:
            continue
        response = await system.client.post("/api/webhooks/v1/endpoints", headers=admin,
                                            json={"committee": "ba-dinh", "url": url})
        assert response.status_code == 422, (url, response.text)
        problem = assert_problem(422, response.headers, response.content, where=url, field="url")
        (error,) = [e for e in problem["errors"] if e["field"] == "url"]
        assert why in error["reason"], (url, error)
    assert await endpoint_rows(system) == before
    for body, field in (({"committee": "Ba Dinh", "url": "https://hooks.example.vn/"}, "committee"),
                        ({"committee": "nowhere", "url": "https://hooks.example.vn/"}, "committee"),
                        ({"committee": "ba-dinh", "url": "https://hooks.example.vn/", "mode": "raw"}, "mode")):
        response = await system.client.post("/api/webhooks/v1/endpoints", headers=admin, json=body)
        assert response.status_code == 422, response.text
        assert_problem(422, response.headers, response.content, field=field)
    assert await endpoint_rows(system) == before


async def test_a_name_that_resolves_inward_is_refused_when_connecting(receiver):
    port = receiver.server.server_address[1]

    async def rebinding(host: str, port: int) -> list[str]:  # public when saved, loopback when used
        return ["127.0.0.2"]
    for policy, url in ((EgressPolicy(resolve=rebinding), f"https://hooks.example.vn:{port}/rebound"),
                        (EgressPolicy(trusted=parse_networks("127.0.0.2/32")), f"http://127.0.0.3:{port}/other"),
                        (EgressPolicy(), f"http://127.0.0.2:{port}/untrusted")):
        sender = Sender(policy, timeout_s=3)
        try:
            attempt = await sender.send(url=url, mode="structured", secret="whsec_x", published=b"{}", delivery_id=1,
                                        attempt=1, endpoint_id=str(uuid.uuid4()), traceparent=None)
        finally:
            await sender.close()
        assert not attempt.ok and "refused" in attempt.error, (url, attempt)
    assert not [r for r in receiver.received if r.path in ("/rebound", "/other", "/untrusted")]


async def test_a_redirect_is_a_failed_try_not_followed(receiver):
    receiver.script["/moved"] = [302]
    sender = Sender(EgressPolicy(trusted=parse_networks("127.0.0.2/32")), timeout_s=3)
    try:
        attempt = await sender.send(url=receiver.base_url + "/moved", mode="structured", secret="whsec_x",
                                    published=b"{}", delivery_id=1, attempt=1, endpoint_id="e", traceparent=None)
    finally:
        await sender.close()
    assert not attempt.ok and attempt.status_code == 302
    assert len(receiver.at("/moved")) == 1


async def test_only_city_admins_manage_webhooks(system):
    made = await system.client.post("/api/webhooks/v1/endpoints", headers=system.auth("city_admin"),
                                    json={"committee": "ba-dinh", "url": "https://hooks.example.vn/roles"})
    assert made.status_code == 201, made.text
    endpoint_id = made.json()["id"]
    before = await endpoint_rows(system)
    calls = [("GET", "/endpoints", None), ("POST", "/endpoints", {"committee": "ba-dinh",
                                                                  "url": "https://hooks.example.vn/mine"}),
             ("PUT", f"/endpoints/{endpoint_id}/enabled", {"enabled": False}), ("GET", "/deliveries", None),
             ("GET", "/deliveries/1", None), ("POST", "/deliveries/1/retry", None),
             ("POST", "/deliveries/retry", {})]
    for role, unit in (("unit_admin", "ba-dinh"), ("unit_admin", "city"), ("chief_editor", "city"),
                       ("city_admin", "ba-dinh"), ("member", "ba-dinh-g1-c1")):
        for method, path, body in calls:
            response = await system.client.request(method, f"/api/webhooks/v1{path}", json=body,
                                                   headers=system.auth(role, unit))
            assert response.status_code == 403, (role, unit, method, path, response.text)
            assert_problem(403, response.headers, response.content)
            assert "whsec_" not in response.text
    for method, path, body in calls:
        response = await system.client.request(method, f"/api/webhooks/v1{path}", json=body)
        assert response.status_code == 401
    assert await endpoint_rows(system) == before
    listed = await system.client.get("/api/webhooks/v1/endpoints", headers=system.auth("city_admin"))
    assert [e["enabled"] for e in listed.json()["items"] if e["id"] == endpoint_id] == [True]


async def test_the_secret_is_shown_once_never_listed_never_logged_and_sealed(system, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    admin = system.auth("city_admin")
    made = await system.client.post("/api/webhooks/v1/endpoints", headers=admin,
                                    json={"committee": "tay-ho", "url": receiver.base_url + "/secret"})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret, endpoint_id = made.json()["secret"], made.json()["id"]
    receiver.script["/secret"] = [500, 200]
    response = await system.client.post("/api/members/v1/org-units", headers=admin,
                                        json={"code": "tay-ho-g9", "name": "Đảng bộ 9", "kind": "grassroots",
                                              "parent": "tay-ho"})
    assert response.status_code == 201
    await eventually(lambda: len(receiver.at("/secret")) >= 2, timeout=15)
    for path in ("/endpoints", "/deliveries", f"/deliveries?endpoint={endpoint_id}"):
        shown = await system.client.get(f"/api/webhooks/v1{path}", headers=admin)
        assert shown.status_code == 200 and secret not in shown.text and "whsec_" not in shown.text
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "webhook delivery" in logged  # the bridge did log its tries …
    assert secret not in logged and secret[6:] not in logged  # … never the secret
    for r in receiver.at("/secret"):
        assert secret not in r.headers.get("sotay-signature", "") and secret.encode() not in r.body
    async with system.runtimes["webhooks"].context.engine.connect() as db:
        sealed = (await db.execute(text("SELECT secret_sealed FROM endpoints WHERE id = :i"),
                                   {"i": endpoint_id})).scalar()
        dump = (await db.execute(text("SELECT string_agg(e::text, ' ') FROM endpoints e"))).scalar()
    assert secret.encode() not in bytes(sealed) and secret not in dump
    kek = webhooks_kek(system.settings)
    assert unseal(kek, bytes(sealed), context=secret_context(endpoint_id)).decode() == secret
    with pytest.raises(MissingKey):  # moved to another endpoint's row, it does not open
        unseal(kek, bytes(sealed), context=secret_context(uuid.uuid4()))


def test_a_forged_stale_or_altered_request_fails_the_check():
    secret, body, now = "whsec_abc", b'{"id":"1"}', time.time()
    good = signature(secret, int(now), body)
    assert verify(secret, good, body, now=now)
    assert not verify("whsec_other", good, body, now=now)
    assert not verify(secret, good, body.replace(b"1", b"2"), now=now)
    assert not verify(secret, signature(secret, int(now) - 3600, body), body, now=now)  # replayed an hour later
    t, _, mac = good.partition(",")
    assert not verify(secret, f"t={int(now) + 1},{mac}", body, now=now)  # the time moved, the MAC kept
    assert not verify(secret, "v1=" + good.rpartition("v1=")[2], body, now=now)  # no time
    assert not verify(secret, "", body, now=now) and not verify(secret, "t=x,v1=y", body, now=now)
    assert verify(secret, f"{good},v1=deadbeef", body, now=now)  # several v1 (a secret being rolled): one suffices
