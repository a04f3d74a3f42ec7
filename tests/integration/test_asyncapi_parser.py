"""Each service's AsyncAPI document, as it serves it, checked by the official parser
(@asyncapi/parser, run under Node: tests/support/asyncapi_validate.mjs): no diagnostic of severity
error (warnings are printed). And what the parser does not check: every `{parameter}` of a
channel's address is declared, with a description and examples; no message claims a header the
events do not carry; what a service consumes is there (`receive`) beside what it publishes (`send`)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import services.content
import services.identity
import services.members
import services.metrics
from tests.support.npm import node_binary, npm_packages
from tests.support.system import make_settings, running_system

pytestmark = pytest.mark.integration

PARSER = "@asyncapi/parser@3.6.6"
SCRIPT = "tests/support/asyncapi_validate.mjs"
SERVICES = ("members", "identity", "content", "metrics")
ERROR, WARNING = 0, 1


@pytest.fixture(scope="module")
async def documents(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        found = {}
        for service in SERVICES:
            answer = await system.client.get(f"/api/{service}/v1/asyncapi")
            assert answer.status_code == 200, answer.text
            found[service] = answer.json()
        yield found


def test_the_official_parser_finds_no_error(documents, tmp_path):
    prefix = npm_packages(PARSER)
    files = []
    for service, document in documents.items():
        files.append(tmp_path / f"{service}.json")
        files[-1].write_text(json.dumps(document))
    done = subprocess.run([node_binary(), SCRIPT, str(prefix), *map(str, files)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for file in files:
        result = report[str(file)]
        errors = [d for d in result["diagnostics"] if d["severity"] == ERROR]
        for warning in (d for d in result["diagnostics"] if d["severity"] == WARNING):
            print(f"{file.stem}: warning {warning['code']} at {warning['path']}: {warning['message']}")
        assert not errors, f"{file.stem}: " + "\n".join(f"{d['code']} at {d['path']}: {d['message']}" for d in errors)
        assert result["parsed"] and result["version"].startswith("3.")


def test_the_parser_does_see_a_broken_document(documents, tmp_path):
    """The check above can fail: an operation with an action AsyncAPI 3 does not have, and a channel
    reference to nowhere, are errors."""
    prefix = npm_packages(PARSER)
    wrong_action, wrong_ref = (json.loads(json.dumps(documents["members"])) for _ in range(2))
    next(iter(wrong_action["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word
    next(iter(wrong_ref["operations"].values()))["channel"] = {"$ref": "#/channels/nowhere"}
    paths = [tmp_path / "action.json", tmp_path / "ref.json"]
    for path, document in zip(paths, (wrong_action, wrong_ref)):
        path.write_text(json.dumps(document))
    done = subprocess.run([node_binary(), SCRIPT, str(prefix), *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    report = json.loads(done.stdout)
    codes = [{d["code"] for d in report[str(path)]["diagnostics"] if d["severity"] == ERROR} for path in paths]
    assert "asyncapi-document-resolved" in codes[0] and "invalid-ref" in codes[1], codes


@pytest.mark.parametrize("service", SERVICES)
def test_every_channel_declares_its_parameters(documents, service):
    channels = documents[service]["channels"]
    assert channels
    for name, channel in channels.items():
        expressions = set(re.findall(r"\{([^}]+)\}", channel["address"]))
        assert expressions == {"committee"}, (name, channel["address"])
        declared = channel.get("parameters", {})
        assert set(declared) == expressions, name
        for parameter in declared.values():
            assert parameter["description"] and "city" in parameter["examples"], name


@pytest.mark.parametrize("service", SERVICES)
def test_messages_declare_only_the_headers_events_carry(documents, service):
    """The relay sends Nats-Msg-Id (the event id) and, when traced, traceparent: nothing else. No
    message claims a correlation id (FastStream's generator used to add one)."""
    document = documents[service]
    assert "correlation" not in json.dumps(document).lower()
    for key, message in document["components"]["messages"].items():
        assert set(message["headers"]["properties"]) == {"Nats-Msg-Id", "traceparent"}, key
        assert message["headers"]["required"] == ["Nats-Msg-Id"]


def test_what_a_service_consumes_is_there_beside_what_it_publishes(documents):
    identity = documents["identity"]["operations"]
    sent = {op["channel"]["$ref"] for op in identity.values() if op["action"] == "send"}
    received = {op["channel"]["$ref"] for op in identity.values() if op["action"] == "receive"}
    assert "#/channels/sotay.identity.AccountApproved.v1" in sent
    assert "#/channels/sotay.members.MemberRegistered.v2" in received
    assert "#/channels/sotay.members.MemberRegistered.v2" not in sent
    registered = documents["identity"]["channels"]["sotay.members.MemberRegistered.v2"]
    assert registered["address"] == "sotay.members.member_registered.{committee}"
    # Its payload schema is there too, the whole envelope: a consumer's contract.
    schema = documents["identity"]["components"]["schemas"]["sotay.members.MemberRegistered.v2"]
    assert {"specversion", "id", "source", "type", "data"} <= set(schema["required"])
    # Metrics consumes every service's events; content its own notices and identity's decisions as well.
    metrics = {op["channel"]["$ref"].split("/")[-1].split(".")[1] for op in documents["metrics"]["operations"].values()
               if op["action"] == "receive"}
    assert metrics == {"members", "identity", "content"}
    content = [op for op in documents["content"]["operations"].values() if op["action"] == "receive"]
    assert {op["title"].split()[0] for op in content} == {"content-registry", "content-notices",
                                                           "content-registrations"}


def test_the_server_names_no_credentials(documents):
    for document in documents.values():
        for server in document["servers"].values():
            assert "@" not in server["host"] and server["protocol"] == "nats"
