"""``Reporters``: tells several RequestReporters (bot.core.ports) the same thing; one failing never
stops the others. The watcher, the waiting line and the request flow report to one of these."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence

from bot.core.ports import RequestReporter
from bot.core.types import ImagineRequest, InterruptedEnqueue, Job, LinePlace, Waiting

log = logging.getLogger(__name__)


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

    async def line_moved(self, places: Sequence[LinePlace]) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.line_moved(places), reporter, "line_moved")

    async def refused(self, request: ImagineRequest, rule: str) -> None:
        for reporter in self._reporters:
            await _guarded(reporter.refused(request, rule), reporter, "refused")


async def _guarded(call: Awaitable[None], reporter: object, what: str) -> None:
    try:
        await call
    except Exception:
        log.exception("%s.%s failed", type(reporter).__name__, what)
