"""Liveness and readiness: named checks, each one handed in by the composition root.

- live: the process is worth keeping. The request being answered shows the event loop runs;
  the checks add what must never stop (the watcher's loop). Up from the start, while the bot
  logs in too: liveness is about the process, not about Discord.
- ready: the bot can serve right now. Every live check, plus the gateway, the store and Oxen.

A check passes when its probe returns True within the timeout; False, an exception or no answer
in time fail it. Answers are short: ``{"ok": false, "failed": ["gateway"]}``, no details that
could carry a secret.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Probe = Callable[[], bool | Awaitable[bool]]

DEFAULT_PROBE_TIMEOUT = 2.0  # seconds; orchestrators give a probe a few seconds in all


@dataclass(frozen=True)
class Check:
    name: str
    probe: Probe


@dataclass(frozen=True)
class Verdict:
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed

    def body(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": list(self.failed)}


class Health:
    def __init__(
        self,
        *,
        live: Sequence[Check],
        ready: Sequence[Check],
        timeout: float = DEFAULT_PROBE_TIMEOUT,
    ) -> None:
        self._live = tuple(live)
        self._ready = (*self._live, *ready)
        self._timeout = timeout
        self._last: dict[str, tuple[str, ...]] = {}

    async def live(self) -> Verdict:
        return await self._verdict("live", self._live)

    async def ready(self) -> Verdict:
        return await self._verdict("ready", self._ready)

    async def _verdict(self, what: str, checks: Sequence[Check]) -> Verdict:
        results = await asyncio.gather(*(self._passes(check) for check in checks))
        failed = tuple(check.name for check, ok in zip(checks, results, strict=True) if not ok)
        if failed != self._last.get(what, ()):  # say so when it changes, not on every probe
            if failed:
                log.warning("not %s: %s failed", what, ", ".join(failed))
            else:
                log.info("%s again", what)
        self._last[what] = failed
        return Verdict(failed)

    async def _passes(self, check: Check) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                answer = check.probe()
                if inspect.isawaitable(answer):
                    answer = await answer
                return bool(answer)
        except TimeoutError:
            log.debug("health check %s: no answer within %gs", check.name, self._timeout)
        except Exception as err:
            log.debug("health check %s failed: %r", check.name, err)
        return False


def answered_within(
    window: float,
    *,
    seconds_since_answer: Callable[[], float | None],
    stream_open: Callable[[], bool],
) -> Probe:
    """Oxen's probe: its completion event stream is open now (it carries a keep-alive every
    15 s, and is dropped after 60 s of silence), or an API call was answered within ``window``
    seconds."""

    def probe() -> bool:
        if stream_open():
            return True
        since = seconds_since_answer()
        return since is not None and since <= window

    return probe


def succeeds(call: Callable[[], Awaitable[object]]) -> Probe:
    """A probe that passes when ``call`` returns (e.g. the store's ping) and fails if it raises."""

    async def probe() -> bool:
        await call()
        return True

    return probe
