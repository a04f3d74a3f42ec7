"""Events metrics publishes (subjects `sotay.metrics.*`).

`RolloutSnapshot` goes out on `sotay.metrics.rollout.<committee>` (`city`
for the whole city) whenever a unit's figures change, coalesced, and its
latest value per unit is kept in the key-value bucket `sotay_rollout`.
"""

from datetime import date
from typing import ClassVar

from pydantic import BaseModel

from sotay.kit.events import Catalogue, Event


class MetricsEvent(Event):
    service = "metrics"


class RolloutFigures(BaseModel):
    """A unit's rollout figures (its whole subtree): what RolloutSnapshot carries, and what
    metrics' API answers."""

    unit_id: str
    unit_code: str
    unit_name: str
    unit_kind: str
    as_of: date
    members_total: int
    members_eligible: int
    accounts_installed: int
    accounts_web: int
    accounts_mobile: int
    accounts_pending: int
    accounts_approved: int
    accounts_rejected: int
    # Pending registrations that waited past the approval term and escalated to the unit above.
    accounts_overdue: int = 0
    # Members' data-subject requests overdue at their unit and escalated, not settled yet.
    requests_overdue: int = 0
    installed_pct_total: float
    installed_pct_eligible: float
    readers_today: int
    readers_7d: int
    trained_people: int
    training_sessions: int
    articles_published: int
    feedback_posted: int
    funnel: dict[str, int]
    without_account: dict


class RolloutSnapshot(MetricsEvent, RolloutFigures):
    """A unit's rollout figures (its whole subtree) after they changed."""

    # The contract's subject is sotay.metrics.rollout.<committee>, not the snake-cased class name.
    subject_name: ClassVar[str] = "rollout"


class TrainingRecorded(MetricsEvent):
    """A training session on installing and using the handbook was held."""

    session_id: str
    unit: str
    held_on: date
    topic: str
    people: int


CATALOGUE = Catalogue(RolloutSnapshot, TrainingRecorded)
