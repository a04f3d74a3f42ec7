"""The request dependencies every service's routes use, written once.

    router = service_router(ctx, tags=["members"])

    @router.get("/api/members/v1/me")
    async def me(user: CurrentUser): ...

A `service_router` is an APIRouter whose routes first bind the service's
context to the request; `CurrentUser` is then the principal of the request's
bearer token as that service's verifier sees it (the key sets it trusts, the
sessions it knows were ended). In `sotay up` several services share one app:
each route still checks tokens with its own service's verifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request

from sotay.kit.auth import AuthError, Principal
from sotay.kit.http import PROBLEM_RESPONSES, Problem

if TYPE_CHECKING:
    from sotay.kit.service import ServiceContext


def service_router(ctx: ServiceContext, **options: Any) -> APIRouter:
    """An APIRouter for `ctx`'s routes; their refusals are documented as problems."""

    async def bind_the_service(request: Request) -> None:
        request.state.service = ctx

    return APIRouter(dependencies=[Depends(bind_the_service)], responses=PROBLEM_RESPONSES, **options)


def service_of(request: Request) -> ServiceContext:
    try:
        return request.state.service
    except AttributeError:
        raise RuntimeError(f"{request.url.path}: the route is not on a service_router") from None


async def current_user(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <token>`; 401 without a valid token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Unauthorized", "A bearer token is required.")
    try:
        return service_of(request).verifier.verify(token.strip())
    except AuthError as exc:
        raise Problem(401, "Unauthorized", str(exc)) from exc


CurrentUser = Annotated[Principal, Depends(current_user)]
