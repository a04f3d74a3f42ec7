"""Metrics' consumers: one per stream it projects, each applying a fetched
batch at a time (projection.py)."""

from services.metrics import projection
from sotay.kit.consumer import Consumer

UNIT_EVENTS = ("OrgUnitCreated", "OrgUnitUpdated")
MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")
IDENTITY_EVENTS = ("RegistrationSubmitted", "AccountApproved", "AccountRejected", "AccountActivated",
                   "AccountDisabled", "AccountMoved")
CONTENT_EVENTS = ("ArticleRead", "ArticlePublished", "FeedbackPosted")


BATCH = 250  # the handlers' cost is mostly per batch (a few statements each)


def consumers() -> list[Consumer]:
    # A member's events are versioned snapshots and a unit's are its own: members
    # and units are independent of one another (rebuild.py applies them in lanes).
    registry = Consumer(name="metrics-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH, lane_key=lambda e: e["data"].get("member_id") or e["data"].get("code"))
    registry.on_batch([f"sotay.members.{n}.v1" for n in UNIT_EVENTS + MEMBER_EVENTS],
                      projection.apply_registry_batch)
    accounts = Consumer(name="metrics-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>",
                        batch_size=BATCH)
    accounts.on_batch([f"sotay.identity.{n}.v1" for n in IDENTITY_EVENTS],
                      projection.apply_accounts_batch)
    content = Consumer(name="metrics-content", stream="SOTAY_CONTENT", filter_subject="sotay.content.>",
                       batch_size=BATCH)
    content.on_batch([f"sotay.content.{n}.v1" for n in CONTENT_EVENTS],
                     projection.apply_content_batch)
    return [registry, accounts, content]
