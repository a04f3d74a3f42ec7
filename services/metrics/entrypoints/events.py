"""Metrics' consumers: one per stream it projects, each applying a fetched
batch at a time (projection.py)."""

from functools import partial

from services.metrics import projection
from services.metrics.projection import Touched
from sotay.consumer import Consumer

UNIT_EVENTS = ("OrgUnitCreated", "OrgUnitUpdated")
MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")
IDENTITY_EVENTS = ("RegistrationSubmitted", "AccountApproved", "AccountRejected", "AccountActivated",
                   "AccountDisabled", "AccountMoved")
CONTENT_EVENTS = ("ArticleRead", "ArticlePublished", "FeedbackPosted")


def consumers(touched: Touched) -> list[Consumer]:
    registry = Consumer(name="metrics-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    registry.on_batch([f"sotay.members.{n}.v1" for n in UNIT_EVENTS + MEMBER_EVENTS],
                      partial(projection.apply_registry_batch, touched=touched))
    accounts = Consumer(name="metrics-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>")
    accounts.on_batch([f"sotay.identity.{n}.v1" for n in IDENTITY_EVENTS],
                      partial(projection.apply_accounts_batch, touched=touched))
    content = Consumer(name="metrics-content", stream="SOTAY_CONTENT", filter_subject="sotay.content.>")
    content.on_batch([f"sotay.content.{n}.v1" for n in CONTENT_EVENTS],
                     partial(projection.apply_content_batch, touched=touched))
    return [registry, accounts, content]
