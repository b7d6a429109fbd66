"""The waiting line's cost with many requests waiting: picking whose turn it is, and placing all.

Fills a real SQLite store (the bot's own, in a temporary folder) with --waiting requests from
--people people across --servers servers, with --in-flight generations at Oxen, then times what
the line does on every change:
- pick: one heads-only snapshot and the turn order (what the pump does before each send);
- places: the full snapshot and every request's place (what status messages get, at most once
  a second);
- admit: a new request's admission check (what /imagine does before answering).

With --bot it also runs the real bot (``python -m bot``, MAX_GENERATIONS_IN_FLIGHT=4) against
the local Discord and the fake Oxen with --waiting images waiting in its line, and measures
/imagine's ack while that many wait, and how long a finished generation takes to let the next
request in line start (Oxen completes one; the bot picks and enqueues whoever's turn it is).

    python bench/line_bench.py                  # 1,000 waiting (the issue's figure)
    python bench/line_bench.py --waiting 10000  # more
    python bench/line_bench.py --bot            # and the real bot with 1,000 waiting
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
    p.add_argument("--bot", action="store_true", help="also measure the real bot")
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
    if args.bot:
        await bot_phase(args.waiting)
    return 0


async def bot_phase(waiting: int) -> None:
    """The real bot with ``waiting`` images in its line (4 per /imagine, 50 members)."""
    from bench import imagine_bench as ib
    from bench.world import open_world
    from bot.core.types import GuildSettings

    cfg = ib.parse_args([])
    requests = waiting // 4 + 1  # one more than fits: 4 go to Oxen, the rest wait
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "waiting.sqlite3"
        async with open_world(users=50) as world:
            world.oxen.hold = True
            store = await SqliteStore.open(database)
            try:  # the limits a server admin might set so that 1,000 can wait
                roomy = GuildSettings(max_waiting=waiting, daily_quota=1_000_000)
                await store.servers.update(world.guild.id, lambda _: roomy)
            finally:
                await store.close()
            env = ib.bot_env(cfg, world, database) | {"MAX_GENERATIONS_IN_FLIGHT": "4"}
            bot = ib.BotProcess("waiting", [sys.executable, "-m", "bot"], env, workdir)
            try:
                await bot.start(world)
                await world.oxen.wait_for_subscribers(1, timeout=10)
                filled = await ib.fire(world, "fill", rate=25.0, counts=[4] * requests)
                if not await ib.wait_until(lambda: ib.all_shown(filled), 120.0):
                    raise RuntimeError("the bot did not answer every /imagine")
                await asyncio.sleep(3)  # let the line settle
                asks = await ib.fire(world, "ask", rate=10.0, counts=[1] * 50)
                await ib.wait_until(lambda: ib.all_shown(asks), 60.0)
                acks = ib.acks_ms(asks)
                turns_taken = []
                for _ in range(20):
                    # The request at Oxen has 4 images and the cap is 4: the next one's turn
                    # comes when all of them are done.
                    active = [
                        g
                        for g, row in world.oxen.generations.items()
                        if row["status"] in ("queued", "processing")
                    ]
                    before = len(world.oxen.generations)
                    for generation_id in active[:-1]:
                        await world.oxen.complete(generation_id)
                    started = time.perf_counter()
                    await world.oxen.complete(active[-1])
                    await ib.wait_until(
                        lambda b=before: len(world.oxen.generations) > b, 20.0, 0.002
                    )
                    turns_taken.append(time.perf_counter() - started)
            finally:
                await bot.stop()
    print(f"real bot, {waiting} images waiting (MAX_GENERATIONS_IN_FLIGHT=4, 50 members):")
    print(f"  /imagine ack            p50 {acks.p50:6.1f} ms   p99 {acks.p99:6.1f} ms")
    print(f"  room frees to next start  {ms(turns_taken)}")


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
