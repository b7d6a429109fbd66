"""The push source: Oxen's completion event stream, kept open, feeding the watcher.

The stream has no replay, so every (re)connect asks the watcher to reconcile by polling: whatever
finished while we were away is found that way. Events for generations we don't track are ignored
by the watcher. Reconnects back off exponentially with full jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from bot.core.metrics import Metrics
from bot.core.watcher import Watcher
from bot.oxen import OxenClient, OxenError

log = logging.getLogger(__name__)


class CompletionListener:
    def __init__(
        self,
        oxen: OxenClient,
        watcher: Watcher,
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._oxen = oxen
        self._watcher = watcher
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._metrics = metrics or Metrics(process=False)
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="imagine-completions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_connected(False)

    async def _run(self) -> None:
        failures = 0
        while True:
            opened_at = time.monotonic()
            try:
                await self._listen()
                log.info("Oxen's event stream closed; reconnecting")
            except OxenError as err:
                log.warning("Oxen's event stream failed (%s); polling until it is back", err)
            except Exception:
                log.exception("event stream listener error; reconnecting")
            finally:
                self._set_connected(False)
            failures = 0 if time.monotonic() - opened_at >= self._stable_after else failures + 1
            ceiling = min(self._max_backoff, self._min_backoff * 2 ** max(failures - 1, 0))
            await self._sleep(self._rng.uniform(self._min_backoff / 2, ceiling))

    async def _listen(self) -> None:
        async with self._oxen.open_events() as stream:
            self.connects += 1
            if self.connects > 1:
                self._metrics.events_reconnected()
            self._set_connected(True)
            log.info("subscribed to Oxen's completion events")
            # No replay: anything that finished while we were not listening is found by a poll.
            self._watcher.wake()
            async for event in stream:
                self._watcher.finish_soon(
                    event.generation_id, event.status, result_url=event.url, error=event.error
                )

    def _set_connected(self, value: bool) -> None:
        if value:
            self._connected.set()
        else:
            self._connected.clear()
        self._metrics.events_connected(value)
        self._watcher.push_changed(value)
