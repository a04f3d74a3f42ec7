"""The request and response bodies of metrics' HTTP API. The routes answer with
json_response: these models document what they send (they do not filter it)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sotay.contracts.metrics import RolloutFigures

# --- requests ---------------------------------------------------------------------------------


class WaveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    starts_on: date
    target_pct: float = Field(ge=0.01, le=100, description="kept to two decimals")
    deadline: date


class TrainingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(max_length=40)
    held_on: date
    topic: str = Field(min_length=2, max_length=300)
    people: int = Field(ge=1, le=100_000)


# --- responses --------------------------------------------------------------------------------


class Funnel(BaseModel):
    registered: int
    pending: int
    approved: int
    activated: int


class WithoutAccount(BaseModel):
    not_eligible: dict[str, int] = Field(description="members not eligible, by reason")
    eligible_not_registered: int
    rejected: int
    disabled: int


class Figures(RolloutFigures):
    """A unit's rollout figures (its whole subtree), as RolloutSnapshot carries them, with the
    funnel and the members without an account spelled out."""

    funnel: Funnel
    without_account: WithoutAccount


class Children(BaseModel):
    unit: str
    items: list[Figures]


class NamedUnit(BaseModel):
    code: str
    name: str
    kind: str


class WaveLine(BaseModel):
    number: int
    name: str
    starts_on: date
    target_pct: float
    deadline: date
    expected_pct_today: float = Field(description="where the wave's units should be today")


class PlanHere(BaseModel):
    expected_pct_today: float | None = Field(
        description="the % of eligible members the unit should have installed today (null without a wave)")
    waves: list[WaveLine] = Field(description="the unit's wave (every wave, for the city)")
    below: dict[str, float | None] = Field(description="the same figure for each unit directly under it")


class Place(BaseModel):
    """Where a person's dashboard opens and stands."""

    home: NamedUnit = Field(description="the highest unit the caller's roles are granted on")
    unit: NamedUnit = Field(description="the unit shown: the one asked for when allowed, else home")
    refused: Literal["outside", "unknown"] | None = Field(
        description="why the unit asked for is not shown (outside the caller's units, or no such unit)")
    as_of: date
    trail: list[NamedUnit] = Field(description="the units from the highest the caller may open down to this one")
    plan: PlanHere


class Point(BaseModel):
    day: date
    value: Any = Field(description="the figure that day (null before it was kept)")


class History(BaseModel):
    unit: str
    figure: str
    points: list[Point]


class TrainingSession(BaseModel):
    id: str
    unit: str
    held_on: date
    topic: str
    people: int


class TrainingSessions(BaseModel):
    items: list[TrainingSession]


class WaveUnit(BaseModel):
    unit_code: str
    unit_name: str
    installed_pct_eligible: float
    behind: bool


class Wave(BaseModel):
    number: int
    name: str
    starts_on: date
    target_pct: float
    deadline: date
    expected_pct_today: float
    units: list[WaveUnit]
    behind: list[str] = Field(description="the codes of the wave's units behind where they should be today")


class Plan(BaseModel):
    as_of: date
    city: str
    waves: list[Wave]


class WaveSet(BaseModel):
    number: int
    name: str
    starts_on: date
    target_pct: float
    deadline: date


class Summary(BaseModel):
    unit: str
    lang: str
    as_of: date
    text: str


# Routes that answer with something else than JSON.
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        {"schema": {"type": "string", "format": "binary"}}}}}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {
    "description": "`event: rollout` with the figures now, then at each change (a Figures object each)",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/plain": {"schema": {"type": "string"}}}}}
