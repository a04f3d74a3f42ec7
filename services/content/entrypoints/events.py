"""Content's consumers: the registry (the org tree and where members sit), and the events
members are told of (handlers/notices.py): content's own articles, study topics and meetings, identity's
registration decisions; and a member's withdrawal of their consent to push notifications."""

from services.content.handlers import notices, replica
from sotay.contracts.content import ArticlePublished, ArticleRetracted, MeetingScheduled, StudyTopicPublished
from sotay.contracts.identity import (
    AccountApproved,
    AccountRejected,
    ConsentWithdrawn,
    RegistrationSubmitted,
)
from sotay.contracts.members import MEMBER_SNAPSHOTS, UNIT_EVENTS
from sotay.kit.consumer import Consumer
from sotay.kit.member_keys import open_events
from sotay.kit.service import ServiceContext

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer(ctx: ServiceContext) -> Consumer:
    """The org tree and where members sit, with their card and name opened from each member event
    with the member's key (sotay/kit/member_keys.py); a restricted member keeps neither."""
    consumer = Consumer(name="content-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH)

    async def apply_batch(db, envelopes):
        await open_events(ctx.member_keys, envelopes)
        await replica.apply_registry_batch(db, envelopes)
    consumer.on_batch([*UNIT_EVENTS, *MEMBER_SNAPSHOTS], apply_batch)
    return consumer


def notice_consumers() -> list[Consumer]:
    news = Consumer(name="content-notices", stream="SOTAY_CONTENT", filter_subject="sotay.content.>")
    news.on(ArticlePublished)(notices.article_published)
    news.on(ArticleRetracted)(notices.article_retracted)
    news.on(MeetingScheduled)(notices.meeting_scheduled)
    news.on(StudyTopicPublished)(notices.study_topic_published)
    decisions = Consumer(name="content-registrations", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>")
    decisions.on(RegistrationSubmitted)(notices.registration_submitted)
    decisions.on(AccountApproved)(notices.account_approved)
    decisions.on(AccountRejected)(notices.account_rejected)
    decisions.on(ConsentWithdrawn)(notices.consent_withdrawn)
    return [news, decisions]
