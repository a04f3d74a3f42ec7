"""The token endpoint as an OAuth 2.0 client library reads it (authlib): a password grant and a
refresh, and each refusal as RFC 6749 §5.2 says, application/json with `error` and
`error_description` (400 invalid_request for a missing or malformed parameter, not 422;
unsupported_grant_type; invalid_grant for wrong credentials), the `code` the pages translate
kept beside. And the JWKS and the server's metadata (RFC 8414) where clients look for them."""

from __future__ import annotations

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

import services.identity
import services.members
from tests.support.system import (
    CONSENT, create_org_tree, identity_holds_registry, import_registry, make_settings, registry_row, running_system,
)

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
TOKEN_URL = f"https://sotay.test{API}/token"
CARD = "0100000031"
PASSWORD = "Chi bo so 1 vung manh"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(CARD, "Vũ Thị Hà", "ba-dinh-g1-c1")], admin)
        await identity_holds_registry(system, 1)
        received = await system.client.post(f"{API}/registrations", json={
            "party_card_no": CARD, "full_name": "Vũ Thị Hà", "date_of_birth": "1970-01-01",
            "phone": f"09{CARD[-8:]}", "password": PASSWORD, "platform": "web", "consent": CONSENT})
        assert received.status_code == 202, received.text
        pending = (await system.client.get(f"{API}/registrations", headers=admin)).json()["items"]
        approved = await system.client.post(f"{API}/registrations/{pending[0]['id']}/approve", headers=admin)
        assert approved.status_code == 200, approved.text
        yield system


@pytest.fixture
async def oauth(system):
    """authlib's client, talking to the services in this process."""
    async with AsyncOAuth2Client(transport=httpx.ASGITransport(app=system.app), base_url="https://sotay.test",
                                 token_endpoint_auth_method="none") as client:
        yield client


async def test_a_client_library_signs_in_and_refreshes(oauth):
    token = await oauth.fetch_token(TOKEN_URL, grant_type="password", username=CARD, password=PASSWORD)
    assert token["token_type"] == "Bearer" and token["access_token"] and token["refresh_token"]
    renewed = await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])
    assert renewed["access_token"] != token["access_token"]
    me = await oauth.get(f"{API}/me")  # the client sends its new token
    assert me.status_code == 200 and me.json()["card"] == CARD


async def refused(oauth, data: dict, **kw) -> tuple[httpx.Response, OAuthError]:
    response = await oauth.request("POST", TOKEN_URL, data=data, withhold_token=True, **kw)
    assert response.headers["content-type"].split(";")[0] == "application/json", response.headers
    assert response.headers["cache-control"] == "no-store"
    with pytest.raises(OAuthError) as error:
        oauth.parse_response_token(response)  # what authlib makes of the answer
    return response, error.value


@pytest.mark.parametrize("data, field", [
    ({"username": CARD, "password": PASSWORD}, "grant_type"),
    ({"grant_type": "password", "password": PASSWORD}, "username"),
    ({"grant_type": "password", "username": CARD}, "password"),
    ({"grant_type": "refresh_token"}, "refresh_token"),
    ({"grant_type": "password", "username": "0" * 31, "password": PASSWORD}, "username"),
    ({"grant_type": "password", "username": "01\x0000031", "password": PASSWORD}, "username"),
    ({"grant_type": "password", "username": CARD, "password": PASSWORD, "refresh_delivery": "pigeon"},
     "refresh_delivery"),
])
async def test_a_missing_or_malformed_parameter_is_invalid_request(oauth, data, field):
    response, error = await refused(oauth, data)
    assert response.status_code == 400 and error.error == "invalid_request" and error.description
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_a_parameter_given_twice_is_invalid_request(oauth):
    body = f"grant_type=password&username={CARD}&username=0919999999&password=x"
    response, error = await refused(oauth, None, content=body,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and error.error == "invalid_request"


async def test_an_unsupported_grant_type(oauth):
    response, error = await refused(oauth, {"grant_type": "client_credentials"})
    assert response.status_code == 400 and error.error == "unsupported_grant_type"


async def test_wrong_credentials_are_invalid_grant_with_the_code_pages_translate(oauth):
    for username in (CARD, "0199999999"):  # an account's card, a card no account has: the same answer
        response, error = await refused(oauth, {"grant_type": "password", "username": username, "password": "wrong"})
        assert response.status_code == 400 and error.error == "invalid_grant"
        assert response.json()["code"] == "bad_credentials"  # web/assets/common.js says it in Vietnamese
    response, error = await refused(oauth, {"grant_type": "refresh_token", "refresh_token": "not-one-of-ours"})
    assert error.error == "invalid_grant" and response.json()["code"] == "session_ended"
    with pytest.raises(OAuthError) as raised:
        await oauth.fetch_token(TOKEN_URL, grant_type="password", username=CARD, password="still wrong")
    assert raised.value.error == "invalid_grant"


async def test_the_keys_and_the_metadata_where_clients_look(system):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=system.app), base_url="https://sotay.test") as c:
        under_api = (await c.get(f"{API}/.well-known/jwks.json")).json()
        assert under_api["keys"] and (await c.get("/.well-known/jwks.json")).json() == under_api
        documents = [(await c.get(path)) for path in (f"{API}/.well-known/oauth-authorization-server",
                                                     "/.well-known/oauth-authorization-server",
                                                     f"/.well-known/oauth-authorization-server{API}")]
        assert all(d.status_code == 200 for d in documents)
        metadata = documents[0].json()
        assert all(d.json() == metadata for d in documents)
        assert metadata["issuer"] == f"https://sotay.test{API}"
        assert metadata["token_endpoint"] == TOKEN_URL
        assert metadata["grant_types_supported"] == ["password", "refresh_token"]
        checked = AuthorizationServerMetadata(metadata)
        for name in dir(checked):
            # response_types_supported: RFC 8414 requires the member; there is no authorization
            # endpoint, so it is honestly empty, which authlib takes for missing.
            if name.startswith("validate_") and name != "validate_response_types_supported":
                getattr(checked, name)()
        assert metadata["response_types_supported"] == []
        assert (await c.get(metadata["jwks_uri"].removeprefix("https://sotay.test"))).json() == under_api
        # Not an OpenID provider: no ID tokens, nothing to discover there.
        assert (await c.get(f"{API}/.well-known/openid-configuration")).status_code == 404
