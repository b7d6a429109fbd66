"""A controllable clock: real time plus an offset that tests can jump forward."""

from __future__ import annotations

import time


class FakeClock:
    """Wall-clock seconds (Unix epoch) that tests can move forward with :meth:`advance`.

    Every time rule of the stand-in (3 s initial response, 15 min interaction token,
    nonce window) and every snowflake/timestamp reads this clock.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset
