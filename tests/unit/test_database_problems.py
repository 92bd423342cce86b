"""Which database errors the HTTP host answers with a retryable 503 rather than a 500."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc

from townsquare.hosts.http.problems import is_connection_failure, is_invalid_data


def wrapped(orig: Exception, *, invalidated: bool = False) -> sqlalchemy.exc.DBAPIError:
    error = sqlalchemy.exc.DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error)
    error.connection_invalidated = invalidated
    return error


@pytest.mark.parametrize(
    "error",
    [
        wrapped(psycopg.OperationalError("connection refused")),
        wrapped(psycopg.errors.AdminShutdown("terminating connection due to administrator command")),
        wrapped(psycopg.InterfaceError("the connection is closed"), invalidated=True),
        sqlalchemy.exc.TimeoutError("QueuePool limit of size 4 overflow 4 reached"),
        psycopg.OperationalError("the database system is starting up"),
    ],
    ids=["refused", "admin-shutdown", "invalidated", "pool-timeout", "raw-psycopg"],
)
def test_an_unreachable_database_is_a_connection_failure(error: Exception) -> None:
    assert is_connection_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(psycopg.errors.UniqueViolation("duplicate key")),
        wrapped(psycopg.errors.UndefinedTable("relation does not exist")),
        sqlalchemy.exc.NoSuchColumnError("id"),
    ],
    ids=["unique-violation", "undefined-table", "sqlalchemy-bug"],
)
def test_other_database_errors_stay_internal_errors(error: Exception) -> None:
    assert not is_connection_failure(error)


def test_a_value_postgres_refuses_is_the_requests_fault() -> None:
    # SQLSTATE class 22 (data exception), e.g. a NUL character in text
    assert is_invalid_data(wrapped(psycopg.errors.UntranslatableCharacter("invalid byte sequence")))
    assert is_invalid_data(wrapped(psycopg.errors.NumericValueOutOfRange("out of range")))
    assert not is_invalid_data(wrapped(psycopg.errors.UniqueViolation("duplicate key")))
