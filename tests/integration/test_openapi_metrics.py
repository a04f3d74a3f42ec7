"""Metrics' HTTP API documents what each route answers: every operation has a
success response with a schema, and real answers validate against the models
their routes declare (entrypoints/models.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.metrics
from services.metrics.entrypoints import models
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

UNITS = [("city", "city", "/city/", "city", None), ("ba-dinh", "committee", "/city/ba-dinh/", "ba-dinh", 1),
         ("ba-dinh-g1", "grassroots", "/city/ba-dinh/ba-dinh-g1/", "ba-dinh", None)]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.metrics.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        async with system.runtimes["metrics"].context.engine.begin() as db:
            for code, kind, path, committee, wave in UNITS:
                await db.execute(text("INSERT INTO units (code, unit_id, name, kind, path, committee, wave) "
                                      "VALUES (:c, :c, :c, :k, :p, :m, :w)"),
                                 {"c": code, "k": kind, "p": path, "m": committee, "w": wave})
        yield system


async def test_every_operation_documents_its_success_response(system):
    document = (await system.client.get("/api/metrics/v1/openapi.json")).json()
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()
                  if path.startswith("/api/metrics/v1/") and not path.endswith(("/openapi.json", "/asyncapi.json"))
                  and method in ("get", "post", "put", "patch", "delete")]
    assert len(operations) >= 11
    for path, method, op in operations:
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert success, f"{method.upper()} {path} documents no success response"
        for code, response in success.items():
            content = response.get("content", {})
            assert content, f"{method.upper()} {path} {code}: no content documented"
            for media, body in content.items():
                assert body.get("schema"), f"{method.upper()} {path} {code} {media}: an empty schema"
    by_route = {(path, method): op for path, method, op in operations}
    stream = by_route[("/api/metrics/v1/rollout/stream", "get")]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    training = by_route[("/api/metrics/v1/training", "post")]["responses"]
    assert training["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TrainingSession"}


async def test_real_answers_validate_against_their_models(system):
    c, admin = system.client, system.auth("city_admin")
    figures = await c.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh"}, headers=admin)
    assert figures.status_code == 200, figures.text
    assert models.Figures.model_validate(figures.json()).unit_code == "ba-dinh"

    recorded = await c.post("/api/metrics/v1/training", headers=system.auth("unit_admin", "ba-dinh"), json={
        "unit": "ba-dinh-g1", "held_on": "2023-01-10", "topic": "Cài đặt Sổ tay", "people": 7})
    assert recorded.status_code == 201, recorded.text
    assert models.TrainingSession.model_validate(recorded.json()).people == 7
    listed = models.TrainingSessions.model_validate(
        (await c.get("/api/metrics/v1/training", params={"unit": "ba-dinh"}, headers=admin)).json())
    assert [s.topic for s in listed.items] == ["Cài đặt Sổ tay"]

    async def trained():  # the recorded session's counters are read exactly, folded or not
        answer = await c.get("/api/metrics/v1/rollout/children", params={"unit": "ba-dinh"}, headers=admin)
        children = models.Children.model_validate(answer.json())
        return [(f.unit_code, f.trained_people) for f in children.items] == [("ba-dinh-g1", 7)]
    await eventually(trained)

    plan = models.Plan.model_validate((await c.get("/api/metrics/v1/plan", headers=admin)).json())
    assert [w.number for w in plan.waves] == [1, 2]
    assert [u.unit_code for u in plan.waves[0].units] == ["ba-dinh"]
    summary = await c.get("/api/metrics/v1/reports/summary", params={"unit": "ba-dinh", "lang": "en"}, headers=admin)
    assert models.Summary.model_validate(summary.json()).text.startswith("As of ")
    history = await c.get("/api/metrics/v1/rollout/history", params={"unit": "city"}, headers=admin)
    assert history.status_code == 200, history.text
    assert models.History.model_validate(history.json()).figure == "installed_pct_eligible"
    wave = await c.put("/api/metrics/v1/plan/waves/3", headers=admin, json={
        "name": "Đợt ba", "starts_on": "2023-07-01", "target_pct": 90, "deadline": "2023-12-31"})
    assert models.WaveSet.model_validate(wave.json()).number == 3
    place = await c.get("/api/metrics/v1/rollout/place", params={"unit": "ba-dinh-g1"},
                        headers=system.auth("unit_admin", "ba-dinh"))
    assert place.status_code == 200, place.text
    where = models.Place.model_validate(place.json())
    assert ([u.code for u in where.trail], where.plan.waves[0].number) == (["ba-dinh", "ba-dinh-g1"], 1)
