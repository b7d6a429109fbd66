"""The last IDENTIFY per gateway rate-limit bucket, so that bot processes sharing the database
space their IDENTIFYs as Discord asks (one per bucket per 5 s).

Each turn is taken under a transaction-level advisory lock on the bucket (two processes reading
"free" at once cannot both go), and timed by the database server's clock, which every process
shares whatever its own host's clock says. Nobody waits while holding the lock."""

from __future__ import annotations

import asyncio

from bot.store.postgres.database import Database

# pg_advisory_xact_lock(key1, key2)'s first key for "a gateway bucket": b"idfy" as a number.
_IDENTIFY_LOCK = 0x69646679


class Gateway:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def identify_turn(self, bucket: int, spacing: float) -> None:
        while True:
            async with self._db.transaction():
                await self._db.execute(
                    "SELECT pg_advisory_xact_lock($1::int, $2::int)", _IDENTIFY_LOCK, bucket
                )
                row = await self._db.fetchrow(
                    "SELECT extract(epoch FROM clock_timestamp())::float8 AS now, "
                    "(SELECT identified_at FROM gateway_identifies WHERE bucket = $1) AS last",
                    bucket,
                )
                assert row is not None
                wait = _wait(row["last"], row["now"], spacing)
                if wait <= 0:
                    await self._db.execute(
                        "INSERT INTO gateway_identifies (bucket, identified_at) VALUES ($1, $2) "
                        "ON CONFLICT (bucket) DO UPDATE SET identified_at = excluded.identified_at",
                        bucket,
                        row["now"],
                    )
                    return
            await asyncio.sleep(wait)


def _wait(last: float | None, now: float, spacing: float) -> float:
    """Seconds until the bucket is free; a time far in the future (a clock set back) is none."""
    if last is None or last > now + spacing:
        return 0.0
    return last + spacing - now
