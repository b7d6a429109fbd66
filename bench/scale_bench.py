"""Scale-out: throughput and delivery latency of 1 vs 3 bot processes on PostgreSQL, PostgreSQL vs
SQLite for one process, and the time from a kill -9 to the last taken-over delivery.

    python bench/scale_bench.py                 # about 3 minutes on 2 cores
    python bench/scale_bench.py --quick         # smoke size, about 1 minute
    python bench/scale_bench.py --json out.json

Everything runs on 127.0.0.1: the local Discord (which routes each guild's events to its shard's
session) and the fake Oxen run in this script's process; the bots run as ``python -m bot``
processes, configured by environment variables as in production. PostgreSQL is a throwaway
server started from this machine's binaries (tests/support/postgres.py), or
IMAGINE_TEST_DATABASE_URL's. Each phase gets new fakes, a new database and new bot processes.
See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.world import TimedOxen  # noqa: E402
from tests.fakes.discord import FakeDiscord  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    LocalPostgres,
    PostgresServer,
    external_server,
    find_bindir,
    fresh_database,
)

SHARDS = 3
GUILDS_PER_SHARD = 2
USERS = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    n: int = 300
    rate: float = 40.0
    gen_seconds: float = 0.5
    lease: float = 5.0
    kill_n: int = 300
    deadline: float = 90.0
    logs: Path | None = None
    only: tuple[str, ...] = ()  # phase slugs; empty: every phase


@dataclass(frozen=True)
class Phase:
    name: str
    store: str  # "sqlite" or "postgres"
    processes: int
    shard_count: int | None  # None: unsharded
    kill: bool = False


PHASES = (
    Phase("sqlite, 1 process", "sqlite", 1, None),
    Phase("postgres, 1 process", "postgres", 1, None),
    Phase("postgres, 1 process, 3 shards", "postgres", 1, SHARDS),
    Phase("postgres, 3 processes", "postgres", 3, SHARDS),
    Phase("postgres, 3 processes, kill -9", "postgres", 3, SHARDS, kill=True),
)


@dataclass
class Result:
    phase: str
    processes: int
    requests: int
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    startup_s: float = 0.0
    offered_per_s: float = 0.0  # requests / (last request - first request): the harness's pace
    throughput_per_s: float = 0.0  # images posted / (last post - first request)
    delivery_ms: dict[str, float] = field(default_factory=dict)  # Oxen done -> image posted
    ack_ms: dict[str, float] = field(default_factory=dict)
    bot_cpu_s: float = 0.0  # every bot process, user + system
    taken_over: int = 0
    kill_to_last_takeover_s: float | None = None
    kill_to_last_open_s: float | None = None  # the last job open at the kill, posted


class Bot:
    """One ``python -m bot``; its log goes to a file."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.env, self.workdir, self.name = env, workdir, name
        self.process: asyncio.subprocess.Process | None = None
        self.cpu = 0.0

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.workdir, env=self.env,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    def sample_cpu(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            self.cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def kill(self) -> None:
        assert self.process is not None
        self.sample_cpu()
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.sample_cpu()
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def slug(name: str) -> str:
    return re.sub(r"\W+", "-", name).strip("-")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


@contextlib.asynccontextmanager
async def postgres() -> AsyncIterator[PostgresServer]:
    server = external_server()
    if server is not None:
        yield server
        return
    local = LocalPostgres(find_bindir())
    started = await asyncio.to_thread(local.start)
    try:
        yield started
    finally:
        await asyncio.to_thread(local.stop)


def image_times(discord: FakeDiscord) -> dict[str, list[float]]:
    """Generation id -> the creation times of the messages that carry its image."""
    found: dict[str, list[float]] = {}
    for message in discord.state.messages_by_id.values():
        for attachment in message.attachments:
            gid = attachment.filename.removeprefix("SPOILER_").rsplit(".", 1)[0]
            found.setdefault(gid, []).append(message.created_at)
    return found


async def run_phase(cfg: Config, phase: Phase, server: PostgresServer, workdir: Path) -> Result:
    result = Result(phase.name, phase.processes, cfg.kill_n if phase.kill else cfg.n)
    oxen = TimedOxen(start_delay=0.0, duration=cfg.gen_seconds)
    await oxen.start()
    try:
        async with FakeDiscord() as discord, _database(phase, server, workdir) as url:
            await _run(cfg, phase, discord, oxen, url, workdir, result)
    finally:
        await oxen.stop()
    return result


@contextlib.asynccontextmanager
async def _database(phase: Phase, server: PostgresServer, workdir: Path) -> AsyncIterator[str]:
    if phase.store == "sqlite":
        yield f"sqlite:///{workdir / (slug(phase.name) + '.sqlite3')}"
        return
    async with fresh_database(server) as url:
        yield url


async def _run(cfg, phase, discord, oxen, url, workdir, result) -> None:
    shards = phase.shard_count or 1
    discord.configure_sharding(shards=shards, max_concurrency=1)
    guilds = [
        discord.create_guild(
            f"guild {n}", shard=(n % shards, shards) if phase.shard_count else None
        )
        for n in range(GUILDS_PER_SHARD * SHARDS)
    ]
    users = [discord.create_user(f"user {n}") for n in range(USERS)]
    channels = {}
    for guild in guilds:
        channels[guild.id] = discord.create_channel(guild, "bench")
        for user in users:
            discord.add_member(guild, user)
    shard_of = {g.id: discord.shard_of(g, shards) for g in guilds}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": discord.token,
        "OXEN_API_KEY": oxen.api_key,
        "OXEN_BASE_URL": oxen.base_url,
        "DISCORD_API_BASE_URL": discord.base_url,
        "DISCORD_GUILD_IDS": ",".join(str(g.id) for g in guilds),
        "DATABASE_URL": url,
        "LOG_LEVEL": "INFO",
        "POLL_INTERVAL_SECONDS": "1",
        "LEASE_SECONDS": f"{cfg.lease:g}",
    }
    bots = []
    for n in range(phase.processes):
        extra = {"HTTP_PORT": str(free_port())}
        if phase.shard_count:
            extra["SHARD_COUNT"] = str(phase.shard_count)
            if phase.processes > 1:
                extra["SHARD_IDS"] = str(n)
        name = f"{slug(phase.name)}-{n}"
        bots.append(Bot({**env, **extra}, workdir, name))
    started = time.monotonic()
    try:
        await asyncio.gather(*(bot.start() for bot in bots))
        async with asyncio.timeout(90):
            while len([s for s in discord.gateway.sessions if s.live and s.ready_sent]) < shards:
                for bot in bots:
                    if bot.process and bot.process.returncode is not None:
                        raise RuntimeError(f"{bot.name} exited: {bot.log.read_text()[-3000:]}")
                await asyncio.sleep(0.05)
            await oxen.wait_for_subscribers(phase.processes, timeout=30)
            while not all(discord.registered_commands(g) for g in guilds):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        result.startup_s = time.monotonic() - started
        await _fire(cfg, phase, discord, oxen, bots, channels, guilds, users, shard_of, result, url)
    finally:
        for bot in bots:
            await bot.stop()
        result.bot_cpu_s = sum(bot.cpu for bot in bots)


async def _fire(
    cfg, phase, discord, oxen, bots, channels, guilds, users, shard_of, result, url
) -> None:
    owners = itertools.cycle([(g, u) for u in users for g in guilds])
    interactions = []
    kill_at_n = result.requests // 2
    kill_at: float | None = None
    killed = bots[1] if phase.kill else None
    open_at_kill: set[str] = set()
    to_killed: list[int] = []
    first_request = time.time()
    for n in range(result.requests):
        if killed is not None and n == kill_at_n - int(2 * cfg.rate):
            oxen.make_results_slow(1.0, chunk_size=1 << 20)  # deliveries in flight at the kill
        if killed is not None and n == kill_at_n:
            # All it took is stored as jobs (none half-way to Oxen), and it is working on some.
            await _before_kill(url, {f"bench {i}" for i in to_killed}, "shards-1-of-3/")
            posted = image_times(discord)
            open_at_kill = {gid for gid in oxen.generations if gid not in posted}
            await killed.kill()
            kill_at = time.time()
            oxen.make_results_slow(0.0)
        guild, user = next(owners)
        # Shard 1's servers get nothing for a second before the kill, nor after it: a request
        # being sent to Oxen as its process dies cannot be posted; its jobs are measured.
        quiet = killed is not None and n >= kill_at_n - int(cfg.rate)
        while quiet and shard_of[guild.id] == 1:
            guild, user = next(owners)
        interactions.append(
            await discord.invoke_slash_command(
                user, channels[guild.id], "imagine", options={"prompt": f"bench {n}"}
            )
        )
        if killed is not None and kill_at is None and shard_of[guild.id] == 1:
            to_killed.append(n)
        await asyncio.sleep(1 / cfg.rate)
    last_request = time.time()
    result.offered_per_s = (result.requests - 1) / max(last_request - first_request, 1e-9)
    deadline = time.monotonic() + cfg.deadline
    while time.monotonic() < deadline:
        posted = image_times(discord)
        if len(oxen.generations) >= result.requests and all(g in posted for g in oxen.generations):
            break
        for bot in bots:
            bot.sample_cpu()
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a second post would show by now
    for bot in bots:
        bot.sample_cpu()
    posted = image_times(discord)
    result.delivered = sum(1 for g in oxen.generations if g in posted)
    result.lost = result.requests - result.delivered
    result.duplicated = sum(1 for times in posted.values() if len(times) > 1)
    last = max((min(times) for times in posted.values()), default=first_request)
    result.throughput_per_s = result.delivered / max(last - first_request, 1e-9)
    result.delivery_ms = percentiles(
        [
            (min(posted[g]) - oxen.terminal_at[g]) * 1000
            for g in oxen.generations
            if g in posted and g in oxen.terminal_at
        ]
    )
    result.ack_ms = percentiles(
        [i.ack_latency * 1000 for i in interactions if i.ack_latency is not None]
    )
    if kill_at is not None:
        taken = set()
        for bot in bots:
            taken |= set(re.findall(r"took generation (\S+) over", bot.log.read_text()))
        result.taken_over = len(taken)
        if taken & set(posted):
            result.kill_to_last_takeover_s = (
                max(min(posted[g]) for g in taken if g in posted) - kill_at
            )
        was_open = [min(posted[g]) for g in open_at_kill if g in posted]
        if was_open:
            result.kill_to_last_open_s = max(was_open) - kill_at


async def _before_kill(url: str, prompts: set[str], owner_prefix: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(30):
            while True:
                stored = {r["prompt"] for r in await conn.fetch("SELECT prompt FROM jobs")}
                holds = await conn.fetchval(
                    "SELECT count(*) FROM jobs WHERE left(lease_owner, length($1)) = $1",
                    owner_prefix,
                )
                if prompts <= stored and holds:
                    return
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


def render(results: list[Result], cfg: Config) -> str:
    rows = [
        ("phase", "procs", "posted/lost/dup", "startup s", "asked/s", "images/s",
         "delivery p50/p95/p99 ms",
         "ack p50/p99 ms", "bot CPU s"),
    ]  # fmt: skip
    for r in results:
        d, a = r.delivery_ms, r.ack_ms
        rows.append(
            (
                r.phase,
                str(r.processes),
                f"{r.delivered}/{r.lost}/{r.duplicated}",
                f"{r.startup_s:.1f}",
                f"{r.offered_per_s:.1f}",
                f"{r.throughput_per_s:.1f}",
                f"{d.get('p50', 0):.0f} / {d.get('p95', 0):.0f} / {d.get('p99', 0):.0f}",
                f"{a.get('p50', 0):.0f} / {a.get('p99', 0):.0f}",
                f"{r.bot_cpu_s:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    out = [
        f"{cfg.n} /imagine at {cfg.rate:g}/s over {GUILDS_PER_SHARD * SHARDS} servers x {USERS} "
        f"members; each generation {cfg.gen_seconds:g} s; LEASE_SECONDS={cfg.lease:g}",
        "",
        *lines,
    ]
    for r in results:
        if r.kill_to_last_takeover_s is not None or r.taken_over:
            out += [
                "",
                f"kill -9 of one of 3 processes ({r.phase}): {r.taken_over} jobs taken over; "
                f"kill -> last taken-over image posted "
                f"{_s(r.kill_to_last_takeover_s)}; kill -> last job open at the kill posted "
                f"{_s(r.kill_to_last_open_s)} (bound: LEASE_SECONDS + 5 = {cfg.lease + 5:g} s)",
            ]
    return "\n".join(out)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


async def main_async(cfg: Config) -> list[Result]:
    workdir = cfg.logs or Path(tempfile.mkdtemp(prefix="imagine-scale-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    async with postgres() as server:
        for phase in PHASES:
            if cfg.only and slug(phase.name) not in cfg.only:
                continue
            print(f"== {phase.name}", file=sys.stderr, flush=True)
            results.append(await run_phase(cfg, phase, server, workdir))
    print(render(results, cfg))
    return results


def main_report(cfg: Config, json_path: Path | None) -> int:
    results = asyncio.run(main_async(cfg))
    if json_path is not None:
        json_path.write_text(json.dumps([asdict(r) for r in results], indent=2))
    bad = [r for r in results if r.lost or r.duplicated]
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=Config.n, help="requests per phase")
    parser.add_argument("--rate", type=float, default=Config.rate, help="requests per second")
    parser.add_argument("--gen-seconds", type=float, default=Config.gen_seconds)
    parser.add_argument("--lease", type=float, default=Config.lease, help="LEASE_SECONDS")
    parser.add_argument("--quick", action="store_true", help="smoke size (figures not comparable)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--logs", type=Path, help="keep the bots' logs (and SQLite files) here")
    parser.add_argument(
        "--only", nargs="+", default=(), choices=[slug(p.name) for p in PHASES],
        help="run these phases only",
    )  # fmt: skip
    args = parser.parse_args()
    n = 60 if args.quick else args.n
    cfg = Config(
        n=n, rate=args.rate, gen_seconds=args.gen_seconds, lease=args.lease, kill_n=max(n, 120),
        logs=args.logs, only=tuple(args.only),
    )  # fmt: skip
    raise SystemExit(main_report(cfg, args.json))


if __name__ == "__main__":
    main()
