"""Who hears about a request's progress and end: its status message and the audit channel.

The watcher, the waiting line and the cancel flow report to one ``RequestReporter``; ``Reporters``
tells several of them the same thing, and one failing never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Protocol

from bot.store import InterruptedEnqueue, Job, Waiting

log = logging.getLogger(__name__)


class RequestReporter(Protocol):
    async def refresh(self, pending: Iterable[Job]) -> None:
        """Open requests may have moved (queue position, started, some images posted)."""

    async def finish(self, job: Job) -> None:
        """Every generation of the job's request has been posted or explained."""

    async def cancelled(self, request: Job | Waiting, by_user_id: int, count: int) -> None:
        """Someone pressed Cancel (on a request at Oxen or still in the waiting line)."""

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        """A request from the waiting line was refused by Oxen: it will never start."""

    async def interrupted(self, enqueue: InterruptedEnqueue) -> None:
        """The bot restarted while sending this request to Oxen: its outcome is unknown (the
        requester has been told)."""


class Reporters:
    def __init__(self, *reporters: RequestReporter) -> None:
        self._reporters = reporters

    async def refresh(self, pending: Iterable[Job]) -> None:
        pending = list(pending)
        for reporter in self._reporters:
            await _guarded(reporter.refresh(pending), reporter, "refresh")

    async def finish(self, job: Job) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.finish(job), reporter, "finish")

    async def cancelled(self, request: Job | Waiting, by_user_id: int, count: int) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.cancelled(request, by_user_id, count), reporter, "cancelled")

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.not_started(waiting, reason), reporter, "not_started")

    async def interrupted(self, enqueue: InterruptedEnqueue) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.interrupted(enqueue), reporter, "interrupted")


async def _guarded(call: Awaitable[None], reporter: object, what: str) -> None:
    try:
        await call
    except Exception:
        log.exception("%s.%s failed", type(reporter).__name__, what)
