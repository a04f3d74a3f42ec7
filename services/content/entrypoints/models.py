"""The request and response models of content's HTTP API (entrypoints/http.py).

The routes answer with json_response(...): a response model documents what they return
(the OpenAPI document), it does not filter it."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.content.domain import CATEGORIES
from services.content.domain import study as study_rules
from services.content.handlers import articles, study
from sotay.kit.http import Moment

# --- requests ---------------------------------------------------------------------------------------------

Category = Literal["news", "directive", "guidance", "qa", "local_news"]
assert set(CATEGORIES) == set(Category.__args__)


class ArticleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=300)
    summary: str | None = Field(default=None, max_length=1000)
    body: str = Field(min_length=1, max_length=500_000)
    body_format: Literal["markdown", "html"] = "markdown"
    category: Category
    tags: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=20)
    audience: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=100)
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    unit: str | None = Field(default=None, max_length=40, description="author unit (default: your editor unit)")

    def draft(self) -> articles.Draft:
        return articles.Draft(title=self.title, summary=self.summary, body=self.body, body_format=self.body_format,
                              category=self.category, tags=self.tags, audience=self.audience,
                              attachments=[str(a) for a in self.attachments], unit=self.unit)


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(default=None, max_length=5000)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publish_at: Moment | None = Field(default=None, description="later: scheduled; none or past: now")
    expires_at: Moment | None = None


class Retraction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=5000)


class UnitFeedback(FeedbackBody):
    to_unit: str = Field(max_length=40)


class Moderation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visible: bool


class UnitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    moderate_feedback: bool


class MeetingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cell: str = Field(max_length=40)
    starts_at: Moment
    place: str = Field(max_length=300)
    agenda: str = Field(max_length=10_000)
    documents: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    kind: Literal["regular", "thematic"] = Field("regular", description="the month's regular meeting, or a "
                                                                        "thematic one (sinh hoạt chuyên đề)")


class MeetingRecord(BaseModel):
    """Who came (the member ids of those present; everyone else of the cell is absent), the reason
    of an absence the secretary knows (an absent member's own answer counts otherwise), and the
    minutes: a document of the library."""

    model_config = ConfigDict(extra="forbid")
    present: list[uuid.UUID] = Field(max_length=2000)
    excused: dict[uuid.UUID, Annotated[str, Field(max_length=500)]] = Field(default_factory=dict, max_length=2000)
    minutes: uuid.UUID | None = None


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attending: bool
    note: str | None = Field(default=None, max_length=500)


class FeedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    unit: str = Field(default="city", max_length=40)
    category: Category = "news"
    audience: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=lambda: ["city"], max_length=100)
    publish: bool = Field(default=False, description="publish entries at once instead of keeping drafts for review, "
                                                     "once another chief editor approves the feed")
    interval_s: int = Field(default=900, ge=60, le=86_400)


class QuestionBody(BaseModel):
    """A multiple-choice question: 2 to 6 options, exactly one of them right (`correct`)."""
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=1000)
    options: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=study_rules.MIN_OPTIONS, max_length=study_rules.MAX_OPTIONS)
    correct: int = Field(ge=0, le=study_rules.MAX_OPTIONS - 1,
                         description="the right option's number (0 for the first): the answer key, kept by the "
                                     "service and shown to a member only once they have submitted")
    explanation: str | None = Field(default=None, max_length=2000,
                                    description="why it is right, shown with the right answer after submitting")

    def question(self) -> study_rules.Question:
        return study_rules.Question(prompt=self.prompt, options=tuple(self.options), correct=self.correct,
                                    explanation=self.explanation)


class StudyTopicBody(BaseModel):
    """A study topic (học tập nghị quyết): what members study (the library's documents) and its quiz."""
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=300)
    description: str = Field(min_length=1, max_length=2000)
    documents: list[uuid.UUID] = Field(default_factory=list, max_length=20,
                                       description="documents of the library (the resolution and its guidance)")
    questions: list[QuestionBody] = Field(min_length=1, max_length=study_rules.MAX_QUESTIONS)
    audience: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=100)
    unit: str | None = Field(default=None, max_length=40, description="author unit (default: your editor unit)")

    def topic(self) -> study.TopicInput:
        return study.TopicInput(title=self.title, description=self.description,
                                documents=[str(d) for d in self.documents],
                                questions=[q.question() for q in self.questions], audience=self.audience,
                                unit=self.unit)


class QuizAnswers(BaseModel):
    """The number of the option chosen for each question, in order (0 for the first)."""
    model_config = ConfigDict(extra="forbid")
    answers: list[Annotated[int, Field(ge=0, le=study_rules.MAX_OPTIONS - 1)]] = Field(
        min_length=1, max_length=study_rules.MAX_QUESTIONS)


# --- responses --------------------------------------------------------------------------------------------

Status = Literal["draft", "submitted", "approved", "scheduled", "published", "retracted"]


class ArticleSummary(BaseModel):
    """An article as lists and workflow steps show it."""
    id: uuid.UUID
    title: str
    summary: str
    category: Category
    tags: list[str]
    author_unit: str
    audience: list[str]
    status: Status
    publish_at: datetime | None
    expires_at: datetime | None
    published_at: datetime | None
    source_url: str | None
    author_unit_name: str | None = Field(default=None, description="on the desk: the author unit's name")
    yours: bool | None = Field(default=None, description="on the desk: you wrote it, or set up the feed it came "
                                                         "from (so another chief editor must approve it)")
    may_review: bool | None = Field(default=None, description="on the desk: you are a chief editor of its unit "
                                                              "or above")


class Article(ArticleSummary):
    """An article whole: its sanitised body, attachments and version."""
    body_html: str
    body_format: Literal["markdown", "html"]
    body: str | None = Field(default=None, description="a draft's text as written (Markdown or HTML), for editing it")
    summary_written: str | None = Field(default=None, description="a draft's summary as its author wrote it; none "
                                                                  "when it was made from the body")
    attachments: list[uuid.UUID]
    fetched_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class ArticleList(BaseModel):
    items: list[ArticleSummary]


class UnitChoice(BaseModel):
    code: str
    name: str
    kind: str
    parent_name: str | None


class UnitChoices(BaseModel):
    items: list[UnitChoice]


class FeedItem(BaseModel):
    """An article in the member's feed, with whether they opened it."""
    id: uuid.UUID
    title: str
    summary: str
    category: Category
    tags: list[str]
    author_unit: str
    published_at: datetime
    expires_at: datetime | None
    source_url: str | None
    unread: bool


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str | None = Field(description="opaque; pass it as `cursor` for the next page")


class HistoryEntry(BaseModel):
    actor: str
    actor_name: str | None = Field(description="the person's name, when the registry knows their card")
    actor_role: str | None = Field(description="the role they acted in (editor, chief_editor)")
    actor_unit: str | None = Field(description="the unit that role is held over")
    actor_unit_name: str | None
    action: str
    from_status: Status | None
    to_status: Status
    comment: str | None
    at: datetime


class ArticleHistory(BaseModel):
    items: list[HistoryEntry]


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    read_on: date | None = Field(None, description="a read made without a connection, sent later: the day it was "
                                 "made in Hanoi (within the last 7 days); today when left out")


class ReadRecorded(BaseModel):
    article_id: uuid.UUID
    day: date = Field(description="the day in Hanoi the read counts for")
    counted: bool = Field(description="whether this was the first read of the day")


class ReadStats(BaseModel):
    article_id: uuid.UUID
    reads: int
    readers: int
    reads_today: int


class ArticleHit(BaseModel):
    id: uuid.UUID
    title: str
    summary: str
    category: Category
    published_at: datetime


class Document(BaseModel):
    """A document's metadata (its file: /documents/{id}/file)."""
    id: uuid.UUID
    kind: Literal["resolution", "directive", "guidance", "other"]
    number: str | None
    title: str
    issued_on: date | None
    issuing_body: str | None
    unit: str
    audience: list[str]
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    added_at: datetime
    bookmarked: bool


class DocumentList(BaseModel):
    items: list[Document]


class SearchResults(BaseModel):
    articles: list[ArticleHit]
    documents: list[Document]


class Bookmark(BaseModel):
    document_id: uuid.UUID
    bookmarked: bool


class Feedback(BaseModel):
    id: uuid.UUID
    article_id: uuid.UUID | None
    to_unit: str
    account_id: str
    author_name: str | None
    author_unit: str | None
    body: str
    status: Literal["pending", "visible", "hidden"]
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None
    created_at: datetime
    to_path: str | None = Field(default=None, description="the unit's place in the org tree (one item only)")


class FeedbackList(BaseModel):
    items: list[Feedback]


class UnitSettingsOut(BaseModel):
    unit: str
    moderate_feedback: bool


class Meeting(BaseModel):
    id: uuid.UUID
    cell: str
    starts_at: datetime
    place: str
    agenda: str
    documents: list[uuid.UUID]
    called_by: str
    created_at: datetime
    my_answer: bool | None = Field(description="whether you said you attend; none: not answered")
    kind: Literal["regular", "thematic"]
    held_at: datetime | None = Field(description="when its secretary first recorded it as held")
    minutes: uuid.UUID | None = Field(description="the minutes (biên bản), a document of the library")
    present: int = Field(description="members recorded as present")


class MeetingList(BaseModel):
    items: list[Meeting]


class RollEntry(BaseModel):
    member_id: uuid.UUID
    full_name: str | None = Field(description="none while the member's data is restricted at their request")
    attending: bool | None
    note: str | None
    answered_at: datetime | None
    present: bool | None = Field(description="whether they came, once recorded")
    reason: str | None = Field(description="why an absent member did not come")


class Roll(BaseModel):
    meeting_id: uuid.UUID
    cell: str
    members: list[RollEntry]
    attending: int
    not_attending: int
    no_answer: int
    present: int


class Absence(BaseModel):
    member_id: uuid.UUID
    full_name: str | None
    dates: list[datetime] = Field(description="the meetings missed without a reason")


class Absences(BaseModel):
    cell: str
    items: list[Absence]


class PlannedCell(BaseModel):
    cell: str
    name: str
    meeting_id: uuid.UUID | None
    starts_at: datetime | None
    planned_at: datetime | None
    held_at: datetime | None
    on_time: bool = Field(description="planned by the 20th of the month before")
    present: int
    recorded: int = Field(description="members on the recorded list (present or absent)")


class Planning(BaseModel):
    """A month's regular meetings of the cells under a unit: planned (and on time), held, attendance."""
    month: str
    deadline: datetime = Field(description="the end of the 20th of the month before, Hanoi time")
    cells: list[PlannedCell]
    planned: int
    on_time: int
    total: int
    held: int
    present: int
    recorded: int
    attendance_pct: float | None = Field(description="present of recorded × 100, 2 decimals; none: nothing recorded")


class Feed(BaseModel):
    """An imported RSS or Atom feed, with its last result."""
    id: uuid.UUID
    url: str
    title: str | None
    unit: str
    category: Category
    audience: list[str]
    publish: bool
    interval_s: int
    next_poll_at: datetime
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    failures: int
    imported: int
    created_by: str
    created_at: datetime
    publish_approved_by: str | None
    publish_approved_at: datetime | None


class FeedList(BaseModel):
    items: list[Feed]


class PollQueued(BaseModel):
    feed_id: uuid.UUID
    status: Literal["due"]


class FeedHistoryEntry(BaseModel):
    actor: str
    action: str
    detail: str | None
    at: datetime


class FeedHistory(BaseModel):
    items: list[FeedHistoryEntry]


# --- notifications ------------------------------------------------------------------------------------

NoticeKind = Literal["article", "meeting", "meeting_reminder", "account_approved", "account_rejected", "study"]
# A browser's keys as PushSubscription.toJSON() gives them (base64url): the P-256 point and the 16-byte secret.
Base64Url = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+=*$")]


class Notice(BaseModel):
    id: int
    kind: NoticeKind
    ref: str = Field(description="the article, study topic, meeting or account it is about: what the page opens")
    title: str | None = Field(description="an article's or a study topic's title")
    details: dict = Field(description="a meeting's starts_at and place")
    at: datetime
    unread: bool = Field(description="newer than what the member has seen (POST /notices/seen)")


class NoticeList(BaseModel):
    items: list[Notice]
    unseen: int = Field(description="notices not seen yet (counted up to 100)")


class Seen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    through: int = Field(ge=0, le=2**63 - 1, description="the newest notice seen: it and those before it are seen")


class NoticeChoices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: bool = Field(description="new articles for my units")
    meetings: bool = Field(description="my cell's meetings: called, and the reminder the day before")
    account: bool = Field(description="my registration and account")


class PushKey(BaseModel):
    public_key: str = Field(description="VAPID public key: the applicationServerKey of pushManager.subscribe")


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: Base64Url = Field(min_length=80, max_length=100)
    auth: Base64Url = Field(min_length=16, max_length=32)


class PushSubscriptionBody(BaseModel):
    """PushSubscription.toJSON(), as the browser gives it."""
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(min_length=10, max_length=2000)
    expirationTime: int | None = None  # noqa: N815 (the browser's name)
    keys: PushKeys


class PushSubscribed(BaseModel):
    id: int = Field(description="this device's subscription: DELETE /push-subscriptions/{id} ends it")
    active: bool = Field(description="false once ended")


# --- study and self-testing ---------------------------------------------------------------------------

StudyStatus = Literal["draft", "published"]
assert set(study_rules.STATUSES) == set(StudyStatus.__args__)


class StudyQuestion(BaseModel):
    prompt: str
    options: list[str]
    correct: int | None = Field(description="the right option (0 for the first): to the topic's editors, and to a "
                                            "member once they have submitted; none before")
    explanation: str | None = Field(description="as `correct`")


class StudyDocument(BaseModel):
    """A document the topic studies (its file: /documents/{id}/file)."""
    id: uuid.UUID
    kind: Literal["resolution", "directive", "guidance", "other"]
    number: str | None
    title: str
    issued_on: date | None
    issuing_body: str | None
    filename: str
    size_bytes: int


class ReviewedQuestion(BaseModel):
    prompt: str
    options: list[str]
    chosen: int = Field(description="the option the member chose")
    correct: int = Field(description="the right option")
    right: bool
    explanation: str | None


class QuizResult(BaseModel):
    """A member's own result: the last submission's score and review, and their best score."""
    score: int = Field(description="right answers of the last submission")
    max_score: int = Field(description="the number of questions")
    percent: float
    best_score: int = Field(description="the best of the member's submissions: the one the unit's figures count")
    best_percent: float
    attempts: int
    completed_at: datetime = Field(description="the first submission")
    submitted_at: datetime = Field(description="the last submission")
    review: list[ReviewedQuestion] = Field(description="each question with the answer chosen, the right one and why")


class QuizSubmitted(QuizResult):
    topic_id: uuid.UUID


class StudyTopic(BaseModel):
    """A study topic whole: its documents and its quiz (with the answer key where `answer_key`), and
    the caller's result."""
    id: uuid.UUID
    title: str
    description: str
    author_unit: str
    author_unit_name: str | None
    audience: list[str]
    status: StudyStatus
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    questions: list[StudyQuestion]
    documents: list[StudyDocument]
    result: QuizResult | None = Field(description="yours, once you have submitted")
    answer_key: bool = Field(description="whether the questions carry the right answers")


class StudyTopicItem(BaseModel):
    """A published topic addressed to you, with your best score so far (none: not taken yet)."""
    id: uuid.UUID
    title: str
    description: str
    author_unit: str
    published_at: datetime
    questions: int
    documents: int
    best_score: int | None
    max_score: int | None
    attempts: int | None
    submitted_at: datetime | None


class StudyTopicList(BaseModel):
    items: list[StudyTopicItem]


class StudyDeskItem(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    author_unit: str
    author_unit_name: str | None
    audience: list[str]
    status: StudyStatus
    published_at: datetime | None
    updated_at: datetime
    questions: int
    documents: int
    yours: bool = Field(description="you wrote it (so another chief editor must publish it)")
    may_publish: bool = Field(description="a draft you may publish: a chief editor of its unit or above, not its "
                                          "author")
    completed: int = Field(description="members who completed its quiz")


class StudyDesk(BaseModel):
    items: list[StudyDeskItem]


class NotCompleted(BaseModel):
    member_id: uuid.UUID
    full_name: str | None = Field(description="none while the member's data is restricted at their request")


class CellCompletion(BaseModel):
    cell: str
    name: str
    members: int = Field(description="members expected to study (active and probationary)")
    completed: int
    average_percent: float | None = Field(description="the average of their best scores (%), 2 decimals; none under "
                                                      "`average_from` results (it would tell a member's score)")
    not_completed: list[NotCompleted] | None = Field(description="to the cell's secretary: who has not completed it "
                                                                 "yet (never a score); none to anyone else")


class StudyCompletion(BaseModel):
    """A topic's completion in the cells under a unit that it is addressed to: counts and averages only."""
    topic_id: uuid.UUID
    title: str
    unit: str | None
    cells: list[CellCompletion]
    members: int
    completed: int
    average_percent: float | None
    average_from: int = Field(description="the fewest results an average is given for")


class StudyReachItem(BaseModel):
    id: uuid.UUID
    title: str
    author_unit: str
    audience: list[str]
    published_at: datetime
    questions: int
    completed: int = Field(description="members of the unit who completed its quiz")


class StudyReach(BaseModel):
    """The published topics addressed to a unit or to units in it, newest first."""
    unit: str | None
    items: list[StudyReachItem]
