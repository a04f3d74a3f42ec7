"""The request dependencies (sotay/kit/deps.py): each route checks tokens with its own
service's verifier, even when two services share one app as in `sotay up`."""

from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
import httpx

from sotay.kit.auth import Grant, mint_token
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import install_problem_handlers
from tests.unit.kit.test_auth import verifier_for


def app_of_two_services():
    keys = {"a": Ed25519PrivateKey.generate(), "b": Ed25519PrivateKey.generate()}
    app = FastAPI()
    install_problem_handlers(app)
    for name, key in keys.items():
        router = service_router(SimpleNamespace(verifier=verifier_for(key)))

        @router.get(f"/{name}/me")
        async def me(user: CurrentUser):
            return {"subject": user.subject}
        app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), keys


async def test_each_route_trusts_its_own_services_keys():
    client, keys = app_of_two_services()
    token_a = mint_token(keys["a"], "u1", [Grant("member", "c1")])
    assert (await client.get("/a/me", headers={"Authorization": f"Bearer {token_a}"})).json() == {"subject": "u1"}
    refused = await client.get("/b/me", headers={"Authorization": f"Bearer {token_a}"})
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert "unknown key" in refused.json()["detail"]


async def test_no_token_or_another_scheme_is_401():
    client, _ = app_of_two_services()
    for headers in ({}, {"Authorization": "Basic dTpw"}, {"Authorization": "Bearer "}):
        answer = await client.get("/a/me", headers=headers)
        assert answer.status_code == 401 and answer.json()["detail"] == "A bearer token is required."
