"""Starting the background work in order, and stopping it in order within a deadline.

Start: the completion event stream first (subscribed before any command can enqueue), then the
watcher, the waiting line and the other background tasks (the gallery's weekly post). Stop:
refuse new requests and let those being enqueued be recorded, stop the event stream, let the
watcher's pass in flight and the line finish, stop the other background tasks, then whatever
else must flush (the gallery's vote labels, the audit channel). Everything shares one deadline
(SHUTDOWN_GRACE_SECONDS): a step still running when it passes is cancelled, and every step after
it is cancelled at once. What was cut short stays in the store and resumes at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.core.completions import CompletionListener
from bot.core.imagine import ImagineService
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]


class Background(Protocol):
    """A background task of its own (e.g. the gallery's weekly post)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Lifecycle:
    def __init__(
        self,
        imagine: ImagineService,
        completions: CompletionListener,
        watcher: Watcher,
        line: WaitingLine,
        *,
        grace: float,
        also_run: Sequence[tuple[str, Background]] = (),
        also_stop: Sequence[tuple[str, Step]] = (),
    ) -> None:
        self._completions = completions
        self._watcher = watcher
        self._line = line
        self._background = [task for _, task in also_run]
        self._grace = grace
        self._steps: list[tuple[str, Step]] = [
            ("requests being enqueued", imagine.drain),
            ("the completion event stream", completions.stop),
            ("the watcher's pass in flight", watcher.stop),
            ("the waiting line", line.stop),
            *((name, task.stop) for name, task in also_run),
            *also_stop,
        ]

    def start(self) -> None:
        self._completions.start()
        self._watcher.start()
        self._line.start()
        for task in self._background:
            task.start()

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        cut_short: list[str] = []
        for name, step in self._steps:
            try:
                # Past the deadline this cancels the step at its first await.
                async with asyncio.timeout_at(deadline):
                    await step()
            except TimeoutError:
                cut_short.append(name)
        if cut_short:
            log.warning(
                "shutdown grace of %g s ran out; cut short: %s. Unfinished work stays in the "
                "store and resumes at the next start",
                self._grace, ", ".join(cut_short),
            )  # fmt: skip
