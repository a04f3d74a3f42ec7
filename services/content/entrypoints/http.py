"""HTTP API of content (/api/content/v1/...). Routes decode input, open the
transaction and hand over to the use cases (handlers/); the request and
response models are entrypoints/models.py's."""


import uuid
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from services.content.adapters.egress import EgressPolicy
from services.content.entrypoints.models import (
    Article,
    ArticleBody,
    ArticleHistory,
    ArticleList,
    ArticleSummary,
    Attendance,
    Bookmark,
    Category,
    Comment,
    Document,
    DocumentList,
    Feed,
    FeedBody,
    FeedbackBody,
    FeedbackList,
    FeedHistory,
    FeedList,
    FeedPage,
    Feedback,
    Meeting,
    MeetingBody,
    MeetingList,
    MeetingRecord,
    Absences,
    Planning,
    Moderation,
    NoticeChoices,
    NoticeList,
    PollQueued,
    PushKey,
    PushSubscribed,
    PushSubscriptionBody,
    ReadBody,
    ReadRecorded,
    ReadStats,
    Retraction,
    Roll,
    Schedule,
    SearchResults,
    Seen,
    StudyCompletion,
    StudyDesk,
    StudyReach,
    StudyTopic,
    StudyTopicBody,
    StudyTopicList,
    QuizAnswers,
    QuizSubmitted,
    UnitChoices,
    UnitFeedback,
    UnitSettings,
    UnitSettingsOut,
)
from services.content.adapters.push import Pusher
from services.content.domain import meetings as calendar
from services.content.handlers import articles, feedback, importer, library, meetings, notices, study, subject
from sotay.contracts.subject import SubjectData
from sotay.kit.clock import hanoi_day
from sotay.kit.db import driver_transaction
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import (
    MULTIPART_SLACK,
    Problem,
    body_limit,
    invalid,
    json_response,
    parse_time_cursor,
    time_cursor,
    unstorable,
    upload_size,
)
from sotay.kit.service import ServiceContext

# Bodies these routes take beyond the default (sotay/kit/http.py): an article's 500,000 characters
# (2 MiB holds them in UTF-8, or as JSON escapes for the accented letters), a meeting's agenda of
# 10,000 characters however it is escaped, a study topic's quiz, a document of up to 20 MB with its form.
ARTICLE_BODY = body_limit(2 * 2**20)
MEETING_BODY = body_limit(256 * 2**10)
# A study topic: up to 50 questions of up to 6 options, each with its explanation (a few hundred KB
# of Vietnamese, however it is escaped).
STUDY_BODY = body_limit(2 * 2**20)
DOCUMENT_UPLOAD = body_limit(library.MAX_BYTES + MULTIPART_SLACK)


def build_router(ctx: ServiceContext) -> APIRouter:
    router = service_router(ctx, tags=["content"])
    engine, reader = ctx.engine, ctx.reader
    feed_policy = EgressPolicy.from_settings(ctx.settings)
    pusher = Pusher.from_settings(ctx.settings)  # its key and the push services it sends to

    # --- the feed: members open it daily, so its route is matched first -----------------------

    @router.get("/feed", response_model=FeedPage, summary="Your feed: published articles for your unit, newest first")
    async def feed(user: CurrentUser, cursor: str | None = None, limit: int = Query(20, ge=1, le=100),
                   category: Category | None = None, unread: bool = False):
        after = parse_time_cursor(cursor)
        async with reader.connect() as db:
            rows = await articles.feed(db, user, after=after, limit=limit + 1, category=category, unread_only=unread)
        page, more = rows[:limit], len(rows) > limit
        return json_response({"items": page,
                              "next_cursor": time_cursor(page[-1]["published_at"], page[-1]["id"]) if more else None})

    # --- articles and their workflow -------------------------------------------------------

    @router.post("/articles", response_model=Article, status_code=201,
                 summary="Write a draft", openapi_extra=ARTICLE_BODY)
    async def create_article(body: ArticleBody, user: CurrentUser, request: Request):
        async def work(db):
            article = await articles.create(db, user, body.draft())
            return json_response(articles.article_json(article, full=True), 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/articles", response_model=ArticleList, summary="The editor's desk: articles of the units you edit")
    async def desk(user: CurrentUser, status: Literal["draft", "submitted", "approved", "scheduled", "published",
                                                      "retracted"] | None = None,
                   limit: int = Query(100, ge=1, le=500)):
        async with reader.connect() as db:
            rows = await articles.desk(db, user, status, limit)
        return json_response({"items": [articles.article_json(r) for r in rows]})

    @router.get("/units", response_model=UnitChoices,
                summary="Units you may address (audience, author unit), by name or code; accents optional")
    async def units(user: CurrentUser, q: str | None = Query(None, max_length=200),
                    limit: int = Query(20, ge=1, le=100)):
        async with reader.connect() as db:
            return json_response({"items": await articles.units(db, user, q, limit)})

    @router.get("/articles/{article_id}", response_model=Article, summary="One article (in your feed, or on your desk)")
    async def get_article(article_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            article = await articles.readable(db, user, article_id)
        return json_response(articles.article_json(article, full=True))

    @router.put("/articles/{article_id}", response_model=Article, summary="Change a draft", openapi_extra=ARTICLE_BODY)
    async def edit_article(article_id: uuid.UUID, body: ArticleBody, user: CurrentUser):
        async with engine.begin() as db:
            article = await articles.edit(db, user, article_id, body.draft())
        return json_response(articles.article_json(article, full=True))

    @router.post("/articles/{article_id}/submit", response_model=ArticleSummary, summary="Submit a draft for review")
    async def submit(article_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(articles.article_json(await articles.submit(db, user, article_id)))

    @router.post("/articles/{article_id}/return", response_model=ArticleSummary,
                 summary="Send an article back to its author with comments")
    async def send_back(article_id: uuid.UUID, body: Comment, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(articles.article_json(await articles.send_back(db, user, article_id, body.comment)))

    @router.post("/articles/{article_id}/approve", response_model=ArticleSummary,
                 summary="Approve (a chief editor, not the author)")
    async def approve(article_id: uuid.UUID, user: CurrentUser, body: Comment | None = None):
        async with engine.begin() as db:
            article = await articles.approve(db, user, article_id, body.comment if body else None)
        return json_response(articles.article_json(article))

    @router.post("/articles/{article_id}/publish", response_model=ArticleSummary,
                 summary="Publish now, or at publish_at; optional expiry")
    async def publish(article_id: uuid.UUID, user: CurrentUser, body: Schedule | None = None):
        body = body or Schedule()
        async with engine.begin() as db:
            article = await articles.publish(db, user, article_id, body.publish_at, body.expires_at)
        return json_response(articles.article_json(article))

    @router.post("/articles/{article_id}/retract", response_model=ArticleSummary,
                 summary="Withdraw a published or scheduled article")
    async def retract(article_id: uuid.UUID, body: Retraction, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(articles.article_json(await articles.retract(db, user, article_id, body.reason)))

    @router.get("/articles/{article_id}/history", response_model=ArticleHistory,
                summary="Who did what to the article, with comments")
    async def article_history(article_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"items": await articles.history(db, user, article_id)})

    # --- reading ---------------------------------------------------------------------------------

    @router.post("/articles/{article_id}/read", response_model=ReadRecorded,
                 summary="Record that you opened the article (once a day counts)")
    async def read(article_id: uuid.UUID, user: CurrentUser, body: ReadBody | None = None):
        async with driver_transaction(reader) as conn:
            return json_response(await articles.record_read(conn, user, article_id, body.read_on if body else None))

    @router.get("/articles/{article_id}/reads", response_model=ReadStats,
                summary="Read counts, for the article's editors")
    async def reads(article_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await articles.read_stats(db, user, article_id))

    @router.get("/search", response_model=SearchResults,
                summary="Search articles you can read and the documents library (accents optional)")
    async def search(user: CurrentUser, q: str = Query(min_length=1, max_length=200),
                     limit: int = Query(20, ge=1, le=100)):
        async with reader.connect() as db:
            found = await articles.search(db, user, q, limit)
            docs = await library.listing(db, user, q=q, kind=None, bookmarked=False, limit=limit)
        return json_response({"articles": found, "documents": docs})

    # --- feedback ---------------------------------------------------------------------------------

    @router.get("/articles/{article_id}/feedback", response_model=FeedbackList, summary="Feedback under an article")
    async def article_feedback(article_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"items": await feedback.on_article(db, user, article_id)})

    @router.post("/articles/{article_id}/feedback", response_model=Feedback, status_code=201,
                 summary="Comment on an article")
    async def post_article_feedback(article_id: uuid.UUID, body: FeedbackBody, user: CurrentUser, request: Request):
        async def work(db):
            item = await feedback.post(db, user, body=body.body, article_id=article_id, to_unit=None)
            return json_response(item, 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/feedback", response_model=Feedback, status_code=201, summary="Write to your unit or a unit above it")
    async def post_feedback(body: UnitFeedback, user: CurrentUser, request: Request):
        async def work(db):
            item = await feedback.post(db, user, body=body.body, article_id=None, to_unit=body.to_unit)
            return json_response(item, 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/feedback/mine", response_model=FeedbackList, summary="What you wrote, with the answers")
    async def my_feedback(user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"items": await feedback.mine(db, user)})

    @router.get("/feedback", response_model=FeedbackList, summary="Feedback to the units you look after")
    async def feedback_inbox(user: CurrentUser, status: Literal["pending", "visible", "hidden"] | None = None,
                             limit: int = Query(100, ge=1, le=500)):
        async with reader.connect() as db:
            return json_response({"items": await feedback.inbox(db, user, status, limit)})

    @router.post("/feedback/{feedback_id}/moderate", response_model=Feedback,
                 summary="Show or hide a member's feedback")
    async def moderate(feedback_id: uuid.UUID, body: Moderation, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await feedback.moderate(db, user, feedback_id, body.visible))

    @router.post("/feedback/{feedback_id}/answer", response_model=Feedback, summary="Answer a member's feedback")
    async def answer(feedback_id: uuid.UUID, body: FeedbackBody, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await feedback.answer(db, user, feedback_id, body.body))

    @router.put("/units/{code}/settings", response_model=UnitSettingsOut,
                summary="A unit's settings (whether feedback is moderated)")
    async def unit_settings(code: str, body: UnitSettings, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await feedback.set_moderation(db, user, code, body.moderate_feedback))

    # --- documents library ---------------------------------------------------------------------------

    @router.post("/documents", response_model=Document, status_code=201,
                 summary="Add a document (multipart: file and its metadata)",
                 openapi_extra=DOCUMENT_UPLOAD)
    async def add_document(user: CurrentUser, file: UploadFile = File(...),
                           title: str = Form(max_length=500),
                           kind: Literal["resolution", "directive", "guidance", "other"] = Form("other"),
                           number: str | None = Form(None, max_length=50),
                           issued_on: date | None = Form(None),
                           issuing_body: str | None = Form(None, max_length=300),
                           unit: str | None = Form(None, max_length=40),
                           audience: list[Annotated[str, Field(max_length=40)]] | None = Form(
                               None, max_length=100,
                               description="unit codes the document is for (the field repeated); none: the unit "
                                           "that adds it")):
        filename = file.filename or "document"
        problems = unstorable({"title": title, "number": number, "issuing_body": issuing_body, "unit": unit,
                               "file": filename} | {f"audience.{i}": code for i, code in enumerate(audience or [])})
        if problems:
            raise invalid(problems)
        # Read from Starlette's spooled file a chunk at a time (library.add), never whole.
        async with engine.begin() as db:
            doc = await library.add(db, user, library.DocumentInput(
                kind=kind, title=title, number=number, issued_on=issued_on, issuing_body=issuing_body, unit=unit,
                filename=filename, size=upload_size(file), read=file.read, audience=audience or []))
        return json_response(doc, 201)

    @router.get("/documents", response_model=DocumentList,
                summary="The library: search (accents optional), filter, your bookmarks")
    async def documents(user: CurrentUser, q: str | None = Query(None, max_length=200),
                        kind: Literal["resolution", "directive", "guidance", "other"] | None = None,
                        bookmarked: bool = False, limit: int = Query(50, ge=1, le=200)):
        async with reader.connect() as db:
            return json_response({"items": await library.listing(db, user, q=q, kind=kind, bookmarked=bookmarked,
                                                                 limit=limit)})

    @router.get("/documents/{document_id}", response_model=Document, summary="A document's metadata")
    async def document(document_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await library.one(db, user, document_id))

    @router.get("/documents/{document_id}/file", summary="The document's file", response_class=Response,
                responses={200: {"description": "The file, in its own content type",
                                    "content": {"*/*": {
                                        "schema": {"type": "string", "format": "binary"}}}}})
    async def document_file(document_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            found = await library.file(db, user, document_id)
        disposition = f"attachment; filename*=UTF-8''{_quote(found['filename'])}"
        return StreamingResponse(library.file_chunks(reader, document_id, found["chunks"]),
                                 media_type=found["content_type"],
                                 headers={"Content-Disposition": disposition, "Content-Length": str(found["size"])})

    @router.put("/documents/{document_id}/bookmark", response_model=Bookmark, summary="Bookmark a document")
    async def bookmark(document_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await library.bookmark(db, user, document_id, True))

    @router.delete("/documents/{document_id}/bookmark", response_model=Bookmark, summary="Remove a bookmark")
    async def unbookmark(document_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await library.bookmark(db, user, document_id, False))

    # --- cell meetings -----------------------------------------------------------------------------------

    @router.post("/meetings", response_model=Meeting, status_code=201, summary="Call a cell's meeting (its secretary)",
                 openapi_extra=MEETING_BODY)
    async def call_meeting(body: MeetingBody, user: CurrentUser, request: Request):
        async def work(db):
            meeting = await meetings.call(db, user, meetings.MeetingInput(
                cell=body.cell, starts_at=body.starts_at, place=body.place, agenda=body.agenda,
                documents=[str(d) for d in body.documents], kind=body.kind))
            return json_response(_meeting_json(meeting), 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/meetings", response_model=MeetingList, summary="Your cell's meetings (or, for a secretary, a cell's)")
    async def list_meetings(user: CurrentUser, cell: str | None = Query(None, max_length=40)):
        async with reader.connect() as db:
            return json_response({"items": [_meeting_json(m) for m in await meetings.upcoming(db, user, cell)]})

    @router.get("/meetings/planning", response_model=Planning,
                summary="Which cells planned a month's regular meeting, and by the 20th of the month before")
    async def meeting_planning(user: CurrentUser, unit: str | None = Query(None, max_length=40),
                               month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$",
                                                         description="YYYY-MM; next month by default")):
        try:
            wanted = date.fromisoformat(f"{month}-01") if month else calendar.next_month(hanoi_day())
        except ValueError:
            raise invalid([("month", "must be a real month written YYYY-MM")]) from None
        async with reader.connect() as db:
            return json_response(await meetings.planning(db, user, unit, wanted))

    @router.get("/cells/{cell}/absences", response_model=Absences,
                summary="Members absent without a reason from the cell's last two regular meetings (its secretary)")
    async def cell_absences(cell: str, user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"cell": cell, "items": await meetings.absences(db, user, cell)})

    @router.post("/meetings/{meeting_id}/record", response_model=Meeting,
                 summary="Record who came to the meeting and attach its minutes (the secretary)")
    async def record_meeting(meeting_id: uuid.UUID, body: MeetingRecord, user: CurrentUser, request: Request):
        async def work(db):
            return json_response(_meeting_json(await meetings.record(
                db, user, meeting_id, present=[str(m) for m in body.present],
                excused={str(m): why for m, why in body.excused.items()},
                minutes=str(body.minutes) if body.minutes else None)))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/meetings/{meeting_id}", response_model=Meeting, summary="A meeting of your cell")
    async def meeting(meeting_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response(_meeting_json(await meetings.one(db, user, meeting_id)))

    @router.post("/meetings/{meeting_id}/attendance", response_model=Meeting, summary="Confirm whether you attend")
    async def attend(meeting_id: uuid.UUID, body: Attendance, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(_meeting_json(await meetings.answer(db, user, meeting_id, body.attending,
                                                                     body.note)))

    @router.get("/meetings/{meeting_id}/attendance", response_model=Roll,
                summary="Who answered, and how (the secretary)")
    async def roll(meeting_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await meetings.roll(db, user, meeting_id))

    # --- study and self-testing (học tập nghị quyết) ----------------------------------------------------

    @router.get("/study/topics", response_model=StudyTopicList,
                summary="The study topics addressed to you, newest first, with your best score so far")
    async def study_topics(user: CurrentUser, limit: int = Query(50, ge=1, le=200)):
        async with reader.connect() as db:
            return json_response({"items": await study.addressed(db, user, limit)})

    @router.post("/study/topics", response_model=StudyTopic, status_code=201,
                 summary="Write a study topic with its documents and quiz (a draft)", openapi_extra=STUDY_BODY)
    async def create_study_topic(body: StudyTopicBody, user: CurrentUser, request: Request):
        async def work(db):
            return json_response(await study.create(db, user, body.topic()), 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/study/desk", response_model=StudyDesk, summary="The study topics of the units you edit")
    async def study_desk(user: CurrentUser, limit: int = Query(100, ge=1, le=500)):
        async with reader.connect() as db:
            return json_response({"items": await study.desk(db, user, limit)})

    @router.get("/study/completion", response_model=StudyReach,
                summary="The published study topics addressed to a unit or to units in it, with how many of its "
                        "members completed each (the units' staff and editors)")
    async def study_reach(user: CurrentUser, unit: str | None = Query(None, max_length=40),
                          limit: int = Query(50, ge=1, le=200)):
        async with reader.connect() as db:
            return json_response(await study.reaching(db, user, unit, limit))

    @router.get("/study/topics/{topic_id}", response_model=StudyTopic,
                summary="A study topic: its documents and quiz (the right answers once you have submitted)")
    async def study_topic(topic_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await study.one(db, user, topic_id))

    @router.put("/study/topics/{topic_id}", response_model=StudyTopic, summary="Change a draft study topic",
                openapi_extra=STUDY_BODY)
    async def edit_study_topic(topic_id: uuid.UUID, body: StudyTopicBody, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await study.edit(db, user, topic_id, body.topic()))

    @router.post("/study/topics/{topic_id}/publish", response_model=StudyTopic,
                 summary="Publish a study topic to its audience (a chief editor, not its author)")
    async def publish_study_topic(topic_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await study.publish(db, user, topic_id))

    @router.post("/study/topics/{topic_id}/answers", response_model=QuizSubmitted,
                 summary="Submit your answers to the quiz: your score and the right answers (again to retake; your "
                         "best score counts)")
    async def submit_answers(topic_id: uuid.UUID, body: QuizAnswers, user: CurrentUser, request: Request):
        async def work(db):
            return json_response(await study.submit(db, user, topic_id, body.answers))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/study/topics/{topic_id}/completion", response_model=StudyCompletion,
                summary="Per cell under a unit: members, completed, average score (never a member's score; the "
                        "cell's secretary also sees who has not completed)")
    async def study_completion(topic_id: uuid.UUID, user: CurrentUser, unit: str | None = Query(None, max_length=40)):
        async with reader.connect() as db:
            return json_response(await study.completion(db, user, topic_id, unit))

    # --- a member's own data: what content holds about them (an access request) -----------------------

    @router.get("/me/data", response_model=SubjectData, summary="Everything content holds about you")
    async def my_data(user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await subject.held(db, user))

    # --- notifications: the inbox, what the member chose, devices told by push -------------------------

    @router.get("/notices", response_model=NoticeList, summary="Your notifications, newest first (30 days)")
    async def inbox(user: CurrentUser, limit: int = Query(50, ge=1, le=100)):
        async with reader.connect() as db:
            return json_response(await notices.inbox(db, user, limit))

    @router.post("/notices/seen", response_model=Seen, summary="Mark notifications seen, up to one")
    async def notices_seen(body: Seen, user: CurrentUser):
        async with engine.begin() as db:
            await notices.seen(db, user, body.through)
        return json_response({"through": body.through})

    @router.get("/notices/choices", response_model=NoticeChoices, summary="What you chose to be told")
    async def notice_choices(user: CurrentUser):
        async with reader.connect() as db:
            return json_response(await notices.choices(db, user))

    @router.put("/notices/choices", response_model=NoticeChoices, summary="Choose what you are told")
    async def choose_notices(body: NoticeChoices, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await notices.choose(db, user, body.model_dump()))

    @router.get("/push/key", response_model=PushKey, summary="The key browsers subscribe to push with "
                                                              "(404 push_off: this system pushes nothing)")
    async def push_key():
        if pusher is None:
            raise Problem(404, "Push is off", "This system sends no push notifications.", code="push_off")
        return json_response({"public_key": pusher.public_key})

    @router.post("/push-subscriptions", response_model=PushSubscribed, status_code=201,
                 summary="Tell this device of your notifications by push")
    async def subscribe(body: PushSubscriptionBody, user: CurrentUser):
        async with engine.begin() as db:
            subscription = await notices.subscribe(db, pusher, user, body.endpoint, body.keys.p256dh, body.keys.auth)
        return json_response({"id": subscription, "active": True}, 201)

    @router.delete("/push-subscriptions/{subscription_id}", response_model=PushSubscribed,
                   summary="Stop pushing to a device")
    async def unsubscribe(user: CurrentUser, subscription_id: int = Path(ge=1, le=2**63 - 1)):
        async with engine.begin() as db:
            await notices.unsubscribe(db, user, subscription_id)
        return json_response({"id": subscription_id, "active": False})

    @router.post("/registrations/{registration_id}/push-subscriptions", response_model=PushSubscribed,
                 status_code=201, summary="Tell this device when the registration is decided (no account yet)")
    async def subscribe_registrant(registration_id: uuid.UUID, body: PushSubscriptionBody):
        async with engine.begin() as db:
            subscription = await notices.subscribe_registrant(db, pusher, registration_id, body.endpoint,
                                                              body.keys.p256dh, body.keys.auth)
        return json_response({"id": subscription, "active": True}, 201)

    # --- feed import ------------------------------------------------------------------------------------

    @router.post("/feeds", response_model=Feed, status_code=201,
                 summary="Import an RSS or Atom feed (a chief editor of the unit)")
    async def add_feed(body: FeedBody, user: CurrentUser):
        async with engine.begin() as db:
            feed = await importer.add_feed(db, user, importer.FeedInput(
                url=body.url, unit=body.unit, category=body.category, audience=body.audience, publish=body.publish,
                interval_s=body.interval_s), feed_policy)
        return json_response(feed, 201)

    @router.get("/feeds", response_model=FeedList, summary="Configured feeds with their last result and error")
    async def feeds(user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"items": await importer.listing(db, user)})

    @router.post("/feeds/{feed_id}/poll", response_model=PollQueued, status_code=202, summary="Poll a feed now")
    async def poll(feed_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            await importer.poll_now(db, user, feed_id)
        return json_response({"feed_id": str(feed_id), "status": "due"}, 202)

    @router.post("/feeds/{feed_id}/approve", response_model=Feed,
                 summary="Let a feed publish its entries at once (a second chief editor, "
                                                      "not the one who set it up)")
    async def approve_feed(feed_id: uuid.UUID, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await importer.approve_publishing(db, user, feed_id))

    @router.get("/feeds/{feed_id}/history", response_model=FeedHistory,
                summary="Who set the feed up and who approved its publishing")
    async def feed_history(feed_id: uuid.UUID, user: CurrentUser):
        async with reader.connect() as db:
            return json_response({"items": await importer.history(db, user, feed_id)})

    return router


def _meeting_json(m: dict) -> dict:
    return {k: v for k, v in m.items() if k != "cell_path"}


def _quote(name: str) -> str:
    return quote(name, safe="")

