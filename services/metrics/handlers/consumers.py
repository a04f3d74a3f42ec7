"""Metrics' consumers: one per stream it projects, each applying a fetched
batch at a time (handlers/projection.py). The live service runs them
(entrypoints/events.py), and the rebuild replays the streams through them."""

from services.metrics.handlers import projection
from sotay.contracts import content, identity
from sotay.contracts.members import MEMBER_SNAPSHOTS, UNIT_EVENTS, SubjectRequestEscalated, SubjectRequestSettled
from sotay.kit.consumer import Consumer

ACCOUNT_EVENTS = (identity.RegistrationSubmitted, identity.AccountApproved, identity.AccountRejected,
                  identity.AccountActivated, identity.AccountDisabled, identity.AccountMoved,
                  identity.RegistrationEscalated)
CONTENT_EVENTS = (content.ArticleRead, content.ArticlePublished, content.FeedbackPosted)


BATCH = 250  # the handlers' cost is mostly per batch (a few statements each)


def consumers() -> list[Consumer]:
    # A member's events are versioned snapshots and a unit's are its own: members
    # and units are independent of one another (handlers/rebuild.py applies them in lanes).
    registry = Consumer(name="metrics-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH, lane_key=lambda e: e["data"].get("member_id") or e["data"].get("code"))
    registry.on_batch([*UNIT_EVENTS, *MEMBER_SNAPSHOTS, SubjectRequestEscalated, SubjectRequestSettled],
                      projection.apply_registry_batch)
    accounts = Consumer(name="metrics-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>",
                        batch_size=BATCH)
    accounts.on_batch(ACCOUNT_EVENTS,
                      projection.apply_accounts_batch)
    content = Consumer(name="metrics-content", stream="SOTAY_CONTENT", filter_subject="sotay.content.>",
                       batch_size=BATCH)
    content.on_batch(CONTENT_EVENTS,
                     projection.apply_content_batch)
    return [registry, accounts, content]
