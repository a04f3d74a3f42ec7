"""Identity's OpenAPI document says what each route returns: every operation has a success
response with a schema, and real answers validate against the models the document names."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.identity
import services.members
from services.identity.entrypoints.models import (
    AccountRoles,
    ConsentsByUnit,
    Decision,
    Jwks,
    Me,
    OwnConsents,
    OwnRegistration,
    PrivacyNotice,
    Registration,
    RegistrationPage,
    RegistrationReceived,
    Revoked,
    Tokens,
)
from tests.support.system import (
    CONSENT,
    create_org_tree,
    eventually,
    import_registry,
    make_settings,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
CARD = "0100000001"
PASSWORD = "Chi bo so 1 vung manh"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), services.identity.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(CARD, "Nguyễn Văn An", "ba-dinh-g1-c1")], admin)

        async def replicated():
            async with system.runtimes["identity"].context.engine.connect() as db:
                return (await db.execute(text("SELECT count(*) FROM registry_members"))).scalar_one() == 1
        await eventually(replicated, timeout=30)
        yield system


def schema_of(response: dict) -> dict:
    return next(iter(response.get("content", {}).values()), {}).get("schema", {})


async def test_every_operation_documents_its_success_response(system):
    document = (await system.client.get(f"{API}/openapi.json")).json()
    operations = [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert len(operations) == 24  # every route of http.py (3 of them password resets, issue 18; /me/data and
    # 5 of consent, issue 19; the OAuth server's metadata, issue 21)
    for method, path, op in operations:
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert success, f"{method} {path}: no success response"
        for code, response in success.items():
            assert schema_of(response), f"{method} {path} {code}: no schema"
    token = document["paths"][f"{API}/token"]["post"]["responses"]["200"]
    assert schema_of(token) == {"$ref": "#/components/schemas/Tokens"}
    registered = document["paths"][f"{API}/registrations"]["post"]["responses"]["202"]
    assert schema_of(registered) == {"$ref": "#/components/schemas/RegistrationReceived"}


async def test_real_answers_validate_against_their_models(system):
    admin = system.auth("city_admin")
    body = {"party_card_no": CARD, "full_name": "Nguyễn Văn An", "date_of_birth": "1970-01-01",
            "phone": "0900000001", "password": PASSWORD, "platform": "mobile", "consent": CONSENT}
    received = await system.client.post(f"{API}/registrations", json=body)
    assert received.status_code == 202, received.text
    reg_id = RegistrationReceived.model_validate(received.json()).id

    own = await system.client.post(f"{API}/registrations/status", json={"party_card_no": CARD, "password": PASSWORD})
    assert OwnRegistration.model_validate(own.json()).status == "pending"
    page = await system.client.get(f"{API}/registrations", headers=admin)
    assert reg_id in [r.id for r in RegistrationPage.model_validate(page.json()).items]
    one = Registration.model_validate((await system.client.get(f"{API}/registrations/{reg_id}", headers=admin)).json())
    assert one.match_result == "matched" and one.comparison is not None

    approved = await system.client.post(f"{API}/registrations/{reg_id}/approve", headers=admin)
    decision = Decision.model_validate(approved.json())
    assert decision.status == "approved" and decision.account_id

    signed_in = await system.client.post(f"{API}/token", data={"grant_type": "password", "username": CARD,
                                                               "password": PASSWORD})
    tokens = Tokens.model_validate(signed_in.json())
    me = Me.model_validate((await system.client.get(
        f"{API}/me", headers={"Authorization": f"Bearer {tokens.access_token}"})).json())
    assert me.subject == decision.account_id and me.card == CARD
    assert Jwks.model_validate((await system.client.get(f"{API}/.well-known/jwks.json")).json()).keys

    member = {"Authorization": f"Bearer {tokens.access_token}"}
    assert PrivacyNotice.model_validate((await system.client.get(f"{API}/privacy-notice")).json()).current
    assert OwnConsents.model_validate((await system.client.get(f"{API}/me/consents", headers=member)).json()).history
    given = await system.client.post(f"{API}/me/consents", headers=member,
                                     json={"notice_version": 1, "purposes": ["push"], "platform": "web"})
    withdrawn = await system.client.post(f"{API}/me/consents/withdraw", headers=member,
                                         json={"purposes": ["push"], "platform": "web"})
    assert [OwnConsents.model_validate(r.json()).purposes[1].given for r in (given, withdrawn)] == [True, False]
    by_unit = ConsentsByUnit.model_validate((await system.client.get(
        f"{API}/consents", params={"unit": "ba-dinh"}, headers=admin)).json())
    assert [i.account_id for i in by_unit.items] == [decision.account_id]

    granted = await system.client.post(f"{API}/accounts/{decision.account_id}/grants", headers=admin,
                                       json={"role": "cell_secretary", "unit": "ba-dinh-g1-c1"})
    assert granted.status_code == 201, granted.text
    assert {"role": "cell_secretary", "unit": "ba-dinh-g1-c1"} in [
        r.model_dump() for r in AccountRoles.model_validate(granted.json()).roles]
    revoked = await system.client.post(f"{API}/token/revoke", data={"token": tokens.refresh_token})
    assert Revoked.model_validate(revoked.json()).revoked
