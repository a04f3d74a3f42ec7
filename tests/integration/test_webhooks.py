"""The webhook bridge on real NATS and PostgreSQL, members' real events, and a local receiver
(tests/support/webhooks.py) over plain http on 127.0.0.2, the one address the tests trust
(SOTAY_WEBHOOK_ALLOW_NETWORKS): events arrive signed and verifiable, byte for byte as published;
a receiver failing once gets the event on the retry; one that always fails ends in SOTAY_DLQ with
the reason, its delivery failed in the API, and an operator's retry sends it; a committee's
endpoint never gets another committee's events; a slow endpoint holds up no other; a restart
loses nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
from sqlalchemy import text

import services.members
import services.webhooks
from services.webhooks.domain import verify
from services.webhooks.entrypoints import models
from sotay.kit import dlq
from sotay.kit.service import ServiceRuntime
from tests.support.system import create_org_tree, eventually, make_settings, running_system
from tests.support.webhooks import LocalReceiver

pytestmark = pytest.mark.integration

FAST = dict(webhook_allow_networks="127.0.0.2/32", webhook_retry_base_s=0.1, webhook_retry_max_s=0.4,
            webhook_max_attempts=3, webhook_poll_s=0.05, webhook_timeout_s=5.0)


@pytest.fixture(scope="module")
def receiver():
    with LocalReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url, receiver):
    settings = make_settings(data_dir, **FAST)
    async with running_system([services.members.definition(), services.webhooks.definition()], settings,
                              nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh", "tay-ho"], admin)
        system.endpoints = {}
        for committee, path, mode in (("ba-dinh", "/ba-dinh", "structured"), ("tay-ho", "/tay-ho", "structured"),
                                      ("city", "/city", "binary")):
            system.endpoints[committee] = await add_endpoint(system, committee, receiver.base_url + path, mode)
        yield system


async def add_endpoint(system, committee: str, url: str, mode: str = "structured") -> dict:
    async def added():  # the committee is known once webhooks has its OrgUnitCreated
        response = await system.client.post("/api/webhooks/v1/endpoints", headers=system.auth("city_admin"),
                                             json={"committee": committee, "url": url, "mode": mode})
        return response.json() if response.status_code == 201 else None
    return await eventually(added)


async def new_unit(system, code: str, parent: str) -> str:
    """A grassroots unit made through members; the id of the OrgUnitCreated event it publishes."""
    response = await system.client.post("/api/members/v1/org-units", headers=system.auth("city_admin"),
                                         json={"code": code, "name": f"Đảng bộ {code}", "kind": "grassroots",
                                               "parent": parent})
    assert response.status_code == 201, response.text

    async def published():
        return (await scalar(system, "members", "SELECT event_id::text FROM outbox WHERE published_at IS NOT NULL "
                             "AND convert_from(body, 'UTF8')::jsonb->'data'->>'code' = :c", c=code))
    return await eventually(published)


async def scalar(system, service: str, sql: str, **params):
    async with system.runtimes[service].context.engine.connect() as db:
        return (await db.execute(text(sql), params)).scalar()


def ids_at(receiver: LocalReceiver, path: str) -> list[str]:
    return [r.headers["ce-id"] if "ce-id" in r.headers else orjson.loads(r.body)["id"] for r in receiver.at(path)]


async def test_events_arrive_signed_verifiable_and_as_published(system, receiver):
    event_id = await new_unit(system, "ba-dinh-g7", "ba-dinh")
    await eventually(lambda: event_id in ids_at(receiver, "/ba-dinh"))
    (got,) = [r for r in receiver.at("/ba-dinh") if orjson.loads(r.body)["id"] == event_id]
    secret = system.endpoints["ba-dinh"]["secret"]
    assert got.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert verify(secret, got.headers["sotay-signature"], got.body, now=time.time())
    assert not verify(secret, got.headers["sotay-signature"], got.body + b" ", now=time.time())
    assert not verify(system.endpoints["tay-ho"]["secret"], got.headers["sotay-signature"], got.body, now=time.time())
    # Byte for byte what the stream holds (nothing opened, nothing re-encoded).
    js = system.runtimes["webhooks"].context.js

    async def delivered():  # recorded once the receiver's answer is in
        rows = (await system.client.get("/api/webhooks/v1/deliveries", headers=system.auth("city_admin"),
                                        params={"endpoint": system.endpoints["ba-dinh"]["id"],
                                                "status": "delivered"})).json()["items"]
        return [d for d in rows if d["event_id"] == event_id]
    (delivery,) = await eventually(delivered)
    # The answers are what the routes document (entrypoints/models.py).
    admin = system.auth("city_admin")
    models.Deliveries.model_validate((await system.client.get("/api/webhooks/v1/deliveries", headers=admin)).json())
    models.Delivery.model_validate((await system.client.get(f"/api/webhooks/v1/deliveries/{delivery['id']}",
                                                            headers=admin)).json())
    models.Endpoints.model_validate((await system.client.get("/api/webhooks/v1/endpoints", headers=admin)).json())
    models.NewEndpoint.model_validate(system.endpoints["ba-dinh"])
    stored = await js.get_msg(delivery["stream"], seq=delivery["stream_seq"])
    assert got.body == stored.data
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert got.headers["sotay-delivery"] == str(delivery["id"]) and got.headers["sotay-attempt"] == "1"
    # A delivered row keeps what happened, not the event.
    assert await scalar(system, "webhooks", "SELECT body IS NULL FROM deliveries WHERE id = :i", i=delivery["id"])


async def test_binary_mode_carries_the_attributes_as_headers(system, receiver):
    # The city endpoint gets the city's own events: the city unit renamed.
    response = await system.client.patch("/api/members/v1/org-units/city", headers=system.auth("city_admin"),
                                         json={"name": "Thành phố Hà Nội (mới)"})
    assert response.status_code == 200, response.text
    got = await eventually(lambda: [r for r in receiver.at("/city") if r.headers.get("ce-type", "").endswith(
        "OrgUnitUpdated.v1")])
    first = got[-1]
    assert first.headers["ce-specversion"] == "1.0" and first.headers["ce-source"] == "sotay/members"
    assert first.headers["content-type"] == "application/json"
    assert orjson.loads(first.body)["code"] == "city"
    assert verify(system.endpoints["city"]["secret"], first.headers["sotay-signature"], first.body, now=time.time())


async def test_a_committee_gets_its_own_events_only_and_a_slow_one_holds_up_no_other(system, receiver):
    receiver.delays["/tay-ho"] = 2.0  # tay-ho's system answers slowly
    try:
        ours = [await new_unit(system, f"ba-dinh-g{n}", "ba-dinh") for n in (10, 11, 12)]
        theirs = [await new_unit(system, f"tay-ho-g{n}", "tay-ho") for n in (10, 11)]
        started = time.monotonic()
        await eventually(lambda: set(ours) <= set(ids_at(receiver, "/ba-dinh")), timeout=10)
        assert time.monotonic() - started < 3.0, "ba-dinh's deliveries waited for tay-ho's slow endpoint"
        await eventually(lambda: set(theirs) <= set(ids_at(receiver, "/tay-ho")), timeout=20)
    finally:
        receiver.delays.pop("/tay-ho")
    assert not set(theirs) & set(ids_at(receiver, "/ba-dinh"))
    assert not set(ours) & set(ids_at(receiver, "/tay-ho"))
    # Stream order per endpoint.
    got = [i for i in ids_at(receiver, "/ba-dinh") if i in ours]
    assert got == ours
    # Every event a ba-dinh endpoint ever got was published on a ba-dinh subject.
    js = system.runtimes["webhooks"].context.js
    for r in receiver.at("/ba-dinh"):
        delivery = await system.client.get(f"/api/webhooks/v1/deliveries/{r.headers['sotay-delivery']}",
                                           headers=system.auth("city_admin"))
        assert delivery.json()["subject"].endswith(".ba-dinh")
        stored = await js.get_msg(delivery.json()["stream"], seq=delivery.json()["stream_seq"])
        assert stored.subject.endswith(".ba-dinh") and stored.data == r.body


async def test_a_stream_goes_in_stream_order_even_when_queued_out_of_order(system, receiver):
    """Two replicas applying batches of one stream side by side may commit the later batch first."""
    ordered = await add_endpoint(system, "tay-ho", receiver.base_url + "/order")
    later, earlier = str(uuid.uuid4()), str(uuid.uuid4())
    async with system.runtimes["webhooks"].context.engine.begin() as db:
        for event_id, seq in ((later, 900_002), (earlier, 900_001)):  # the later one queued first
            body = orjson.dumps({"specversion": "1.0", "id": event_id, "source": "sotay/members",
                                 "type": "sotay.members.OrgUnitUpdated.v1", "data": {}})
            await db.execute(text(
                "INSERT INTO deliveries (endpoint_id, event_id, event_type, subject, stream, stream_seq, body) "
                "VALUES (:e, :i, 'sotay.members.OrgUnitUpdated.v1', 'sotay.members.org_unit_updated.tay-ho', "
                "'SOTAY_MEMBERS', :s, :b)"), {"e": ordered["id"], "i": event_id, "s": seq, "b": body})
    await eventually(lambda: len(receiver.at("/order")) >= 2)
    assert ids_at(receiver, "/order")[:2] == [earlier, later]


async def test_a_receiver_failing_once_gets_the_event_on_the_retry(system, receiver):
    flaky = await add_endpoint(system, "ba-dinh", receiver.base_url + "/flaky")
    receiver.script["/flaky"] = [500, 200]
    event_id = await new_unit(system, "ba-dinh-g20", "ba-dinh")
    await eventually(lambda: ids_at(receiver, "/flaky").count(event_id) == 2)
    tries = [r for r in receiver.at("/flaky") if orjson.loads(r.body)["id"] == event_id]
    assert [r.headers["sotay-attempt"] for r in tries] == ["1", "2"]
    assert all(verify(flaky["secret"], r.headers["sotay-signature"], r.body, now=time.time()) for r in tries)

    async def delivered():
        items = (await system.client.get("/api/webhooks/v1/deliveries", headers=system.auth("city_admin"),
                                         params={"endpoint": flaky["id"], "status": "delivered"})).json()["items"]
        return [d for d in items if d["event_id"] == event_id]
    (delivery,) = await eventually(delivered)
    assert delivery["attempts"] == 2 and delivery["last_status_code"] == 200


async def test_an_endpoint_that_always_fails_ends_in_the_dlq_and_an_operator_retries_it(system, receiver):
    down = await add_endpoint(system, "tay-ho", receiver.base_url + "/down")
    receiver.script["/down"] = [503]
    event_id = await new_unit(system, "tay-ho-g30", "tay-ho")
    admin = system.auth("city_admin")

    async def failed():
        items = (await system.client.get("/api/webhooks/v1/deliveries", headers=admin,
                                         params={"status": "failed"})).json()["items"]
        return [d for d in items if d["event_id"] == event_id]
    (delivery,) = await eventually(failed, timeout=15)
    assert delivery["endpoint_id"] == down["id"] and delivery["attempts"] == 3
    assert delivery["last_status_code"] == 503 and delivery["last_error"] == "answered 503"
    assert ids_at(receiver, "/down").count(event_id) == 3
    # The other endpoint of tay-ho got it all the same.
    assert event_id in ids_at(receiver, "/tay-ho")
    js = system.runtimes["webhooks"].context.js
    letters = [d async for d in dlq.letters(js, consumer="webhooks-deliver")]
    (letter,) = [d for d in letters if d.event_id == event_id]
    assert "failed 3 tries" in letter.reason and "answered 503" in letter.reason and down["id"] in letter.reason
    assert letter.subject.endswith(".tay-ho") and letter.deliveries == 3
    assert letter.headers["Sotay-Webhook-Delivery"] == str(delivery["id"])

    # Not failed: refused. Failed, and the endpoint back: sent again and delivered.
    pending = (await system.client.get("/api/webhooks/v1/deliveries", headers=admin,
                                       params={"status": "delivered", "limit": 1})).json()["items"][0]
    refused = await system.client.post(f"/api/webhooks/v1/deliveries/{pending['id']}/retry", headers=admin)
    assert refused.status_code == 409, refused.text
    receiver.script["/down"] = [200]
    retried = await system.client.post(f"/api/webhooks/v1/deliveries/{delivery['id']}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["status"] == "pending", retried.text

    async def delivered():
        one = (await system.client.get(f"/api/webhooks/v1/deliveries/{delivery['id']}", headers=admin)).json()
        return one if one["status"] == "delivered" else None
    assert (await eventually(delivered))["attempts"] == 1
    assert ids_at(receiver, "/down").count(event_id) == 4


async def test_the_command_line_sets_up_an_endpoint_lists_and_retries(system, receiver, database_url, data_dir,
                                                                       monkeypatch, capsys):
    from sotay.system.cli import main as sotay_main

    for name, value in {"SOTAY_DATABASE_URL": database_url, "SOTAY_DATA_DIR": str(data_dir),
                        "SOTAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.2/32"}.items():
        monkeypatch.setenv(name, value)
    refused = await asyncio.to_thread(sotay_main, ["webhooks", "add", "--committee", "tay-ho", "--url",
                                                   "http://hooks.example.vn/x"])
    assert refused == 2 and "url must be an https address" in capsys.readouterr().err
    assert await asyncio.to_thread(sotay_main, ["webhooks", "add", "--committee", "tay-ho", "--url",
                                                receiver.base_url + "/cli"]) == 0
    out = capsys.readouterr().out
    secret = out.split("shown this once; give it to the receiving system): ")[1].strip()
    assert secret.startswith("whsec_")
    receiver.script["/cli"] = [500]
    event_id = await new_unit(system, "tay-ho-g50", "tay-ho")
    await eventually(lambda: ids_at(receiver, "/cli").count(event_id) == 3, timeout=15)
    first = receiver.at("/cli")[0]
    assert verify(secret, first.headers["sotay-signature"], first.body, now=time.time())

    async def failed_in_the_list():
        await asyncio.to_thread(sotay_main, ["webhooks", "status", "--status", "failed", "--committee", "tay-ho"])
        listed = capsys.readouterr().out
        return listed if "answered 500" in listed else None
    listed = await eventually(failed_in_the_list, timeout=10)
    (line,) = [line for line in listed.splitlines() if "answered 500" in line]
    delivery_id = line.split()[0]
    assert await asyncio.to_thread(sotay_main, ["webhooks", "list"]) == 0
    assert secret not in capsys.readouterr().out
    receiver.script["/cli"] = [200]
    assert await asyncio.to_thread(sotay_main, ["webhooks", "retry", delivery_id]) == 0
    assert f"1 deliveries to send again: {delivery_id}" in capsys.readouterr().out
    await eventually(lambda: ids_at(receiver, "/cli").count(event_id) == 4)
    assert await asyncio.to_thread(sotay_main, ["webhooks", "retry", delivery_id]) == 1  # not failed any more


async def test_a_restart_loses_nothing(system, receiver):
    webhooks = system.runtimes["webhooks"]
    await webhooks.stop()
    try:
        while_down = [await new_unit(system, f"ba-dinh-g{n}", "ba-dinh") for n in (40, 41, 42)]
        await asyncio.sleep(0.5)
        assert not set(while_down) & set(ids_at(receiver, "/ba-dinh"))
    finally:
        again = ServiceRuntime(services.webhooks.definition(), system.settings, webhooks.nats_url,
                               webhooks.database_url)
        await again.start()
        system.runtimes["webhooks"] = again
    await eventually(lambda: set(while_down) <= set(ids_at(receiver, "/ba-dinh")), timeout=15)
    got = [i for i in ids_at(receiver, "/ba-dinh") if i in while_down]
    assert got == while_down  # once each, in order
