"""The waiting line's cost with many requests waiting: picking whose turn it is, and placing all.

Fills a real SQLite store (the bot's own, in a temporary folder) with --waiting requests from
--people people across --servers servers, with --in-flight generations at Oxen, then times what
the line does on every change:
- pick: one heads-only snapshot and the turn order (what the pump does before each send);
- places: the full snapshot and every request's place (what status messages get, at most once
  a second);
- admit: a new request's admission check (what /imagine does before answering).

    python bench/line_bench.py                  # 1,000 waiting (the issue's figure)
    python bench/line_bench.py --waiting 10000  # more
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core import turns
from bot.core.types import NewJob, Order
from bot.store.sqlite import SqliteStore

TARGET_PICK_MS = 10.0  # a pick runs on every finish: it must stay small


def order(rng: random.Random, servers: int, people: int) -> Order:
    person = rng.randrange(people)
    guild = person % servers
    return Order(guild, 100 + guild, person, f"prompt {rng.random()}", "m", {"seed": 1}, 1)


async def fill(store: SqliteStore, args: argparse.Namespace) -> None:
    rng = random.Random(7)
    async with store.transaction():
        for _ in range(args.waiting):
            await store.line.add(order(rng, args.servers, args.people), owner_limit=4)
        jobs = []
        for i in range(args.in_flight):
            o = order(rng, args.servers, args.people)
            jobs.append(NewJob(f"g{i}", o.channel_id, o.requester_id, o.prompt, "m", o.guild_id))
        await store.jobs.add(jobs)


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms"


async def timed(work, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--waiting", type=int, default=1000)
    p.add_argument("--people", type=int, default=200)
    p.add_argument("--servers", type=int, default=20)
    p.add_argument("--in-flight", type=int, default=200)
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "bench.sqlite3")
        try:
            await fill(store, args)

            async def pick() -> None:
                turns.plan(await store.line.snapshot(heads_only=True))

            async def places() -> None:
                turns.plan(await store.line.snapshot())

            async def admit() -> None:
                await store.jobs.usage(1, 1, 0.0)
                await store.jobs.in_flight()

            pick_times = await timed(pick, args.repeat)
            place_times = await timed(places, max(20, args.repeat // 10))
            admit_times = await timed(admit, args.repeat)
        finally:
            await store.close()
    print(
        f"waiting line: {args.waiting} waiting from {args.people} people on {args.servers} "
        f"servers, {args.in_flight} at Oxen (SQLite)"
    )
    print(f"  pick next   {ms(pick_times)}")
    print(f"  all places  {ms(place_times)}")
    print(f"  admit       {ms(admit_times)}")
    p99 = sorted(pick_times)[int(len(pick_times) * 0.99) - 1] * 1000
    verdict = "PASS" if p99 < TARGET_PICK_MS else "FAIL"
    print(f"  target: pick p99 < {TARGET_PICK_MS:g} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
