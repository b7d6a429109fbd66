"""The last IDENTIFY per gateway rate-limit bucket, so that bot processes sharing the store
space their IDENTIFYs as Discord asks (one per bucket per 5 s)."""

from __future__ import annotations

import asyncio

from bot.store.sqlite.database import Database


class Gateway:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def identify_turn(self, bucket: int, spacing: float) -> None:
        while True:
            # BEGIN IMMEDIATE: the read and the write are one step for every process; the wait
            # happens outside it.
            async with self._db.transaction():
                now = self._db.clock()
                last = await self._db.scalar(
                    "SELECT identified_at FROM gateway_identifies WHERE bucket = ?", (bucket,)
                )
                wait = _wait(last, now, spacing)
                if wait <= 0:
                    await self._db.execute(
                        "INSERT OR REPLACE INTO gateway_identifies (bucket, identified_at) "
                        "VALUES (?, ?)",
                        (bucket, now),
                    )
                    return
            await asyncio.sleep(wait)


def _wait(last: float | None, now: float, spacing: float) -> float:
    """Seconds until the bucket is free; a time far in the future (a clock set back) is none."""
    if last is None or last > now + spacing:
        return 0.0
    return last + spacing - now
