"""What each service answers a member asking for the data it holds about them (a data subject's
access request, Law 91/2025/QH15): `GET /api/<service>/v1/me/data`. The handbook puts the four
answers together into one file and one readable page (web/assets/handbook.js, showMyData)."""

from typing import Any

from pydantic import BaseModel, Field


class SubjectData(BaseModel):
    service: str = Field(description="members, identity, content or metrics")
    parts: dict[str, list[dict[str, Any]]] = Field(
        description="each kind of data the service holds about the caller (its name is stable: the handbook "
                    "titles it in Vietnamese), with its rows; an empty list when it holds none of that kind")
