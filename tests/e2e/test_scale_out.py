"""Scale-out: three ``python -m bot`` processes, one shard each (SHARD_COUNT=3), on one
PostgreSQL, against the local Discord (each guild's events go to its shard's session, DMs to
shard 0) and the fake Oxen.

300 requests across servers are each posted exactly once; one process is killed (kill -9) while
it is delivering, and the others deliver its jobs within LEASE_SECONDS + 5 s of the later of the
kill and the generation's completion; the killed process is restarted, and a button on an image
it posted before it died works.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.process import ROOT, bot_env
from tests.support.net import free_port

SHARDS = 3
LEASE = 5.0  # LEASE_SECONDS for the test (the default is 30)
REQUESTS = 300
RATE = 25  # requests per second: what two cores take with three bots and the fakes
KILL_AT = 165  # the request before which shard 1's process is killed
IDENTIFY_WINDOW = 4.5  # the local Discord's, just under the bots' 5 s spacing


class ShardProcess:
    """One bot process (``python -m bot``) running one shard; its log goes to a file, so that a
    busy run never fills a pipe."""

    def __init__(self, env: dict[str, str], cwd: Path, shard: int) -> None:
        self.env = {**env, "SHARD_COUNT": str(SHARDS), "SHARD_IDS": str(shard)}
        self.cwd = cwd
        self.shard = shard
        self.runs = 0
        self.process: asyncio.subprocess.Process | None = None

    @property
    def log(self) -> Path:
        return self.cwd / f"shard-{self.shard}-run-{self.runs}.log"

    async def start(self) -> None:
        self.runs += 1
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.cwd, env=self.env,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    async def wait_ready(self, discord_fake, known: int, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while len(live_sessions(discord_fake, self.shard)) <= known:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(self.text(-6000))
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def terminate(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None

    def text(self, start: int = 0, run: int | None = None) -> str:
        path = self.cwd / f"shard-{self.shard}-run-{run or self.runs}.log"
        return path.read_text(errors="replace")[start:] if path.exists() else ""


def live_sessions(discord_fake, shard: int) -> list:
    return [s for s in discord_fake.sessions_for_shard(shard) if s.live and s.ready_sent]


def attachment_gids(discord_fake) -> list[str]:
    """The generation id of every image attachment the bot posted, wherever it is."""
    found = []
    for message in discord_fake.state.messages_by_id.values():
        if message.deleted:
            continue
        for attachment in message.attachments:
            name = attachment.filename.removeprefix("SPOILER_")
            found.append(name.rsplit(".", 1)[0])
    return found


@pytest.mark.timeout(300)
async def test_three_processes_post_each_image_once_and_take_over_a_killed_ones_jobs(
    discord_fake, oxen, postgres_url, tmp_path
):
    # --- the world: two servers per shard, five members each ------------------------------
    discord_fake.configure_sharding(
        shards=SHARDS, max_concurrency=1, enforce_identify_limit=True,
        identify_window=IDENTIFY_WINDOW,
    )  # fmt: skip
    guilds = [discord_fake.create_guild(f"guild {n}", shard=(n % SHARDS, SHARDS)) for n in range(6)]
    users = [discord_fake.create_user(f"user {n}") for n in range(5)]
    channels = {}
    for guild in guilds:
        channels[guild.id] = discord_fake.create_channel(guild, "imagine")
        for user in users:
            discord_fake.add_member(guild, user)
    shard_of = {guild.id: discord_fake.shard_of(guild, SHARDS) for guild in guilds}
    oxen.start_delay, oxen.duration = 0.02, 0.1  # short generations
    completed = oxen.finished_at  # when Oxen finished each one

    env = bot_env(
        discord_fake, oxen, guilds[0].id, tmp_path / "unused.sqlite3",
        DATABASE_URL=postgres_url,
        DISCORD_GUILD_IDS=",".join(str(g.id) for g in guilds),
        LEASE_SECONDS=str(LEASE),
        LOG_LEVEL="INFO",
        POLL_INTERVAL_SECONDS="0.5",
    )  # fmt: skip
    env["PYTHONPATH"] = str(ROOT)
    bots = [ShardProcess(dict(env, HTTP_PORT=str(free_port())), tmp_path, n) for n in range(SHARDS)]
    seen: dict[str, float] = {}  # generation id -> when its image first showed in Discord
    watching = asyncio.create_task(_watch_images(discord_fake, seen))
    try:
        # --- all three start at once: their IDENTIFYs take turns through the database -------
        started = time.monotonic()
        await asyncio.gather(*(bot.start() for bot in bots))
        await asyncio.gather(*(bot.wait_ready(discord_fake, 0) for bot in bots))
        startup = time.monotonic() - started
        await oxen.wait_for_subscribers(SHARDS, timeout=20)
        async with asyncio.timeout(20):
            while not all(discord_fake.registered_commands(g) for g in guilds):
                await asyncio.sleep(0.05)

        # --- 300 requests across the servers; one process killed half way ------------------
        owners = itertools.cycle([(g, u) for u in users for g in guilds])
        interactions = []
        killed = bots[1]
        kill_at = restart_at = 0.0
        sent_to_killed: set[str] = set()
        for n in range(REQUESTS):
            if n == KILL_AT - 2 * RATE:
                oxen.make_results_slow(1.5, chunk_size=4096)  # so deliveries are in flight...
            if n == KILL_AT:
                # Every request it took is stored as jobs (none is half-way to Oxen), then...
                await _stored(postgres_url, sent_to_killed)
                await _holds_a_lease(postgres_url, "shards-1-of-3/")
                await killed.kill()  # ...shard 1's process dies while it is posting
                kill_at = time.monotonic()
                oxen.make_results_slow(0.0)
            if kill_at and not restart_at and time.monotonic() > kill_at + LEASE + 5:
                await killed.start()  # the orchestrator's restart policy
                restart_at = time.monotonic()
            guild, user = next(owners)
            # Its servers are unreachable while it is down. For a second before the kill they
            # get nothing either, so that it has sent them all to Oxen when it dies: a request
            # being sent as its process dies cannot be posted (the restart tells its requester);
            # its jobs are what is tested.
            quiet = KILL_AT - RATE <= n < KILL_AT or (kill_at and not restart_at)
            if quiet or (restart_at and not live_sessions(discord_fake, killed.shard)):
                while shard_of[guild.id] == killed.shard:
                    guild, user = next(owners)
            interaction = await discord_fake.invoke_slash_command(
                user, channels[guild.id], "imagine", options={"prompt": f"scale test {n}"}
            )
            interactions.append(interaction)
            if shard_of[guild.id] == killed.shard and not kill_at:
                sent_to_killed.add(f"scale test {n}")
            await asyncio.sleep(1 / RATE)
        if not restart_at:
            await asyncio.sleep(max(0.0, kill_at + LEASE + 5 - time.monotonic()))
            await killed.start()
            restart_at = time.monotonic()
        await killed.wait_ready(discord_fake, 0)

        # --- every image once ----------------------------------------------------------------
        for interaction in interactions:
            await interaction.wait_acknowledged(timeout=15)
        try:
            async with asyncio.timeout(60):
                while len(oxen.generations) < REQUESTS or set(oxen.generations) - set(seen):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            missing = sorted(set(oxen.generations) - set(seen))
            rows = await _jobs(postgres_url, missing)
            raise AssertionError(
                f"{len(oxen.generations)} generations, {len(missing)} never posted: {rows}"
            ) from None
        await asyncio.sleep(1.0)  # a second post would show by now
        posted = attachment_gids(discord_fake)
        assert len(oxen.generations) == REQUESTS
        assert sorted(posted) == sorted(oxen.generations), "each image exactly once"
        states = await _job_states(postgres_url)
        assert states == {"delivered": REQUESTS}

        # --- the killed process's jobs, taken over within a lease ---------------------------
        first_run = killed.text(run=1)
        delivered_by_killed = re.findall(r"generation (\S+) delivered", first_run)
        takeovers = [
            gid for bot in bots for run in range(1, bot.runs + 1)
            for gid in re.findall(r"took generation (\S+) over from shards-1-of-3/",
                                  bot.text(run=run))
        ]  # fmt: skip
        assert takeovers, "the killed process held no job when it died: nothing was taken over"
        late = {
            gid: seen[gid] - max(kill_at, completed.get(gid, 0.0))
            for gid in oxen.generations
            if seen[gid] > kill_at and completed.get(gid, kill_at) < restart_at
        }
        worst = max(late.values())
        assert worst <= LEASE + 5, f"taken over {worst:.1f} s after the kill or completion"
        last_takeover = max(seen[gid] for gid in takeovers) - kill_at

        # --- after the restart, a button on an image the killed process posted works --------
        own = [gid for gid in delivered_by_killed if _guild_of(discord_fake, gid) in shard_of]
        own_shard = [gid for gid in own if shard_of[_guild_of(discord_fake, gid)] == 1]
        gid = (own_shard or own)[0]
        message = _message_with(discord_fake, gid)
        presser = users[0]
        custom_id = next(
            cid for cid in (f"ib:info:{gid}", f"ib:actions:{gid}") if _has(message, cid)
        )
        pressed = await discord_fake.click_button(presser, message, custom_id)
        answer = await pressed.wait_acknowledged(timeout=10)
        assert answer["type"] in (4, 5, 6, 7), answer
        assert "went wrong" not in str(answer).lower()

        # --- IDENTIFYs: one per 5 s in the one bucket, none refused --------------------------
        assert all(r.accepted for r in discord_fake.identifies), discord_fake.identifies
        times = discord_fake.identify_times(0)
        assert all(b - a >= IDENTIFY_WINDOW for a, b in itertools.pairwise(times))
        for bot in bots:
            assert await bot.terminate() == 0
        for bot in bots:
            for run in range(1, bot.runs + 1):
                text = bot.text(run=run)
                if not (bot is killed and run == 1):
                    assert "Traceback" not in text, text[-4000:]
        print(
            f"\nstartup of 3 processes {startup:.1f} s; worst takeover {worst:.1f} s after the "
            f"kill or completion; last taken-over image {last_takeover:.1f} s after the kill; "
            f"{len(takeovers)} jobs taken over"
        )
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        for bot in bots:
            await bot.terminate(timeout=5)


async def _watch_images(discord_fake, seen: dict[str, float]) -> None:
    while True:
        now = time.monotonic()
        for gid in attachment_gids(discord_fake):
            seen.setdefault(gid, now)
        await asyncio.sleep(0.05)


async def _job_states(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    finally:
        await conn.close()
    return {row["status"]: row["n"] for row in rows}


async def _stored(url: str, prompts: set[str], timeout: float = 15.0) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                stored = {row["prompt"] for row in await conn.fetch("SELECT prompt FROM jobs")}
                if prompts <= stored:
                    return
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _holds_a_lease(url: str, owner_prefix: str, timeout: float = 15.0) -> None:
    """Wait until the process is working on a job (its lease in the store)."""
    conn = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(timeout):
            while not await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE left(lease_owner, length($1)) = $1", owner_prefix
            ):
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def _jobs(url: str, gids: list[str]) -> list[dict]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT generation_id, status, lease_owner, lease_expires_at, attempts, error "
            "FROM jobs WHERE generation_id = ANY($1)",
            gids,
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]


def _message_with(discord_fake, gid: str):
    for message in discord_fake.state.messages_by_id.values():
        if not message.deleted and any(gid in a.filename for a in message.attachments):
            return message
    raise AssertionError(f"no message has {gid}'s image")


def _guild_of(discord_fake, gid: str) -> int | None:
    return _message_with(discord_fake, gid).guild_id


def _has(message, custom_id: str) -> bool:
    def walk(components):
        for component in components or []:
            yield component
            yield from walk(component.get("components"))

    return any(c.get("custom_id") == custom_id for c in walk(message.components))
