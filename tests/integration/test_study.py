"""Study and self-testing (học tập nghị quyết, issue 20), on real NATS and PostgreSQL: an editor
writes a study topic with the resolution's documents and a quiz, a chief editor (not its author)
publishes it; the members it is addressed to read it without the answer key, take the quiz, see
their score and the right answers, and may take it again (the best score counts); the units see
per cell how many completed it and the average, never a member's score, and a cell's secretary who
has not completed it; bad input is refused with its field and changes nothing; events carry ids."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

import services.content
import services.members
from tests.support.system import create_org_tree, eventually, import_registry, make_settings, registry_row, \
    running_system

pytestmark = pytest.mark.integration

API = "/api/content/v1"
C1, C2 = "ba-dinh-g1-c1", "ba-dinh-g1-c2"
PEOPLE = {"an": ("0100000301", "Nguyễn Văn An", C1), "binh": ("0100000302", "Trần Thị Bình", C1),
          "cuong": ("0100000303", "Lê Văn Cường", C1), "dung": ("0100000304", "Phạm Thị Dung", C1),
          "em": ("0100000305", "Đỗ Văn Em", C2), "giang": ("0100000306", "Hoàng Thị Giang", C2),
          "hoa": ("0100000307", "Vũ Thị Hoa", "tay-ho-g1-c1")}
EXEMPT = ("0100000308", "Ngô Văn Khoa", C1)  # exempt from activities: not counted in the cell's figures
QUESTIONS = [
    {"prompt": "Nghị quyết số 15-NQ/TU bàn về nội dung gì?",
     "options": ["Chuyển đổi số", "Xây dựng chỉnh đốn Đảng", "Giao thông đô thị"], "correct": 1,
     "explanation": "Nghị quyết tập trung vào công tác xây dựng, chỉnh đốn Đảng."},
    {"prompt": "Chi bộ tổ chức học tập nghị quyết trong thời gian nào?", "options": ["Quý I", "Quý II"],
     "correct": 0},
    {"prompt": "Đảng viên tự kiểm tra bằng cách nào?",
     "options": ["Làm bài kiểm tra trên Sổ tay", "Không cần kiểm tra", "Hỏi người khác", "Đọc báo"], "correct": 0,
     "explanation": "Mỗi đảng viên làm bài kiểm tra trên Sổ tay sau khi học."}]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with running_system([services.members.definition(), services.content.definition()], settings, nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh", "tay-ho"], admin)
        rows = [registry_row(card, name, unit) for card, name, unit in PEOPLE.values()]
        await import_registry(system.client, rows + [registry_row(*EXEMPT, status="exempt")], admin)

        async def replicated():
            async with system.runtimes["content"].context.engine.connect() as db:
                return (await db.execute(text("SELECT count(*) FROM readers WHERE full_name IS NOT NULL"))
                        ).scalar_one() == len(PEOPLE) + 1
        await eventually(replicated, timeout=30)
        async with system.runtimes["content"].context.engine.connect() as db:
            system.ids = {who: str((await db.execute(text("SELECT member_id FROM readers WHERE party_card_no = :c"),
                                                     {"c": card})).scalar_one()) for who, (card, *_) in PEOPLE.items()}
        # The resolution, in the library for cell 1 only: the topic's audience reads it through the topic.
        added = await system.client.post(
            f"{API}/documents", headers=editor(system), data={"title": "Nghị quyết 15-NQ/TU", "kind": "resolution",
                                                              "number": "15-NQ/TU", "unit": "ba-dinh", "audience": C1},
            files={"file": ("nq-15.txt", "Toàn văn nghị quyết".encode(), "text/plain")})
        assert added.status_code == 201, added.text
        system.document = added.json()["id"]
        yield system


def editor(system):
    return system.auth("editor", "ba-dinh", subject="editor-ba-dinh")


def chief(system, who: str = "chief-ba-dinh"):
    return system.auth("chief_editor", "ba-dinh", subject=who)


def member(system, who: str):
    card, _, unit = PEOPLE[who]
    return system.auth("member", unit, subject=f"account-{who}", card=card)


def topic_body(system, **changes) -> dict:
    return {"title": "Học tập Nghị quyết 15-NQ/TU", "description": "Đọc nghị quyết rồi làm bài kiểm tra ngắn.",
            "documents": [system.document], "questions": QUESTIONS, "audience": ["ba-dinh"], **changes}


async def count(system, table: str) -> int:
    async with system.runtimes["content"].context.engine.connect() as db:
        return (await db.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def events(system, event: str) -> list[dict]:
    async with system.runtimes["content"].context.engine.connect() as db:
        bodies = (await db.execute(text("SELECT body FROM outbox WHERE subject LIKE :s ORDER BY position"),
                                   {"s": f"sotay.content.{event}.%"})).scalars()
        return [orjson.loads(b) for b in bodies]


async def published(system) -> dict:
    """A topic written by the editor and published by a chief editor."""
    made = await system.client.post(f"{API}/study/topics", headers=editor(system), json=topic_body(system))
    assert made.status_code == 201, made.text
    done = await system.client.post(f"{API}/study/topics/{made.json()['id']}/publish", headers=chief(system))
    assert done.status_code == 200, done.text
    return done.json()


async def test_an_editor_writes_a_topic_and_another_chief_editor_publishes_it(system):
    c = system.client
    bad = topic_body(system, audience=["tay-ho"], documents=["00000000-0000-0000-0000-000000000001"], questions=[
        QUESTIONS[0] | {"correct": 4}, {"prompt": "Hai lần một phương án", "options": ["Có", " có "], "correct": 0},
        {"prompt": "   ", "options": ["A", "B"], "correct": 0}])
    refused = await c.post(f"{API}/study/topics", headers=editor(system), json=bad)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {(e["field"], e["reason"]) for e in refused.json()["errors"]} == {
        ("audience", "tay-ho is outside the author unit's subtree"),
        ("documents", "00000000-0000-0000-0000-000000000001 is not a document of the library"),
        ("questions.0.correct", "must be the number of one of its options (0 for the first)"),
        ("questions.1.options", "holds the same option twice"), ("questions.2.prompt", "is required")}
    one_option = await c.post(f"{API}/study/topics", headers=editor(system),
                              json=topic_body(system, questions=[{"prompt": "Một", "options": ["A"], "correct": 0}]))
    assert one_option.status_code == 422 and one_option.json()["errors"][0]["field"] == "questions.0.options"
    assert await count(system, "study_topics") == 0, "a refused topic changes nothing"

    made = await c.post(f"{API}/study/topics", headers=editor(system), json=topic_body(system))
    assert made.status_code == 201, made.text
    topic = made.json()
    assert topic["status"] == "draft" and topic["answer_key"] is True  # its editors read the key
    assert [q["correct"] for q in topic["questions"]] == [1, 0, 0]
    assert [d["number"] for d in topic["documents"]] == ["15-NQ/TU"]
    em = member(system, "em")
    assert (await c.get(f"{API}/study/topics/{topic['id']}", headers=em)).status_code == 404  # a draft
    assert (await c.get(f"{API}/study/topics", headers=em)).json()["items"] == []
    assert (await c.get(f"{API}/documents/{system.document}", headers=em)).status_code == 404  # cell 1's only

    changed = await c.put(f"{API}/study/topics/{topic['id']}", headers=editor(system),
                          json=topic_body(system, title="Học tập, quán triệt Nghị quyết 15-NQ/TU"))
    assert changed.status_code == 200 and changed.json()["title"] == "Học tập, quán triệt Nghị quyết 15-NQ/TU"
    not_chief = await c.post(f"{API}/study/topics/{topic['id']}/publish", headers=editor(system))
    assert not_chief.status_code == 403 and not_chief.json()["code"] == "only_chief"
    elsewhere = await c.post(f"{API}/study/topics/{topic['id']}/publish",
                             headers=system.auth("chief_editor", "tay-ho", subject="chief-tay-ho"))
    assert elsewhere.status_code == 404
    desk = (await c.get(f"{API}/study/desk", headers=chief(system))).json()["items"]
    assert [(t["id"], t["may_publish"], t["yours"], t["questions"]) for t in desk] == [(topic["id"], True, False, 3)]

    done = await c.post(f"{API}/study/topics/{topic['id']}/publish", headers=chief(system))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "published" and done.json()["published_at"]
    again = await c.post(f"{API}/study/topics/{topic['id']}/publish", headers=chief(system))
    assert again.status_code == 409 and again.json()["code"] == "wrong_status"
    frozen = await c.put(f"{API}/study/topics/{topic['id']}", headers=editor(system), json=topic_body(system))
    assert frozen.status_code == 409
    announced = await events(system, "study_topic_published")
    assert [e["data"]["topic_id"] for e in announced] == [topic["id"]]
    assert announced[0]["data"] | {"published_at": None} == {
        "topic_id": topic["id"], "title": "Học tập, quán triệt Nghị quyết 15-NQ/TU", "author_unit": "ba-dinh",
        "audience": ["ba-dinh"], "documents": [system.document], "questions": 3, "published_by": "chief-ba-dinh",
        "published_at": None}
    assert "Chuyển đổi số" not in orjson.dumps(announced).decode(), "the questions never leave content"

    # Written by a chief editor: another must publish it (two people publish).
    own = await c.post(f"{API}/study/topics", headers=chief(system), json=topic_body(system, title="Bài của tôi"))
    refused = await c.post(f"{API}/study/topics/{own.json()['id']}/publish", headers=chief(system))
    assert refused.status_code == 403 and refused.json()["code"] == "two_person_author"

    # The members it is addressed to: listed, read without the key, its documents readable through it.
    listed = (await c.get(f"{API}/study/topics", headers=em)).json()["items"]
    assert [(t["id"], t["questions"], t["best_score"]) for t in listed] == [(topic["id"], 3, None)]
    shown = (await c.get(f"{API}/study/topics/{topic['id']}", headers=em)).json()
    assert shown["answer_key"] is False and shown["result"] is None
    assert [(q["correct"], q["explanation"]) for q in shown["questions"]] == [(None, None)] * 3
    assert (await c.get(f"{API}/documents/{system.document}", headers=em)).status_code == 200
    hoa = member(system, "hoa")  # tay-ho: not addressed
    assert (await c.get(f"{API}/study/topics", headers=hoa)).json()["items"] == []
    assert (await c.get(f"{API}/study/topics/{topic['id']}", headers=hoa)).status_code == 404
    assert (await c.post(f"{API}/study/topics/{topic['id']}/answers", headers=hoa,
                         json={"answers": [1, 0, 0]})).status_code == 404

    async def told():
        answer = (await c.get(f"{API}/notices", headers=em)).json()["items"]
        return [n for n in answer if n["kind"] == "study"]
    notice = (await eventually(told, timeout=15))[0]
    assert (notice["ref"], notice["title"]) == (topic["id"], "Học tập, quán triệt Nghị quyết 15-NQ/TU")


async def test_a_member_takes_the_quiz_sees_the_right_answers_and_may_take_it_again(system):
    c, topic = system.client, await published(system)
    path = f"{API}/study/topics/{topic['id']}/answers"
    an = member(system, "an")
    for answers, field in (([1, 0], "answers"), ([1, 2, 0], "answers.1"), ([1, 0, 9], "answers.2")):
        refused = await c.post(path, headers=an, json={"answers": answers})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, refused.text
    assert await count(system, "quiz_results") == 0, "a refused submission changes nothing"

    first = await c.post(path, headers=an, json={"answers": [1, 1, 0]})
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["score"], result["max_score"], result["percent"], result["best_score"], result["attempts"]) == \
        (2, 3, 66.67, 2, 1)
    assert [(r["chosen"], r["correct"], r["right"]) for r in result["review"]] == [(1, 1, True), (1, 0, False),
                                                                                    (0, 0, True)]
    assert result["review"][0]["explanation"] == "Nghị quyết tập trung vào công tác xây dựng, chỉnh đốn Đảng."
    shown = (await c.get(f"{API}/study/topics/{topic['id']}", headers=an)).json()
    assert shown["answer_key"] is True and [q["correct"] for q in shown["questions"]] == [1, 0, 0]
    assert shown["result"]["best_score"] == 2

    # A retake: scored on its own, the best score kept; a retried request (same key) counts once.
    retake = {"headers": an | {"Idempotency-Key": "retake-1"}, "json": {"answers": [0, 1, 1]}}
    worse = await c.post(path, **retake)
    assert (worse.json()["score"], worse.json()["best_score"], worse.json()["attempts"]) == (0, 2, 2)
    assert (await c.post(path, **retake)).json() == worse.json()
    best = (await c.post(path, headers=an, json={"answers": [1, 0, 0]})).json()
    assert (best["score"], best["best_score"], best["best_percent"], best["attempts"]) == (3, 3, 100.0, 3)
    listed = (await c.get(f"{API}/study/topics", headers=an)).json()["items"]
    assert [(t["best_score"], t["max_score"], t["attempts"]) for t in listed if t["id"] == topic["id"]] == [(3, 3, 3)]

    completed = [e["data"] for e in await events(system, "quiz_completed") if e["data"]["topic_id"] == topic["id"]]
    assert [(e["member_id"], e["cell"], e["max_score"], e["attempt"]) for e in completed] == \
        [(system.ids["an"], C1, 3, 1), (system.ids["an"], C1, 3, 2), (system.ids["an"], C1, 3, 3)]
    raw = orjson.dumps(completed).decode()
    assert "Nguyễn Văn An" not in raw and "answers" not in raw and "score\"" not in raw.replace("max_score\"", ""), \
        "member ids only: no name, no answers, no score (a person's score is theirs alone)"

    staff = await c.post(path, headers=system.auth("unit_admin", "ba-dinh"), json={"answers": [1, 0, 0]})
    assert staff.status_code == 403 and staff.json()["code"] == "not_a_member"
    held = (await c.get(f"{API}/me/data", headers=an)).json()["parts"]["study_results"]
    assert [(r["topic_id"], r["best_score"], r["attempts"]) for r in held] == [(topic["id"], 3, 3)]


async def test_the_units_see_completion_per_cell_and_never_a_members_score(system):
    c, topic = system.client, await published(system)
    path = f"{API}/study/topics/{topic['id']}"
    for who, answers in (("an", [1, 0, 0]), ("binh", [1, 0, 1]), ("cuong", [0, 1, 1]), ("em", [1, 0, 0])):
        assert (await c.post(f"{path}/answers", headers=member(system, who), json={"answers": answers})
                ).status_code == 200

    admin = system.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    answer = await c.get(f"{path}/completion", headers=admin)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    by_cell = {cell["cell"]: cell for cell in figures["cells"]}
    assert set(by_cell) == {C1, C2}  # ba-dinh's cells the topic is addressed to
    # Cell 1: 4 counted members (the exempt one is not), 3 completed: 100%, 66.67%, 0% on average.
    assert (by_cell[C1]["members"], by_cell[C1]["completed"], by_cell[C1]["average_percent"]) == (4, 3, 55.56)
    # Cell 2: one result, whose average would be that member's score: none given.
    assert (by_cell[C2]["members"], by_cell[C2]["completed"], by_cell[C2]["average_percent"]) == (2, 1, None)
    assert by_cell[C1]["not_completed"] is None and by_cell[C2]["not_completed"] is None
    assert (figures["members"], figures["completed"], figures["average_percent"]) == (6, 4, 66.67)
    raw = answer.text
    assert not any(name in raw for _, name, _ in PEOPLE.values()) and not any(m in raw for m in system.ids.values())

    # The cell's secretary: their cell only, and who has not completed it yet, by name; never a score.
    secretary = await c.get(f"{path}/completion", headers=system.auth("cell_secretary", C1, subject="sec-c1"))
    assert secretary.status_code == 200, secretary.text
    [cell] = secretary.json()["cells"]
    assert cell["cell"] == C1 and cell["not_completed"] == [{"member_id": system.ids["dung"],
                                                             "full_name": "Phạm Thị Dung"}]
    assert "Nguyễn Văn An" not in secretary.text and "score" not in secretary.text

    reach = (await c.get(f"{API}/study/completion", headers=admin)).json()["items"]
    assert [(t["id"], t["completed"]) for t in reach if t["id"] == topic["id"]] == [(topic["id"], 4)]
    narrowed = (await c.get(f"{path}/completion", headers=admin, params={"unit": C2})).json()
    assert [cell["cell"] for cell in narrowed["cells"]] == [C2] and narrowed["unit"] == C2

    tay_ho = system.auth("unit_admin", "tay-ho", subject="admin-tay-ho")
    assert (await c.get(f"{path}/completion", headers=tay_ho)).status_code == 404  # not addressed to tay-ho
    assert topic["id"] not in {t["id"] for t in (await c.get(f"{API}/study/completion", headers=tay_ho)
                                                 ).json()["items"]}
    for headers, params, status in ((tay_ho, {"unit": "ba-dinh"}, 403), (admin, {"unit": "tay-ho"}, 403),
                                    (admin, {"unit": "nowhere"}, 422), (member(system, "an"), {}, 403)):
        refused = await c.get(f"{path}/completion", headers=headers, params=params)
        assert refused.status_code == status, (params, refused.text)
    city = (await c.get(f"{path}/completion", headers=system.auth("city_admin"))).json()
    assert {cell["cell"] for cell in city["cells"]} == {C1, C2}
