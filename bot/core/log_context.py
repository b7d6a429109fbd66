"""Who and what a log line is about: the generation, request, server, channel and user ids.

Set where a job or a request is being handled (``with log_context(generation_id=...)``); every
line logged inside carries them, including lines from code that knows nothing of the job. The
JSON log format (``bot.logs``) writes them as fields. It lives in a ``ContextVar``, so each
asyncio task (each interaction, each delivery) sees only its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Final

from bot.core.types import Job

# The fields a log line may carry, in the order the JSON format writes them.
FIELDS: Final = (
    "generation_id",
    "generation_ids",
    "request_id",
    "guild_id",
    "channel_id",
    "user_id",
)

_EMPTY: Mapping[str, object] = MappingProxyType({})
# A ContextVar is the key to per-task values, not shared state: it must be module level.
_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("imagine_log_context", default=_EMPTY)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (those not None) to every line logged inside the block."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a log context field: {', '.join(sorted(unknown))}")
    added = {name: value for name, value in fields.items() if value is not None}
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **added}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def job_context(job: Job) -> contextlib.AbstractContextManager[None]:
    """Everything a log line about one generation should carry."""
    return log_context(
        generation_id=job.generation_id,
        request_id=job.request_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        user_id=job.requester_id,
    )


def current() -> Mapping[str, object]:
    """The fields set for the code running now (read-only)."""
    return _CONTEXT.get()
