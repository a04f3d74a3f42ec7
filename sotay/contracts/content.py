"""Events content publishes (subjects `sotay.content.*.<committee>`).

Article events go out on the author unit's committee (`city` for the city
editorial board) and carry the audience, so a district system can tell
which of its members an article reaches. `ArticleRead` and `FeedbackPosted`
go out on the reader's committee, with the reader's unit, so the rollout
figures ("readers today") roll up the org tree. Bodies never leave content:
other systems get titles, categories and ids.
"""

from datetime import date, datetime
from typing import Literal

from sotay.kit.events import Catalogue, Event

Category = Literal["news", "directive", "guidance", "qa", "local_news"]


class ContentEvent(Event):
    service = "content"


class ArticleFacts(ContentEvent):
    """What every article event says about the article."""

    article_id: str
    title: str
    category: Category
    author_unit: str
    audience: list[str]  # unit codes; ["city"] is everyone


class ArticleSubmitted(ArticleFacts):
    """An editor submitted a draft for review by a chief editor of their unit or above."""

    submitted_by: str


class ArticleReturned(ArticleFacts):
    """A reviewer sent the article back to its author with comments."""

    returned_by: str
    comment: str


class ArticleApproved(ArticleFacts):
    """A chief editor approved the article; it can be published."""

    approved_by: str


class ArticlePublished(ArticleFacts):
    """The article is in its audience's feeds (now, or from its scheduled time)."""

    published_at: datetime
    expires_at: datetime | None
    source_url: str | None  # set for articles imported from a feed


class ArticleRetracted(ArticleFacts):
    """The article was withdrawn from the feeds."""

    retracted_by: str
    reason: str


class ArticleRead(ContentEvent):
    """A member opened an article: at most once per member, article and day."""

    article_id: str
    account_id: str
    member_id: str | None
    unit: str | None  # the reader's cell
    day: date


class FeedbackPosted(ContentEvent):
    """A member commented on an article or wrote to a unit."""

    feedback_id: str
    article_id: str | None
    to_unit: str
    account_id: str
    unit: str | None  # the author's cell
    status: Literal["pending", "visible"]  # pending while the unit moderates it


class FeedbackAnswered(ContentEvent):
    """The unit answered a member's feedback."""

    feedback_id: str
    to_unit: str
    answered_by: str


class DocumentAdded(ContentEvent):
    """A resolution, directive or guidance document entered the library."""

    document_id: str
    kind: Literal["resolution", "directive", "guidance", "other"]
    number: str | None
    title: str
    issued_on: date | None
    issuing_body: str | None
    unit: str


class MeetingScheduled(ContentEvent):
    """A cell's meeting was called (planned), with its agenda and documents sent ahead: the
    month's regular meeting, due by the 20th of the month before, or a thematic one."""

    meeting_id: str
    cell: str
    starts_at: datetime
    place: str
    documents: list[str]
    kind: Literal["regular", "thematic"] = "regular"


class MeetingHeld(ContentEvent):
    """The cell's secretary recorded that the meeting took place: how many members the cell had
    and how many came, and whether its minutes (biên bản) are attached."""

    meeting_id: str
    cell: str
    kind: Literal["regular", "thematic"]
    starts_at: datetime
    held_at: datetime
    members: int
    present: int
    minutes: bool


class AttendanceRecorded(ContentEvent):
    """Who came to the meeting, by member id only: present, absent with a reason (excused), absent
    without one. Recorded again (a correction by the secretary), it replaces the one before."""

    meeting_id: str
    cell: str
    present: list[str]
    excused: list[str]
    absent: list[str]


class AttendanceConfirmed(ContentEvent):
    """A member answered a meeting's call: attending or not."""

    meeting_id: str
    cell: str
    account_id: str
    member_id: str | None
    attending: bool


class StudyTopicPublished(ContentEvent):
    """A study topic (học tập nghị quyết) was published for its audience: its title, the documents of
    the library it studies and how many questions its quiz has. The questions and their answer key
    never leave content."""

    topic_id: str
    title: str
    author_unit: str
    audience: list[str]  # unit codes; ["city"] is everyone
    documents: list[str]
    questions: int
    published_by: str
    published_at: datetime


class QuizCompleted(ContentEvent):
    """A member submitted their answers to a study topic's quiz (again, for a retake: `attempt`
    counts them), by member id, on the member's committee with their cell. Never the answers, and
    never the score: a member's score is theirs alone (content keeps it, and shows units counts and
    averages of 3 results or more); an event goes to every committee's system."""

    topic_id: str
    member_id: str
    cell: str
    max_score: int
    attempt: int


CATALOGUE = Catalogue(ArticleSubmitted, ArticleReturned, ArticleApproved, ArticlePublished, ArticleRetracted,
                      ArticleRead, FeedbackPosted, FeedbackAnswered, DocumentAdded, MeetingScheduled,
                      AttendanceConfirmed, MeetingHeld, AttendanceRecorded, StudyTopicPublished, QuizCompleted)
