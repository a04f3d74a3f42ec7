"""Every operation of every service's HTTP API, fuzzed from its own OpenAPI
document with schemathesis against the real services (real NATS and
PostgreSQL, a real uvicorn server), with tokens of every role so requests get
past authentication, and with the seeded ids as path parameters as well as
generated ones so they reach past the lookups.

Checked on every response: no 5xx; a 4xx is application/problem+json with
its status, a title and, for 422, each field with its reason; the status
code, the content type and the body conform to what the document says.

Bounded and reproducible: a few examples per operation and generation mode,
derandomized (hypothesis's fixed seed), no example database."""

from __future__ import annotations

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.attacks.tally import count, cover
from tests.attacks.world import COMMITTEES
from tests.attacks.problems import assert_problem

pytestmark = pytest.mark.integration

SERVICES = ("members", "identity", "content", "metrics")
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 6}
# An endless server-sent event stream: a plain request would wait on it forever
# (tests/attacks/test_authorization.py checks who may open it).
NOT_FUZZED = {"GET /api/metrics/v1/rollout/stream"}

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


def callers(world) -> list[tuple[str, dict[str, str]]]:
    """Who calls: every role, somewhere in the tree, and members with their own card."""
    out = [("city_admin", world.auth("city_admin")), ("nobody", {})]
    for committee in COMMITTEES:
        out += [(f"{role}@{committee}", world.auth(role, committee))
                for role in ("unit_admin", "editor", "chief_editor")]
    out += [("cell_secretary@bd-g1-c1", world.auth("cell_secretary", "bd-g1-c1"))]
    out += [(f"member {who}", world.member_auth(who)) for who in ("an", "cuong")]
    return out


def known_path_values(world) -> dict[str, list[str]]:
    ids = world.ids
    return {
        "member_id": [ids["member_an"], ids["member_cuong"]],
        "reg_id": [ids["registration_an"], ids["registration_dung"]],
        "article_id": [ids["article_ba-dinh"], ids["article_tay-ho"], ids["draft_ba-dinh"]],
        "feedback_id": [ids["feedback_ba-dinh"]],
        "meeting_id": [ids["meeting_bd-g1-c1"]],
        "document_id": [ids["document_ba-dinh"]],
        "request_id": [ids["correction_an"]],
        "account_id": [ids["account_cuong"]],
        "code": ["ba-dinh", "th-g1-c1", "city"],
        "number": ["1", "2"],
    }


def strategy(operation, mode: GenerationMode, known: dict[str, list[str]]):
    """Cases with generated parameters, and with each known value for the operation's path parameters."""
    names = [p.name for p in operation.path_parameters]
    variants = [operation.as_strategy(generation_mode=mode)]
    if names and mode is GenerationMode.POSITIVE and all(n in known for n in names):
        for i in range(max(len(known[n]) for n in names)):
            fixed = {n: known[n][i % len(known[n])] for n in names}
            variants.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    return st.one_of(variants)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_survives_fuzzing(world, session, service):
    document = httpx.get(f"{world.base_url}/api/{service}/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    known = known_path_values(world)
    who = callers(world)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    fuzzed = 0
    for operation in operations:
        if operation.label in NOT_FUZZED:
            continue
        cover("endpoints fuzzed by schemathesis", operation.label)
        for mode, examples in EXAMPLES.items():

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck), print_blob=True,
                      phases=[Phase.explicit, Phase.generate])
            @given(case=strategy(operation, mode, known), caller=st.sampled_from(who))
            def fuzz(case, caller):
                _, headers = caller
                response = case.call(base_url=world.base_url, session=session, headers=headers, timeout=30)
                count("HTTP requests tried by schemathesis")
                count(f"  {mode.value} cases")
                case.validate_response(response, checks=CHECKS, headers=headers)
                if 400 <= response.status_code < 500:
                    assert_problem(response.status_code, response.headers, response.content,
                                   where=f"{case.method} {case.formatted_path}")
            try:
                fuzz()
            except Unsatisfiable:
                # Nothing of the operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
        fuzzed += 1
    assert fuzzed >= len(operations) - len(NOT_FUZZED)

