"""Content's OpenAPI document says what every route returns, and what the routes really
return is what it says (a few real answers validated against their response models)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.content
import services.members
from services.content.entrypoints.models import Article, ArticleList, ArticleSummary, FeedPage, UnitSettingsOut
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

API = "/api/content/v1"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.content.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        city = {"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}
        created = await system.client.post("/api/members/v1/org-units", json=city, headers=system.auth("city_admin"))
        assert created.status_code == 201, created.text

        async def tree_arrived() -> bool:
            async with system.runtimes["content"].context.engine.connect() as conn:
                return (await conn.execute(text("SELECT count(*) FROM org_units"))).scalar_one() == 1
        await eventually(tree_arrived, timeout=30)
        yield system


async def test_every_operation_describes_its_success_response(system):
    document = (await system.client.get(f"{API}/openapi.json")).json()
    operations = [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert len(operations) >= 37
    for method, path, op in operations:
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert success, f"{method} {path} declares no success response"
        for code, response in success.items():
            schemas = [media.get("schema") for media in response.get("content", {}).values()]
            assert schemas and all(schemas), f"{method} {path} {code} has no response schema"


async def test_real_answers_validate_against_their_models(system):
    editor, chief = system.auth("editor", subject="editor-1"), system.auth("chief_editor", subject="chief-1")
    created = await system.client.post(f"{API}/articles", headers=editor, json={
        "title": "Thông báo", "body": "Nội dung **bài**.", "category": "news", "audience": ["city"]})
    assert created.status_code == 201, created.text
    article = Article.model_validate(created.json())
    ArticleList.model_validate((await system.client.get(f"{API}/articles", headers=editor)).json())
    for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
        done = await system.client.post(f"{API}/articles/{article.id}/{step}", headers=who)
        assert done.status_code == 200, done.text
        ArticleSummary.model_validate(done.json())
    feed = FeedPage.model_validate((await system.client.get(f"{API}/feed", headers=system.auth("member"))).json())
    assert [item.id for item in feed.items] == [article.id]
    settings = await system.client.put(f"{API}/units/city/settings", headers=system.auth("unit_admin"),
                                       json={"moderate_feedback": False})
    assert UnitSettingsOut.model_validate(settings.json()).moderate_feedback is False
