"""Opening the pool at start, waiting a bounded time for a database that is not up yet.

Orchestrators start the bot and PostgreSQL together (Kubernetes has no start order, and a
host reboot restarts both at once), so a refused or unanswered connection is worth waiting
out for a while; a wrong password or an unknown database is not, and is said at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg

from bot.store.errors import StoreMisconfigured, StoreUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Worth waiting out: nothing listens yet, the name does not resolve yet, the server is starting
# or shutting down, or it is full for the moment.
_NOT_UP_YET = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# The server answered and said no: the URL must change.
_REFUSED = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)
_FIRST_DELAY = 1.0
_MAX_DELAY = 5.0


def describe(url: str) -> str:
    """Where the URL points, without its user or password: host:port/database."""
    parts = urlsplit(url)
    host = parts.hostname or "the local socket"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return f"{host}:{port}{parts.path or ''}"


async def connect_when_up(
    url: str,
    connect: Callable[[], Awaitable[T]],
    *,
    wait_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """``connect()``, tried again while the database is not up yet, for ``wait_seconds`` at most
    (0: one try). Raises StoreMisconfigured or StoreUnreachable, whose text is safe to log."""
    where = describe(url)
    deadline = monotonic() + wait_seconds
    delay = _FIRST_DELAY
    while True:
        try:
            return await connect()
        except _REFUSED as err:
            raise StoreMisconfigured(
                f"PostgreSQL at {where} refused the bot: {err} (check DATABASE_URL's user, "
                "password and database name)"
            ) from None
        except _NOT_UP_YET as err:
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            left = deadline - monotonic()
            if left <= 0:
                raise StoreUnreachable(
                    f"PostgreSQL at {where} did not answer within {wait_seconds:g} s ({reason}); "
                    "check that it runs and that DATABASE_URL's host and port reach it "
                    "(DATABASE_WAIT_SECONDS: how long to wait at start)"
                ) from None
            pause = min(delay, left)
            log.warning(
                "PostgreSQL at %s is not answering yet (%s); trying again in %.0f s",
                where, reason, pause,
            )  # fmt: skip
            await asyncio.sleep(pause)
            delay = min(delay * 2, _MAX_DELAY)
