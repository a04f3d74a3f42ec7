"""Use cases of identity, one module per concern: registrations (and a registrant's own
status), approvals, sign_in (tokens), throttles, roles (grants), accounts (staff accounts
made and disabled) and replica (following the registry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

SCHEMA = "identity"
# Ends an account's sessions in every service (the revocation bucket).
EndSessions = Callable[[str], Awaitable[None]]
