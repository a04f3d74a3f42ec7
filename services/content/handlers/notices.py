"""Notifications: what a member is told, and how.

Built as a consumer of events (entrypoints/events.py): an article published for the member's
units, a study topic published for them, their cell's meeting called (and, by the scheduler, reminded the day before), their
registration approved or rejected. Each is one notice, whoever it reaches; the member reads
them in the handbook's inbox, and devices that allowed it are sent a push (Web Push, through
the browser maker's push service: adapters/push.py) by the scheduling replica (push_due).
Members choose which kinds they receive."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.content.adapters import notices as store
from services.content.adapters.push import Pusher, Subscription, keys_problem
from services.content.adapters.replica import ORG, reader_params
from services.content.domain.notices import push_payload, push_ttl
from sotay.kit.auth import Principal
from sotay.kit.http import Problem, invalid

log = logging.getLogger("sotay.content.notices")

CHUNK = 500  # subscriptions sent to per round trip of the notice's progress
PUSH_PURPOSE = "push"  # the purpose of identity's privacy notice that push notifications need


# --- from events ------------------------------------------------------------------------------------

async def article_published(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    paths = list((await ORG.paths_of(db, data["audience"])).values())
    await store.add(db, "article", data["article_id"], datetime.fromisoformat(data["published_at"]),
                    audience_paths=paths, title=data["title"])


async def article_retracted(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    await store.withdraw(db, "article", envelope["data"]["article_id"])


async def study_topic_published(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    """A study topic to read and be tested on, told as an article is (the member's choice "articles")."""
    data = envelope["data"]
    paths = list((await ORG.paths_of(db, data["audience"])).values())
    await store.add(db, "study", data["topic_id"], datetime.fromisoformat(data["published_at"]),
                    audience_paths=paths, title=data["title"])


async def meeting_scheduled(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    paths = list((await ORG.paths_of(db, [data["cell"]])).values())
    await store.add(db, "meeting", data["meeting_id"], datetime.fromisoformat(envelope["time"]),
                    audience_paths=paths, details={"starts_at": data["starts_at"], "place": data["place"]})


async def registration_submitted(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    await store.registration_waits(db, envelope["data"]["registration_id"])


async def account_approved(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    await store.registration_decided(db, data["registration_id"], data["account_id"], data["member_id"])
    await store.add(db, "account_approved", data["account_id"], datetime.fromisoformat(envelope["time"]),
                    account_id=data["account_id"], registration_id=data["registration_id"])


async def account_rejected(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    """A rejected registrant has no account, hence no inbox: only the devices they registered
    from are told (the reason is theirs to read where they sign in, not in a push)."""
    data = envelope["data"]
    await store.registration_decided(db, data["registration_id"], None, None)
    await store.add(db, "account_rejected", data["registration_id"], datetime.fromisoformat(envelope["time"]),
                    registration_id=data["registration_id"])


async def consent_withdrawn(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    """A member who withdraws their consent to push notifications (identity's consent ledger) is
    pushed nothing more: every device of their account is forgotten."""
    data = envelope["data"]
    if PUSH_PURPOSE in data["purposes"] and data["account_id"]:
        await store.forget_account_devices(db, str(uuid.UUID(data["account_id"])))


# --- the member's inbox and choices ---------------------------------------------------------------

async def inbox(db: AsyncConnection, actor: Principal, limit: int) -> dict[str, Any]:
    items, unseen = await store.inbox(db, reader_params(actor), limit)
    return {"items": items, "unseen": unseen}


async def seen(db: AsyncConnection, actor: Principal, through: int) -> None:
    await store.seen(db, actor.subject, through)


async def choices(db: AsyncConnection, actor: Principal) -> dict[str, bool]:
    return await store.choices(db, actor.subject)


async def choose(db: AsyncConnection, actor: Principal, chosen: dict[str, bool]) -> dict[str, bool]:
    await store.choose(db, actor.subject, chosen)
    return chosen


# --- devices ------------------------------------------------------------------------------------------

def _check(pusher: Pusher | None, endpoint: str, p256dh: str, auth: str) -> None:
    if pusher is None:
        raise Problem(404, "Push is off", "This system sends no push notifications (SOTAY_PUSH_HOSTS names no push service).",
                      code="push_off")
    reason = pusher.policy.refusal(endpoint)
    problems = [("endpoint", reason)] if reason else []
    problems += keys_problem(p256dh, auth)
    if problems:
        raise invalid(problems)


async def subscribe(db: AsyncConnection, pusher: Pusher | None, actor: Principal, endpoint: str, p256dh: str,
                    auth: str) -> int:
    _check(pusher, endpoint, p256dh, auth)
    return _taken(await store.subscribe(db, endpoint, p256dh, auth, account_id=actor.subject,
                                        card=actor.member_card_no))


def _taken(subscription_id: int | None) -> int:
    if subscription_id is None:
        raise invalid([("endpoint", "is subscribed already, with other keys")])
    return subscription_id


async def subscribe_registrant(db: AsyncConnection, pusher: Pusher | None, registration_id: uuid.UUID,
                               endpoint: str, p256dh: str, auth: str) -> int:
    """A registrant's device, told of the decision. Only a registration still waiting (known
    here from RegistrationSubmitted) takes one: its id, returned to the registrant alone, is
    what stands for them, and it stops working once decided."""
    _check(pusher, endpoint, p256dh, auth)
    if not await store.is_waiting(db, registration_id):
        raise Problem(404, "Not found", "No registration waiting for approval has this id.",
                      code="registration_not_found")
    return _taken(await store.subscribe(db, endpoint, p256dh, auth, registration_id=registration_id))


async def unsubscribe(db: AsyncConnection, actor: Principal, subscription_id: int) -> None:
    if not await store.unsubscribe(db, subscription_id, actor.subject):
        raise Problem(404, "Not found", "No such device of yours.")


# --- pushing (the scheduling replica) ---------------------------------------------------------------

async def remind(conn: AsyncConnection, hours: int) -> None:
    await store.remind_meetings(conn, hours)
    await conn.commit()


async def push_due(engine: AsyncEngine, pusher: Pusher, notices_at_once: int = 20) -> int:
    """Push the notices whose time has come, a chunk of subscriptions at a time: each chunk's
    progress is committed, so a replica taking over resumes at the next chunk (a chunk cut
    short may be sent twice; the page shows a notice once, by its id). Returns pushes sent."""
    async with engine.begin() as db:
        notices = await store.due(db, notices_at_once)
    sent_in_all = 0
    for notice in notices:
        payload = push_payload(notice["id"], notice["kind"], notice["ref"], notice["title"])
        after = notice["pushed_through"]
        while True:
            async with engine.connect() as db:
                chunk = [Subscription(*row) for row in await store.recipients(db, notice, after, CHUNK)]
            ttl = push_ttl(notice["kind"], notice["at"], notice["details"], datetime.now(UTC))
            outcomes = await asyncio.gather(*(pusher.send(s, payload, ttl) for s in chunk))
            sent = [s.id for s, (o, _) in zip(chunk, outcomes) if o == "sent"]
            gone = [s.id for s, (o, _) in zip(chunk, outcomes) if o == "gone"]
            failed = [(s.id, why or "") for s, (o, why) in zip(chunk, outcomes) if o == "failed"]
            after = chunk[-1].id if chunk else after
            done = len(chunk) < CHUNK
            async with engine.begin() as db:
                await store.pushed(db, notice["id"], after, done, gone, failed, sent)
                if done and notice["kind"] == "account_rejected":
                    await store.forget_registrants(db, notice["registration_id"])
            sent_in_all += len(sent)
            if chunk:
                log.info("notice %s (%s): %d pushed, %d gone, %d failed", notice["id"], notice["kind"],
                         len(sent), len(gone), len(failed))
            if done:
                break
    return sent_in_all
