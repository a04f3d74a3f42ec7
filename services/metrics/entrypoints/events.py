"""Metrics' consumers: one per stream it projects."""

from services.metrics import projection
from services.metrics.projection import Touched
from sotay.consumer import Consumer

MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")
IDENTITY_EVENTS = ("RegistrationSubmitted", "AccountApproved", "AccountRejected", "AccountActivated",
                   "AccountDisabled", "AccountMoved")
CONTENT_EVENTS = ("ArticleRead", "ArticlePublished", "FeedbackPosted")


def _bind(handler, touched: Touched):
    async def apply(db, envelope):
        await handler(db, envelope, touched)
    return apply


def consumers(touched: Touched) -> list[Consumer]:
    registry = Consumer(name="metrics-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    registry.on("sotay.members.OrgUnitCreated.v1")(_bind(projection.apply_unit_created, touched))
    registry.on("sotay.members.OrgUnitUpdated.v1")(_bind(projection.apply_unit_updated, touched))
    for name in MEMBER_EVENTS:
        registry.on(f"sotay.members.{name}.v1")(_bind(projection.apply_member_event, touched))

    accounts = Consumer(name="metrics-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>")
    for name in IDENTITY_EVENTS:
        accounts.on(f"sotay.identity.{name}.v1")(_bind(projection.apply_identity_event, touched))

    content = Consumer(name="metrics-content", stream="SOTAY_CONTENT", filter_subject="sotay.content.>")
    for name in CONTENT_EVENTS:
        content.on(f"sotay.content.{name}.v1")(_bind(projection.apply_content_event, touched))
    return [registry, accounts, content]
