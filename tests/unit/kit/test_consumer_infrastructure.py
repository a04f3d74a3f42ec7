"""A database that cannot take writes (its disk full, out of memory, shutting down) is the
infrastructure's fault, not the message's: the batch is redelivered without counting towards
SOTAY_MAX_DELIVER, never dead-lettered. The chaos run under load (tests/chaos/test_load.py) found
members-accounts dead-lettering an AccountCreated after three deliveries on a full disk."""

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from sotay.kit.consumer import _is_infrastructure_error


def as_sqlalchemy_raises(error: Exception) -> Exception:
    """What the handler sees: SQLAlchemy's DBAPIError around the driver's error (asyncpg's, as cause)."""
    adapted = Exception(str(error))
    adapted.__cause__ = error
    wrapped = sa_exc.DBAPIError("INSERT INTO accounts …", {}, adapted)
    wrapped.__cause__ = adapted
    return wrapped


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.DiskFullError('could not extend file "base/16384/16555": No space left on device'),
    asyncpg.exceptions.OutOfMemoryError("out of memory"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.exceptions.PostgresIOError("could not read block 0 in file"),
])
def test_the_server_out_of_resources_is_not_the_message_s_fault(error):
    assert _is_infrastructure_error(as_sqlalchemy_raises(error))


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax for type uuid"),
    asyncpg.exceptions.CheckViolationError("new row violates check constraint"),
])
def test_a_message_s_own_failure_still_counts_its_deliveries(error):
    assert not _is_infrastructure_error(as_sqlalchemy_raises(error))
