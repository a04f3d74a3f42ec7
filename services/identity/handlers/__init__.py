"""Use cases of identity (being split into one module per concern)."""

from services.identity.handlers.replica import *  # noqa: F403
from services.identity.handlers.replica import _digest  # noqa: F401
