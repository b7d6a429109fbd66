"""/imagine end to end: the real bot (a ``python -m bot`` process) against the local Discord and
the fake Oxen on 127.0.0.1, next to a naive baseline bot defined in this file, in one run.

    python bench/imagine_bench.py [--n 40] [--rate 10] [--gen-min 1] [--gen-max 3] [--tick 2]
                                  [--pending 1000] [--sustained] [--quick] [--json PATH]
                                  [--big-only] [--bot-root PATH] [--busy | --busy-only]

Phases, each with fresh fakes, a fresh database and a fresh bot process (so CPU and peak RSS are
that phase's own): our bot with Oxen's completion events, our bot with events forced off, the
naive bot, a load phase at ``--load-rate`` /imagine per second, ``--pending`` generations
held at Oxen (ours, then the naive bot) to measure idle CPU and memory, and big results: four
4096x4096 PNGs over the upload limit that the bot must re-encode while /imagine keeps coming.
With ``--busy``: one channel with Discord's own rate limits in the local Discord, 50 members,
3 and 10 /imagine per second for 30 s each, the naive bot beside ours at 3/s.
See bench/README.md.

The harness imports the fakes lazily: the naive bot runs this same file (``--run-naive-bot``)
and must not carry the fakes' modules in its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import math
import os
import random
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

if TYPE_CHECKING:
    from bench.world import World
    from tests.fakes.discord import InteractionRecord, MessageRecord

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
NAIVE_FLAG = "--run-naive-bot"
LIFT_FLAG = "--lift-limits"  # DATABASE GUILD_ID: lift the limits with the importable bot's store
MODEL = "black-forest-labs-flux-2-klein-4b"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MAX_COUNT = 4  # /imagine count=1..4: the pending phase enqueues 4 generations per interaction

BotKind = Literal["ours", "naive"]


# --- the naive baseline: the Oxen docs' loop, one polling task per generation --------------------


class NaiveBot(discord.Client):
    """A first /imagine bot: defer, enqueue, then one task per generation that asks Oxen for it
    every ``poll_seconds`` and posts the image with ``channel.send``. No store, no events."""

    def __init__(self, *, oxen_url: str, oxen_key: str, guild_id: int, poll_seconds: float):
        super().__init__(intents=discord.Intents(guilds=True))
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(naive_imagine)
        self._oxen_url = oxen_url
        self._oxen_key = oxen_key
        self._guild_id = guild_id
        self._poll_seconds = poll_seconds
        self._session: aiohttp.ClientSession | None = None
        self._followers: set[asyncio.Task[None]] = set()

    async def setup_hook(self) -> None:
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self._oxen_key}"})
        _, url, _ = await self.http.get_bot_gateway()  # the stand-in's gateway
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        guild = discord.Object(self._guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def close(self) -> None:
        for task in self._followers:
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await super().close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "setup_hook has not run"
        return self._session

    async def imagine(self, interaction: discord.Interaction, prompt: str, count: int) -> None:
        await interaction.response.defer(thinking=True)
        body = {"model": MODEL, "prompt": prompt, "num_generations": count}
        async with self.session.post(f"{self._oxen_url}/api/ai/queue", json=body) as resp:
            resp.raise_for_status()
            queued = await resp.json()
        ids = [row["generation_id"] for row in queued["generations"]]
        await interaction.edit_original_response(content=f"Queued: {prompt[:100]}")
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)
        for generation_id in ids:
            task = asyncio.create_task(self._follow(generation_id, channel, interaction.user.id))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    async def _follow(
        self, generation_id: str, channel: discord.abc.Messageable, user_id: int
    ) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            url = f"{self._oxen_url}/api/ai/queue/{generation_id}"
            try:
                async with self.session.get(url) as resp:
                    row = await resp.json()
            except aiohttp.ClientError:
                continue
            if row.get("status") == "succeeded":
                async with self.session.get(row["result_url"]) as resp:
                    image = await resp.read()
                file = discord.File(io.BytesIO(image), filename=f"{generation_id}.png")
                await channel.send(f"<@{user_id}>", file=file)
                return
            if row.get("status") in ("failed", "cancelled"):
                await channel.send(f"<@{user_id}> generation {row['status']}")
                return


@app_commands.command(name="imagine", description="Create an image from a text prompt")
@app_commands.describe(prompt="What to draw", count="How many images to make (1–4)")
async def naive_imagine(
    interaction: discord.Interaction,
    prompt: app_commands.Range[str, 1, 1500],
    count: app_commands.Range[int, 1, 4] = 1,
) -> None:
    client = interaction.client
    assert isinstance(client, NaiveBot)
    await client.imagine(interaction, prompt, count)


def run_naive_bot() -> None:
    """The baseline's process: configured by the same environment variables as ``python -m bot``."""
    env = os.environ
    discord.utils.setup_logging(level=logging.WARNING)
    discord.http.Route.BASE = env["DISCORD_API_BASE_URL"]
    bot = NaiveBot(
        oxen_url=env["OXEN_BASE_URL"],
        oxen_key=env["OXEN_API_KEY"],
        guild_id=int(env["DISCORD_GUILD_IDS"]),
        poll_seconds=float(env["NAIVE_POLL_SECONDS"]),
    )
    asyncio.run(_serve_until_sigterm(bot, env["DISCORD_TOKEN"]))


async def _serve_until_sigterm(bot: NaiveBot, token: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        await bot.close()
        await runner


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    n: int = 40
    rate: float = 10.0
    gen_min: float = 1.0
    gen_max: float = 3.0
    tick: float = 2.0
    naive_n: int = 40
    naive_interval: float = 10.0
    load_rate: float = 20.0
    load_seconds: float = 10.0
    pending: int = 1000
    pending_rate: float = 50.0
    pending_naive: bool = True
    idle_seconds: float = 10.0
    busy_seconds: float = 3.0
    settle: float = 1.0
    channels: int = 1
    users: int = 5
    seed: int = 1
    log_level: str = "INFO"
    strict: bool = False
    logs: Path | None = None
    json_path: Path | None = None
    bot_root: Path = ROOT  # where `python -m bot` finds the bot's code (PYTHONPATH)
    big: bool = True  # the big-results phase
    big_only: bool = False
    big_size: int = 4096  # side of the big results, px
    big_images: int = 4  # big results re-encoded at once
    big_rate: float = 10.0  # /imagine per second while they are re-encoded
    # Busy channel (--busy): Discord's per-channel limits in the local Discord, one channel.
    busy: bool = False
    busy_only: bool = False
    busy_rates: tuple[float, ...] = (3.0, 10.0)  # /imagine per second, one phase each
    busy_duration: float = 30.0  # seconds each busy phase fires /imagine
    busy_users: int = 50
    busy_naive_rate: float = 3.0  # the naive bot runs beside ours at this rate (0: not at all)

    def delivery_deadline(self, kind: BotKind, *, busy_images: int = 0) -> float:
        """How long after the last /imagine a generation may still arrive before it is lost.
        ``busy_images``: that many images into one channel under Discord's limits, where a
        bot that posts one image per message gets about one message a second."""
        if busy_images:
            return busy_images * 1.1 + 30.0 if kind == "naive" else 60.0
        if kind == "naive":
            return self.gen_max + 2 * self.naive_interval + 5.0
        # With events healthy the bot polls every 5 ticks (at most 15 s) as a safety net.
        return self.gen_max + min(15.0, 5 * self.tick) + 10.0


# --- measuring a process ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcSample:
    at: float  # time.monotonic()
    cpu_seconds: float  # user + system
    rss_mb: float  # VmRSS
    peak_rss_mb: float  # VmHWM


def sample_process(pid: int) -> ProcSample:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0]) / 1024
    return ProcSample(time.monotonic(), cpu, memory["VmRSS"], memory["VmHWM"])


def descendants(pid: int) -> list[int]:
    """The process's children, their children, ... (a process pool's workers, say)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat[stat.rindex(")") + 2 :].split()[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


@dataclass(frozen=True)
class TreeSample:
    """The bot's process and its descendants: CPU summed; peak RSS of the bot and, summed, of
    the others (a pool's workers are separate processes with their own memory)."""

    at: float
    cpu_seconds: float
    processes: int
    peak_rss_mb: float
    children_peak_rss_mb: float


def sample_tree(pid: int) -> TreeSample:
    own = sample_process(pid)
    children = []
    for child in descendants(pid):
        with contextlib.suppress(OSError, KeyError):
            children.append(sample_process(child))
    return TreeSample(
        own.at,
        own.cpu_seconds + sum(c.cpu_seconds for c in children),
        1 + len(children),
        own.peak_rss_mb,
        sum(c.peak_rss_mb for c in children),
    )


class BotProcess:
    """One bot as its own OS process, its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        workdir: Path,
        seed_database: Path | None = None,
        bot_root: Path = ROOT,
    ):
        self.name = name
        self._seed_database = seed_database
        self._bot_root = bot_root
        self._argv = list(argv)
        self._env = env
        self._workdir = workdir
        self.log_path = workdir / f"{slug(name)}.log"
        self._process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    @property
    def http_port(self) -> int | None:
        """Where the bot serves /metrics (our bot; the naive one ignores it)."""
        value = self._env.get("HTTP_PORT")
        return int(value) if value else None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def sample(self) -> ProcSample:
        return sample_process(self.pid)

    async def start(self, world: World, *, within: float = 30.0) -> None:
        """Start and wait until the bot's commands are registered and its gateway is READY."""
        if self._seed_database is not None:
            await seed_limits(self._seed_database, world.guild.id, self._bot_root)
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv, cwd=self._workdir, env=self._env, stdout=log, stderr=log
            )
        async with asyncio.timeout(within):
            while not (
                world.discord.registered_commands(world.guild) and world.discord.ready_sessions()
            ):
                if self._process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited during start:\n{self.tail()}")
                await asyncio.sleep(0.05)

    async def stop(self, within: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit ``within`` seconds."""
        process = self._process
        if process is None:
            return 0
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(within):
                    await process.wait()
            except TimeoutError:
                process.kill()
        self.returncode = await process.wait()
        return self.returncode

    def log_counts(self) -> dict[str, int]:
        """Warning and error lines, leaving out discord.py's notice that voice is unsupported."""
        lines = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "voice will NOT be supported" not in line
        ]
        return {
            "warnings": sum(1 for line in lines if re.search(r"\bWARNING\b", line)),
            "errors": sum(1 for line in lines if re.search(r"\b(ERROR|CRITICAL)\b", line)),
            "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
        }

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def bot_env(cfg: Config, world: World, database: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(cfg.bot_root),
        "DISCORD_TOKEN": world.discord.token,
        "OXEN_API_KEY": world.oxen.api_key,
        "OXEN_BASE_URL": world.oxen.base_url,
        "DISCORD_API_BASE_URL": world.discord.base_url,
        "DISCORD_GUILD_IDS": str(world.guild.id),
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": cfg.log_level,
        "POLL_INTERVAL_SECONDS": f"{cfg.tick:g}",
        "NAIVE_POLL_SECONDS": f"{cfg.naive_interval:g}",
        "HTTP_PORT": str(free_port()),  # health and metrics; never 8080, runs may overlap
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(cfg: Config, kind: BotKind, world: World, workdir: Path, name: str) -> BotProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / f"{slug(name)}.sqlite3"
    env = bot_env(cfg, world, database)
    if kind == "ours":
        argv = [sys.executable, "-m", "bot"]
        return BotProcess(name, argv, env, workdir, seed_database=database, bot_root=cfg.bot_root)
    argv = [sys.executable, str(Path(__file__).resolve()), NAIVE_FLAG]
    return BotProcess(name, argv, env, workdir)


async def seed_limits(database: Path, guild_id: int, bot_root: Path) -> None:
    """Lift the limits with the store code of the bot that will run: this tree's in this
    process, another tree's (``--bot-root``) in a process of its own that imports that tree."""
    if bot_root == ROOT:
        await lift_fair_use_limits(database, guild_id)
        return
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), LIFT_FLAG, str(database), str(guild_id),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(bot_root)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"lifting the limits in {bot_root} failed:\n{output.decode()}")


async def lift_fair_use_limits(database: Path, guild_id: int) -> None:
    """The benchmark measures throughput, not the per-user limits a server admin would set:
    lift them in the bot's own store before it starts (as /imagine-admin limits would)."""
    import importlib

    try:
        types = importlib.import_module("bot.core.types")
        sqlite = importlib.import_module("bot.store.sqlite")
    except ModuleNotFoundError as err:
        if err.name not in ("bot.core", "bot.store.sqlite"):
            raise
        # A bot from before the layers (8ddc91a and older): one JobStore in bot/store.py.
        old_store = importlib.import_module("bot.store")
        old_settings = importlib.import_module("bot.guild_settings")
        store = await old_store.JobStore.open(database)
        try:
            settings = old_settings.GuildSettings(max_in_flight=100_000, daily_quota=1_000_000)
            await store.save_guild_settings(guild_id, settings)
        finally:
            await store.close()
        return
    store = await sqlite.SqliteStore.open(database)
    try:
        settings = types.GuildSettings(max_in_flight=100_000, daily_quota=1_000_000)
        await store.servers.update(guild_id, lambda _: settings)
    finally:
        await store.close()


# --- driving /imagine ---------------------------------------------------------------------------


def slug(name: str) -> str:
    """A file name for a phase: "ours+events" -> "ours_with_events", "load 20/s" -> "load_20_s"."""
    words = name.replace("+", " with ").replace("-", " without ")
    return "_".join("".join(c if c.isalnum() else " " for c in words).split())


def tag_of(phase: str, index: int) -> str:
    return f"[{phase}:{index}]"


async def fire(
    world: World,
    phase: str,
    *,
    rate: float,
    counts: Sequence[int],
    durations: Sequence[float] | None = None,
    stop: asyncio.Event | None = None,
) -> list[InteractionRecord]:
    """Invoke /imagine ``len(counts)`` times at ``rate`` per second (on schedule, not after
    each answer), rotating users and channels; generation ``i`` takes ``durations[i]`` s.
    Stops early once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    records = []
    for index, count in enumerate(counts):
        tag = tag_of(phase, index)
        if durations is not None:
            world.oxen.outcome_for_prompt(tag, delay=durations[index])
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if stop is not None and stop.is_set():
            break
        options: dict[str, Any] = {"prompt": f"{tag} a watercolor fox in the snow"}
        if count > 1:
            options["count"] = count
        records.append(
            await world.discord.invoke_slash_command(
                world.users[index % len(world.users)],
                world.channels[index % len(world.channels)],
                "imagine",
                options=options,
            )
        )
    return records


def image_messages(world: World) -> dict[str, list[MessageRecord]]:
    """Bot messages carrying ``<generation_id>.<ext>``, by generation id."""
    found: dict[str, list[MessageRecord]] = defaultdict(list)
    bot_id = world.discord.bot_user.id
    for channel in world.channels:
        for message in world.discord.messages(channel):
            if message.author_id != bot_id:
                continue
            for attachment in message.attachments:
                stem = attachment.filename.rsplit(".", 1)[0]
                if stem in world.oxen.generations:
                    found[stem].append(message)
    return found


async def wait_until(condition: Callable[[], bool], within: float, step: float = 0.1) -> bool:
    """Poll ``condition`` until it holds (True) or ``within`` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


def oxen_kind(method: str, path: str) -> str:
    if path.startswith("/api/repos/"):
        return "download"
    if path == "/api/events":
        return "events"
    if path == "/api/ai/queue":
        return "enqueue" if method == "POST" else "list"
    if path.startswith("/api/ai/queue/") and method == "GET":
        return "get"
    if path.startswith("/api/ai/models"):
        return "models"
    return f"{method} {path}"


NOT_PER_GENERATION = ("download", "events")


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    p50: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        if not values:
            return cls(None, None, None)
        ordered = sorted(values)

        def rank(q: float) -> float:  # nearest rank
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return cls(rank(0.50), rank(0.99), ordered[-1])


@dataclass
class FlowResult:
    phase: str
    bot: BotKind
    events: bool
    interactions: int
    rate: float
    generations_expected: int
    generations_accepted: int
    delivered: int
    lost: int
    duplicated: int
    reposted: int
    unacknowledged: int
    ack_ms: Percentiles
    delivery_s: Percentiles
    oxen_per_generation: float
    oxen_requests: dict[str, int]
    discord_per_generation: float
    discord_requests: dict[str, int]
    rate_limited: int
    cpu_seconds: float
    peak_rss_mb: float
    wall_seconds: float
    log: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    # Busy-channel phases (Discord's limits in the local Discord):
    discord_limits: bool = False
    rate_limited_by_route: dict[str, int] = field(default_factory=dict)
    images_per_message: dict[int, int] = field(default_factory=dict)  # images -> messages
    final_statuses: int = 0  # status messages that show the request's final state
    status_messages: int = 0

    @property
    def image_messages(self) -> int:
        return sum(self.images_per_message.values())

    @property
    def mean_images_per_message(self) -> float | None:
        messages = self.image_messages
        if not messages:
            return None
        return sum(k * v for k, v in self.images_per_message.items()) / messages

    @property
    def not_enqueued(self) -> int:
        return self.generations_expected - self.generations_accepted

    @property
    def cpu_ms_per_generation(self) -> float:
        return 1000 * self.cpu_seconds / max(self.generations_accepted, 1)


@dataclass
class PendingResult:
    phase: str
    bot: BotKind
    generations: int
    interactions: int
    jobs_in_store: int | None
    fill_seconds: float
    fill_cpu_seconds: float
    ack_ms: Percentiles
    idle_seconds: float
    idle_cpu_percent: float
    rss_mb: float
    peak_rss_mb: float
    oxen_requests_per_second: float
    discord_requests_idle: int
    busy_interactions: int
    busy_cpu_percent: float
    busy_ack_ms: Percentiles
    log: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    # GET /metrics with every generation pending, one scrape after another, in ms (ours only).
    scrape_ms: Percentiles = field(default_factory=lambda: Percentiles(None, None, None))


@dataclass
class BigResult:
    """Big results re-encoded while /imagine keeps coming. The window: from the first big
    result turning terminal at Oxen to the last big image posted (download, re-encode, post)."""

    phase: str
    bot_root: str
    images: int
    size: int
    image_mib: float  # the PNGs' mean size
    upload_limit: int
    window_s: float | None
    big_delivery_s: Percentiles  # terminal at Oxen -> image message, the big ones
    big_posted: list[str]  # what was posted for each: "webp 2.5 MiB"
    interactions: int  # all /imagine of the phase, the big ones included
    window_interactions: int  # dispatched in the window
    window_ack_ms: Percentiles
    window_unacknowledged: int  # dispatched in the window, no ack within Discord's 3 s
    ack_ms: Percentiles  # the whole phase
    small_delivery_s: Percentiles  # the other results that turned terminal in the window
    generations_accepted: int
    delivered: int
    lost: int
    duplicated: int
    unacknowledged: int
    cpu_seconds: float  # the bot and its child processes (a process pool's workers)
    processes: int  # the bot's process and its descendants at the end
    peak_rss_mb: float  # the bot's own process
    children_peak_rss_mb: float  # its descendants' peaks, summed
    log: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    passed: bool


# --- phases -------------------------------------------------------------------------------------


async def run_flow(
    cfg: Config,
    workdir: Path,
    phase: str,
    kind: BotKind,
    *,
    n: int,
    rate: float,
    events: bool = True,
    busy: bool = False,
) -> FlowResult:
    """``busy``: Discord's own rate limits in the local Discord, one channel,
    ``cfg.busy_users`` members."""
    from bench.world import open_world

    rng = random.Random(f"{cfg.seed}:{phase}")
    durations = [rng.uniform(cfg.gen_min, cfg.gen_max) for _ in range(n)]
    progress(
        f"{phase}: {n} × /imagine at {rate:g}/s, generations {cfg.gen_min:g}–{cfg.gen_max:g} s"
        + (", Discord's limits, one channel" if busy else "")
    )
    channels, users = (1, cfg.busy_users) if busy else (cfg.channels, cfg.users)
    async with open_world(channels=channels, users=users, discord_limits=busy) as world:
        bot = launch(cfg, kind, world, workdir, phase)
        try:
            await bot.start(world)
            if kind == "ours":
                await world.oxen.wait_for_subscribers(1, timeout=10)
            if not events:
                world.oxen.events_enabled = False
                world.oxen.drop_event_streams()
                await world.oxen.wait_for_subscribers(0, timeout=10)
            oxen_mark, discord_mark = len(world.oxen.requests), len(world.discord.requests)
            limited_mark = world.discord.rate_limited_count
            hits_mark = len(world.discord.rate_limit_hits)
            before = bot.sample()
            interactions = await fire(world, phase, rate=rate, counts=[1] * n, durations=durations)
            images: dict[str, list[MessageRecord]] = {}

            def all_delivered() -> bool:
                nonlocal images
                images = image_messages(world)
                return len(world.oxen.generations) >= n and all(
                    images.get(gid) for gid in world.oxen.generations
                )

            await wait_until(
                all_delivered, cfg.delivery_deadline(kind, busy_images=n if busy else 0)
            )
            await asyncio.sleep(cfg.settle)  # late duplicates, status-message edits
            after = bot.sample()
            images = image_messages(world)
            result = summarize_flow(
                phase,
                kind,
                events,
                world,
                interactions,
                images,
                rate=rate,
                oxen_requests=world.oxen.requests[oxen_mark:],
                discord_requests=world.discord.requests[discord_mark:],
                rate_limited=world.discord.rate_limited_count - limited_mark,
                before=before,
                after=after,
            )
            if busy:
                busy_figures(result, world, interactions, images, hits_mark)
        finally:
            exit_code = await bot.stop()
        result.exit_code = exit_code
        result.log = bot.log_counts()
        return result


def busy_figures(
    result: FlowResult,
    world: World,
    interactions: Sequence[InteractionRecord],
    images: dict[str, list[MessageRecord]],
    hits_mark: int,
) -> None:
    """What a busy channel adds: 429s by route, images per message, final statuses shown."""
    result.discord_limits = True
    result.rate_limited_by_route = dict(
        Counter(hit.key for hit in world.discord.rate_limit_hits[hits_mark:]).most_common()
    )
    messages = {m.id: m for found in images.values() for m in found}
    per_message = Counter(
        sum(1 for a in m.attachments if a.filename.rsplit(".", 1)[0] in images)
        for m in messages.values()
    )
    result.images_per_message = dict(sorted(per_message.items()))
    originals = [r.original for r in interactions if r.original is not None]
    result.status_messages = len(originals)
    # The status message's last word (a Finished line), or the result posted into it.
    result.final_statuses = sum(
        1 for m in originals if m.content.startswith(("✅", "⚠️", "❌")) or m.attachments
    )


def reposts(discord_requests: Sequence[Any]) -> int:
    """Channel posts that repeat an earlier post's nonce: a second delivery attempt that only
    Discord's nonce check (``enforce_nonce``, a few minutes' window) kept from being seen."""
    nonces = [
        r.json.get("nonce")
        for r in discord_requests
        if r.method == "POST" and r.route == "/channels/{channel_id}/messages" and r.status < 300
        and isinstance(r.json, dict) and r.json.get("nonce") is not None
    ]  # fmt: skip
    return len(nonces) - len(set(nonces))


def summarize_flow(
    phase: str,
    kind: BotKind,
    events: bool,
    world: World,
    interactions: Sequence[InteractionRecord],
    images: dict[str, list[MessageRecord]],
    *,
    rate: float,
    oxen_requests: Sequence[Any],
    discord_requests: Sequence[Any],
    rate_limited: int,
    before: ProcSample,
    after: ProcSample,
) -> FlowResult:
    accepted = list(world.oxen.generations)
    delivered = [gid for gid in accepted if images.get(gid)]
    latencies = [
        min(m.created_at for m in images[gid]) - world.oxen.terminal_at[gid]
        for gid in delivered
        if gid in world.oxen.terminal_at
    ]
    oxen_counts = Counter(oxen_kind(r.method, r.path) for r in oxen_requests)
    per_generation = sum(v for k, v in oxen_counts.items() if k not in NOT_PER_GENERATION)
    discord_counts = Counter(f"{r.method} {r.route}" for r in discord_requests)
    generations = max(len(accepted), 1)
    return FlowResult(
        phase=phase,
        bot=kind,
        events=events,
        interactions=len(interactions),
        rate=rate,
        generations_expected=len(interactions),
        generations_accepted=len(accepted),
        delivered=len(delivered),
        lost=len(accepted) - len(delivered),
        duplicated=sum(1 for gid in accepted if len(images.get(gid, [])) > 1),
        reposted=reposts(discord_requests),
        unacknowledged=sum(1 for r in interactions if r.ack_latency is None),
        ack_ms=acks_ms(interactions),
        delivery_s=Percentiles.of(latencies),
        oxen_per_generation=per_generation / generations,
        oxen_requests=dict(oxen_counts.most_common()),
        discord_per_generation=len(discord_requests) / generations,
        discord_requests=dict(discord_counts.most_common()),
        rate_limited=rate_limited,
        cpu_seconds=after.cpu_seconds - before.cpu_seconds,
        peak_rss_mb=after.peak_rss_mb,
        wall_seconds=after.at - before.at,
    )


BIG_PHASE = "big results"


async def run_big(cfg: Config, workdir: Path) -> BigResult:
    """``cfg.big_images`` results of ``cfg.big_size``² px (noisy PNGs, cached, over the
    channel's upload limit) finish at Oxen together, so the bot downloads and re-encodes them
    at once, while /imagine arrives at ``cfg.big_rate`` per second (small results) from
    0.5 s before until the last big image is posted."""
    from bench.image_bench import result_images, scaled_limit
    from bench.world import open_world

    phase, big_phase = BIG_PHASE, f"{BIG_PHASE}-png"
    progress(f"{phase}: making or reading {cfg.big_images} cached {cfg.big_size}² PNGs")
    images = await asyncio.to_thread(result_images, cfg.big_size, cfg.big_images)
    limit = scaled_limit(cfg.big_size)
    rng = random.Random(f"{cfg.seed}:{phase}")
    most = round(cfg.big_rate * 90)  # the steady /imagine stop at the latest after 90 s
    durations = [rng.uniform(cfg.gen_min, cfg.gen_max) for _ in range(most)]
    progress(
        f"{phase}: {cfg.big_images} × {sum(map(len, images)) / len(images) / 2**20:.1f} MiB "
        f"over a {limit / 2**20:g} MiB limit, /imagine at {cfg.big_rate:g}/s meanwhile "
        f"(bot from {cfg.bot_root})"
    )
    async with open_world(channels=cfg.channels, users=cfg.users) as world:
        world.discord.upload_limit = limit  # the interactions' attachment_size_limit
        bot = launch(cfg, "ours", world, workdir, phase)
        try:
            await bot.start(world)
            await world.oxen.wait_for_subscribers(1, timeout=10)
            before = sample_tree(bot.pid)
            stop = asyncio.Event()
            steady = asyncio.create_task(
                fire(world, phase, rate=cfg.big_rate, counts=[1] * most, durations=durations,
                     stop=stop)
            )  # fmt: skip
            await asyncio.sleep(0.5)
            for index, image in enumerate(images):
                world.oxen.outcome_for_prompt(tag_of(big_phase, index), delay=0.3, image=image)
            big = await fire(world, big_phase, rate=50.0, counts=[1] * len(images))

            def big_ids() -> list[str]:
                return [
                    gid
                    for gid, row in world.oxen.generations.items()
                    if f"[{big_phase}:" in str(row.get("prompt"))
                ]

            def big_posted() -> bool:
                ids, posted = big_ids(), image_messages(world)
                return len(ids) == len(images) and all(posted.get(gid) for gid in ids)

            await wait_until(big_posted, 90.0)
            await asyncio.sleep(0.5)  # a few /imagine after the window, too
            stop.set()
            interactions = [*await steady, *big]

            def all_delivered() -> bool:
                posted = image_messages(world)
                return all(posted.get(gid) for gid in world.oxen.generations)

            await wait_until(all_delivered, cfg.delivery_deadline("ours"))
            await asyncio.sleep(cfg.settle)
            after = sample_tree(bot.pid)
            result = summarize_big(
                cfg, world, interactions, big_ids(), images, limit, before=before, after=after
            )
        finally:
            exit_code = await bot.stop()
        result.exit_code = exit_code
        result.log = bot.log_counts()
        return result


def summarize_big(
    cfg: Config,
    world: World,
    interactions: Sequence[InteractionRecord],
    big_ids: Sequence[str],
    images: Sequence[bytes],
    limit: int,
    *,
    before: TreeSample,
    after: TreeSample,
) -> BigResult:
    posted = image_messages(world)
    accepted = list(world.oxen.generations)
    delivered = [gid for gid in accepted if posted.get(gid)]

    def delivery(gid: str) -> float | None:
        if not posted.get(gid) or gid not in world.oxen.terminal_at:
            return None
        return min(m.created_at for m in posted[gid]) - world.oxen.terminal_at[gid]

    big_times = [t for gid in big_ids if (t := delivery(gid)) is not None]
    starts = [world.oxen.terminal_at[gid] for gid in big_ids if gid in world.oxen.terminal_at]
    ends = [min(m.created_at for m in posted[gid]) for gid in big_ids if posted.get(gid)]
    window = (min(starts), max(ends)) if starts and len(ends) == len(big_ids) else None
    shown = []
    for gid in big_ids:
        for message in posted.get(gid, [])[:1]:
            attachment = message.attachments[0]
            extension = attachment.filename.rsplit(".", 1)[-1]
            shown.append(f"{extension} {attachment.size / 2**20:.1f} MiB")

    def in_window(at: float | None) -> bool:
        return window is not None and at is not None and window[0] <= at <= window[1]

    during = [r for r in interactions if in_window(r.dispatched_at)]
    small = [
        t
        for gid in accepted
        if gid not in big_ids and in_window(world.oxen.terminal_at.get(gid))
        and (t := delivery(gid)) is not None
    ]  # fmt: skip
    return BigResult(
        phase=BIG_PHASE,
        bot_root=str(cfg.bot_root),
        images=len(images),
        size=cfg.big_size,
        image_mib=sum(map(len, images)) / len(images) / 2**20,
        upload_limit=limit,
        window_s=None if window is None else window[1] - window[0],
        big_delivery_s=Percentiles.of(big_times),
        big_posted=shown,
        interactions=len(interactions),
        window_interactions=len(during),
        window_ack_ms=acks_ms(during),
        window_unacknowledged=sum(1 for r in during if r.ack_latency is None),
        ack_ms=acks_ms(interactions),
        small_delivery_s=Percentiles.of(small),
        generations_accepted=len(accepted),
        delivered=len(delivered),
        lost=len(accepted) - len(delivered),
        duplicated=sum(1 for gid in accepted if len(posted.get(gid, [])) > 1),
        unacknowledged=sum(1 for r in interactions if r.ack_latency is None),
        cpu_seconds=after.cpu_seconds - before.cpu_seconds,
        processes=after.processes,
        peak_rss_mb=after.peak_rss_mb,
        children_peak_rss_mb=after.children_peak_rss_mb,
    )


async def run_pending(cfg: Config, workdir: Path, phase: str, kind: BotKind) -> PendingResult:
    """``cfg.pending`` generations held at Oxen (4 per /imagine): fill, settle, measure the
    bot's CPU over ``cfg.idle_seconds`` while nothing happens but its own polling, then its CPU
    while ``cfg.load_rate`` more /imagine per second arrive for ``cfg.busy_seconds``."""
    from bench.world import open_world

    full, rest = divmod(cfg.pending, MAX_COUNT)
    counts = [MAX_COUNT] * full + ([rest] if rest else [])
    progress(f"{phase}: {cfg.pending} generations held at Oxen ({len(counts)} × /imagine)")
    async with open_world(channels=cfg.channels, users=cfg.users) as world:
        world.oxen.hold = True
        bot = launch(cfg, kind, world, workdir, phase)
        database = workdir / f"{slug(phase)}.sqlite3"
        try:
            await bot.start(world)
            if kind == "ours":
                await world.oxen.wait_for_subscribers(1, timeout=10)
            before = bot.sample()
            interactions = await fire(world, phase, rate=cfg.pending_rate, counts=counts)

            def filled() -> bool:
                return len(world.oxen.generations) >= cfg.pending and all_shown(interactions)

            if not await wait_until(filled, 60.0):
                raise RuntimeError(f"{phase}: the bot did not take all {cfg.pending} jobs")
            filled_at = bot.sample()
            await asyncio.sleep(2 * cfg.settle)  # let the wake-up passes finish
            oxen_mark, discord_mark = len(world.oxen.requests), len(world.discord.requests)
            idle_start = bot.sample()
            await asyncio.sleep(cfg.idle_seconds)
            idle_end = bot.sample()
            discord_idle = len(world.discord.requests) - discord_mark
            oxen_idle = [
                r
                for r in world.oxen.requests[oxen_mark:]
                if oxen_kind(r.method, r.path) not in NOT_PER_GENERATION
            ]
            jobs = await asyncio.to_thread(count_pending_jobs, database) if kind == "ours" else None
            port = bot.http_port if kind == "ours" else None
            scrape = await scrape_times(port) if port else Percentiles(None, None, None)
            # New work on top of the pending jobs: what each /imagine costs at this size.
            held = len(world.oxen.generations)
            busy_start = bot.sample()
            busy = await fire(
                world,
                f"{phase}-busy",
                rate=cfg.load_rate,
                counts=[1] * max(1, round(cfg.load_rate * cfg.busy_seconds)),
            )
            await wait_until(lambda: all_shown(busy), 30.0)
            busy_end = bot.sample()
            elapsed = idle_end.at - idle_start.at
            result = PendingResult(
                phase=phase,
                bot=kind,
                generations=held,
                interactions=len(interactions),
                jobs_in_store=jobs,
                fill_seconds=filled_at.at - before.at,
                fill_cpu_seconds=filled_at.cpu_seconds - before.cpu_seconds,
                ack_ms=acks_ms(interactions),
                idle_seconds=elapsed,
                idle_cpu_percent=cpu_percent(idle_start, idle_end),
                rss_mb=idle_end.rss_mb,
                peak_rss_mb=idle_end.peak_rss_mb,
                oxen_requests_per_second=len(oxen_idle) / elapsed,
                discord_requests_idle=discord_idle,
                busy_interactions=len(busy),
                busy_cpu_percent=cpu_percent(busy_start, busy_end),
                busy_ack_ms=acks_ms(busy),
                scrape_ms=scrape,
            )
        finally:
            exit_code = await bot.stop()
        result.exit_code = exit_code
        result.log = bot.log_counts()
        return result


SCRAPES = 200


async def scrape_times(port: int, times: int = SCRAPES) -> Percentiles:
    """GET /metrics ``times`` times in a row, as Prometheus would: ms each, response read."""
    url = f"http://127.0.0.1:{port}/metrics"
    took: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(times):
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        return Percentiles(None, None, None)
                took.append((time.perf_counter() - started) * 1000)
    except aiohttp.ClientError:
        return Percentiles(None, None, None)  # a bot without the server (--bot-root)
    return Percentiles.of(took)


def all_shown(interactions: Sequence[InteractionRecord]) -> bool:
    """Every interaction's deferred answer was replaced by a status message (job stored)."""
    return all(r.original is not None and not r.original.loading for r in interactions)


def acks_ms(interactions: Sequence[InteractionRecord]) -> Percentiles:
    return Percentiles.of([r.ack_latency * 1000 for r in interactions if r.ack_latency is not None])


def cpu_percent(start: ProcSample, end: ProcSample) -> float:
    """CPU used between two samples, in % of one core."""
    return 100 * (end.cpu_seconds - start.cpu_seconds) / max(end.at - start.at, 1e-9)


def count_pending_jobs(database: Path) -> int:
    """Jobs the bot's own store holds as pending with a status message (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND status_message_id IS NOT NULL"
        ).fetchone()
    return int(count)


@dataclass
class Report:
    config: Config
    flows: list[FlowResult]
    pending: list[PendingResult]
    big: BigResult | None
    targets: list[Target]
    seconds: float
    busy: list[FlowResult] = field(default_factory=list)


def busy_phase(rate: float, kind: BotKind = "ours") -> str:
    return f"busy {rate:g}/s" + (" naive" if kind == "naive" else "")


async def run_busy(cfg: Config, workdir: Path, started: float) -> list[FlowResult]:
    """One channel under Discord's limits, ``cfg.busy_users`` members, each rate of
    ``cfg.busy_rates`` for ``cfg.busy_duration`` s; the naive bot beside ours at its rate."""
    flows = []
    for rate in cfg.busy_rates:
        n = max(1, round(rate * cfg.busy_duration))
        kinds: list[BotKind] = ["ours"]
        if cfg.busy_naive_rate and math.isclose(rate, cfg.busy_naive_rate):
            kinds.append("naive")
        for kind in kinds:
            phase = busy_phase(rate, kind)
            flows.append(await run_flow(cfg, workdir, phase, kind, n=n, rate=rate, busy=True))
            progress(f"{phase}: done at {time.monotonic() - started:.0f} s")
    return flows


async def run_benchmark(cfg: Config, workdir: Path) -> Report:
    started = time.monotonic()
    if cfg.busy_only:
        busy = await run_busy(cfg, workdir, started)
        targets = evaluate_busy(cfg, busy)
        return Report(cfg, [], [], None, targets, time.monotonic() - started, busy)
    if cfg.big_only:
        big = await run_big(cfg, workdir)
        progress(f"{BIG_PHASE}: done at {time.monotonic() - started:.0f} s")
        return Report(cfg, [], [], big, evaluate(cfg, [], [], big), time.monotonic() - started)
    load = max(1, round(cfg.load_rate * cfg.load_seconds))
    plan: list[tuple[str, BotKind, int, float, bool]] = [
        ("ours+events", "ours", cfg.n, cfg.rate, True),
        ("ours-events", "ours", cfg.n, cfg.rate, False),
        ("naive", "naive", cfg.naive_n, cfg.rate, True),
        (f"load {cfg.load_rate:g}/s", "ours", load, cfg.load_rate, True),
    ]
    flows = []
    for phase, kind, n, rate, events in plan:
        flows.append(await run_flow(cfg, workdir, phase, kind, n=n, rate=rate, events=events))
        progress(f"{phase}: done at {time.monotonic() - started:.0f} s")
    pending_plan: list[tuple[str, BotKind]] = [("pending", "ours")]
    if cfg.pending_naive:
        pending_plan.append(("pending naive", "naive"))
    pending = []
    for phase, kind in pending_plan:
        pending.append(await run_pending(cfg, workdir, phase, kind))
        progress(f"{phase}: done at {time.monotonic() - started:.0f} s")
    big = None
    if cfg.big:
        big = await run_big(cfg, workdir)
        progress(f"{BIG_PHASE}: done at {time.monotonic() - started:.0f} s")
    busy = await run_busy(cfg, workdir, started) if cfg.busy else []
    targets = evaluate(cfg, flows, pending, big) + evaluate_busy(cfg, busy)
    return Report(cfg, flows, pending, big, targets, time.monotonic() - started, busy)


# --- targets and output -------------------------------------------------------------------------


def at_most(
    name: str, value: float | None, limit: float, spec: str, strict: bool = False
) -> Target:
    if value is None:
        return Target(name, "n/a", False)
    passed = value < limit if strict else value <= limit
    return Target(name, format(value, spec), passed)


def evaluate(
    cfg: Config, flows: list[FlowResult], pending: list[PendingResult], big: BigResult | None
) -> list[Target]:
    targets = evaluate_flows(cfg, flows, pending) if flows else []
    if big is not None:
        p99 = big.window_ack_ms.p99
        missed = big.window_unacknowledged
        measured = "n/a" if p99 is None else f"{p99:.0f}"
        if missed:
            measured += f" ({missed} no ack)"
        complete = big.delivered == big.generations_accepted and len(big.big_posted) == big.images
        targets += [
            Target(
                f"ack p99 < 150 ms while re-encoding ({big.phase})",
                measured,
                p99 is not None and p99 < 150 and missed == 0,
            ),
            Target(
                f"{big.phase}: nothing lost or duplicated",
                f"{big.lost} lost, {big.duplicated} dup",
                big.lost == 0 and big.duplicated == 0 and complete,
            ),
        ]
    return targets


BUSY_LATENCY_RATE = 3.0  # the busy rate with delivery targets (p50 ≤ 5 s, p99 ≤ 15 s)


def evaluate_busy(cfg: Config, busy: list[FlowResult]) -> list[Target]:
    """One channel under Discord's limits: no 429, every image once, every request's final
    state shown; at 3/s, delivery p50 ≤ 5 s and p99 ≤ 15 s."""
    targets = []
    for flow in busy:
        if flow.bot != "ours":
            continue
        if math.isclose(flow.rate, BUSY_LATENCY_RATE):
            targets += [
                at_most(f"{flow.phase}: delivery p50 ≤ 5 s", flow.delivery_s.p50, 5.0, ".2f"),
                at_most(f"{flow.phase}: delivery p99 ≤ 15 s", flow.delivery_s.p99, 15.0, ".2f"),
            ]
        targets += [
            at_most(f"{flow.phase}: no 429", flow.rate_limited, 0, "d"),
            Target(
                f"{flow.phase}: every image delivered once",
                f"{flow.delivered}/{flow.generations_accepted}, {flow.lost} lost, "
                f"{flow.duplicated} dup",
                flow.lost == 0 and flow.duplicated == 0 and flow.delivered == flow.interactions,
            ),
            Target(
                f"{flow.phase}: every status shows its final state",
                f"{flow.final_statuses}/{flow.status_messages}",
                flow.final_statuses == flow.status_messages == flow.interactions,
            ),
        ]
    return targets


def evaluate_flows(
    cfg: Config, flows: list[FlowResult], pending: list[PendingResult]
) -> list[Target]:
    by_phase = {f.phase: f for f in flows}
    events, no_events = by_phase["ours+events"], by_phase["ours-events"]
    load = flows[-1]
    ours_pending = pending[0]
    ms = ".0f"
    return [
        at_most("ack p99 < 150 ms (ours+events)", events.ack_ms.p99, 150, ms, strict=True),
        at_most(f"ack p99 < 150 ms ({load.phase})", load.ack_ms.p99, 150, ms, strict=True),
        at_most("delivery p50 ≤ 0.3 s with events", events.delivery_s.p50, 0.3, ".2f"),
        at_most("delivery p99 ≤ 1 s with events", events.delivery_s.p99, 1.0, ".2f"),
        at_most(
            f"delivery p99 ≤ tick + 1 = {cfg.tick + 1:g} s without events",
            no_events.delivery_s.p99,
            cfg.tick + 1,
            ".2f",
        ),
        at_most(
            "Oxen requests/generation ≤ 1.2 with events", events.oxen_per_generation, 1.2, ".2f"
        ),
        at_most(
            f"{ours_pending.generations} pending: RSS < 150 MB",
            ours_pending.peak_rss_mb,
            150,
            ".0f",
            strict=True,
        ),
        at_most(
            f"{ours_pending.generations} pending: idle CPU < 5% of a core",
            ours_pending.idle_cpu_percent,
            5,
            ".1f",
            strict=True,
        ),
        at_most(
            f"{ours_pending.generations} pending: GET /metrics p99 < 10 ms",
            ours_pending.scrape_ms.p99,
            10,
            ".1f",
            strict=True,
        ),
        Target(
            f"{load.phase} for {cfg.load_seconds:g} s: nothing lost or duplicated",
            f"{load.lost} lost, {load.duplicated} dup ({load.reposted} re-posts)",
            load.lost == 0 and load.duplicated == 0 and load.delivered == load.interactions,
        ),
        at_most(f"{load.phase}: no 429", load.rate_limited, 0, "d"),
    ]


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def pair(values: Percentiles, spec: str) -> str:
    return f"{fmt(values.p50, spec)} / {fmt(values.p99, spec)}"


def render(report: Report) -> str:
    cfg = report.config
    lines = [
        f"imagine-bot benchmark: n={cfg.n} (naive {cfg.naive_n}) at {cfg.rate:g}/s, generations "
        f"{cfg.gen_min:g}–{cfg.gen_max:g} s, tick {cfg.tick:g} s, naive poll "
        f"{cfg.naive_interval:g} s, load {cfg.load_rate:g}/s × {cfg.load_seconds:g} s, "
        f"{cfg.channels} channel(s)",
        "",
    ]
    if cfg.big_only:
        lines = [
            f"imagine-bot benchmark, {BIG_PHASE} only: generations {cfg.gen_min:g}–"
            f"{cfg.gen_max:g} s, {cfg.channels} channel(s)",
            "",
        ]
    if cfg.busy_only:
        lines = [
            f"imagine-bot benchmark, busy channel only: generations {cfg.gen_min:g}–"
            f"{cfg.gen_max:g} s, naive poll {cfg.naive_interval:g} s",
            "",
        ]
    if report.flows:
        lines += render_flows(report)
    if report.big is not None:
        lines += render_big(report.big, cfg)
    elif not cfg.big and not cfg.busy_only:
        lines += [f"{BIG_PHASE}: skipped (--no-big)", ""]
    if report.busy:
        lines += render_busy(report)
    lines += ["targets"]
    width = max(len(t.name) for t in report.targets)
    measured = max(len(t.measured) for t in report.targets)
    for target in report.targets:
        verdict = "PASS" if target.passed else "FAIL"
        lines.append(f"  {target.name:<{width}}  {target.measured:>{measured}}  {verdict}")
    passed = sum(t.passed for t in report.targets)
    lines.append(f"{passed}/{len(report.targets)} targets met; run took {report.seconds:.0f} s")
    return "\n".join(lines)


def render_busy(report: Report) -> list[str]:
    cfg, flows = report.config, report.busy

    def per_message(f: FlowResult) -> str:
        mean = f.mean_images_per_message
        most = max(f.images_per_message, default=0)
        return "–" if mean is None else f"{mean:.1f} (max {most}, {f.image_messages} msgs)"

    rows: list[tuple[str, list[str]]] = [
        ("/imagine sent (members)", [f"{f.interactions} ({cfg.busy_users})" for f in flows]),
        ("ack p50 / p99 ms", [pair(f.ack_ms, ".0f") for f in flows]),
        ("delivery p50 / p99 s", [pair(f.delivery_s, ".2f") for f in flows]),
        ("delivery max s", [fmt(f.delivery_s.max, ".2f") for f in flows]),
        ("images per message", [per_message(f) for f in flows]),
        ("delivered/lost/dup", [f"{f.delivered}/{f.lost}/{f.duplicated}" for f in flows]),
        ("re-posts (nonce-dropped)", [str(f.reposted) for f in flows]),
        ("429s issued", [str(f.rate_limited) for f in flows]),
        ("final status shown", [f"{f.final_statuses}/{f.status_messages}" for f in flows]),
        ("Discord req/generation", [f"{f.discord_per_generation:.2f}" for f in flows]),
        ("bot CPU s", [f"{f.cpu_seconds:.2f}" for f in flows]),
        ("bot log warn/error", [f"{f.log['warnings']}/{f.log['errors']}" for f in flows]),
    ]
    lines = [
        f"busy channel: Discord's limits in the local Discord (5 messages and 5 edits per 5 s "
        f"per channel, follow-ups 5 per 2 s per interaction and 30/min per channel), one "
        f"channel, {cfg.busy_users} members, {cfg.busy_duration:g} s per rate",
        *table(["phase", *[f.phase for f in flows]], rows),
    ]
    for flow in flows:
        limited = ", ".join(f"{k} {v}" for k, v in flow.rate_limited_by_route.items()) or "none"
        lines.append(f"  {flow.phase:<16} 429s     {limited}")
        lines.append(f"  {'':<16} Discord  {breakdown(flow.discord_requests, flow)}")
    if not any(f.bot == "naive" for f in flows):
        lines.append("  (the naive bot: not run)")
    return [*lines, ""]


def render_big(big: BigResult, cfg: Config) -> list[str]:
    big_times = big.big_delivery_s
    rows: list[tuple[str, list[str]]] = [
        ("bot's code", [big.bot_root if Path(big.bot_root) != ROOT else "this tree"]),
        (
            "big results",
            [
                f"{big.images} × {big.size}² PNG, {big.image_mib:.1f} MiB each, "
                f"limit {big.upload_limit / 2**20:g} MiB"
            ],
        ),
        ("posted as", [", ".join(big.big_posted) or "–"]),
        (
            "window s (terminal → last posted)",
            [fmt(big.window_s, ".1f")],
        ),
        (
            "big delivery p50 / max s",
            [f"{fmt(big_times.p50, '.1f')} / {fmt(big_times.max, '.1f')}"],
        ),
        (
            f"/imagine in window (at {cfg.big_rate:g}/s)",
            [f"{big.window_interactions} ({big.window_unacknowledged} no ack in 3 s)"],
        ),
        (
            "  ack p50 / p99 / max ms",
            [f"{pair(big.window_ack_ms, '.0f')} / {fmt(big.window_ack_ms.max, '.0f')}"],
        ),
        ("  their small results: delivery p50 / p99 s", [pair(big.small_delivery_s, ".2f")]),
        (
            "whole phase: /imagine, ack p50 / p99 ms",
            [f"{big.interactions}, {pair(big.ack_ms, '.0f')}"],
        ),
        (
            "delivered/lost/dup",
            [f"{big.delivered}/{big.lost}/{big.duplicated}"],
        ),
        (
            "bot CPU s (processes)",
            [f"{big.cpu_seconds:.1f} ({big.processes})"],
        ),
        (
            "peak RSS MB: bot / its children",
            [f"{big.peak_rss_mb:.0f} / {big.children_peak_rss_mb:.0f}"],
        ),
        ("bot log warn/error", [f"{big.log.get('warnings', 0)}/{big.log.get('errors', 0)}"]),
    ]
    return [*table(["phase", big.phase], rows), ""]


def render_flows(report: Report) -> list[str]:
    cfg = report.config
    lines: list[str] = []
    flows = report.flows
    rows: list[tuple[str, list[str]]] = [
        ("/imagine sent", [str(f.interactions) for f in flows]),
        ("ack p50 / p99 ms", [pair(f.ack_ms, ".0f") for f in flows]),
        ("delivery p50 / p99 s", [pair(f.delivery_s, ".2f") for f in flows]),
        ("delivery max s", [fmt(f.delivery_s.max, ".2f") for f in flows]),
        ("Oxen req/generation ¹", [f"{f.oxen_per_generation:.2f}" for f in flows]),
        ("GET /api/events ²", [str(f.oxen_requests.get("events", 0)) for f in flows]),
        ("Discord req/generation", [f"{f.discord_per_generation:.2f}" for f in flows]),
        ("delivered/lost/dup", [f"{f.delivered}/{f.lost}/{f.duplicated}" for f in flows]),
        ("re-posts (nonce-dropped) ³", [str(f.reposted) for f in flows]),
        ("not enqueued / no ack", [f"{f.not_enqueued} / {f.unacknowledged}" for f in flows]),
        ("429s issued", [str(f.rate_limited) for f in flows]),
        (
            "bot CPU s (ms/gen)",
            [f"{f.cpu_seconds:.2f} ({f.cpu_ms_per_generation:.1f})" for f in flows],
        ),
        ("bot peak RSS MB", [f"{f.peak_rss_mb:.0f}" for f in flows]),
        ("bot log warn/error", [f"{f.log['warnings']}/{f.log['errors']}" for f in flows]),
    ]
    lines += table(["phase", *[f.phase for f in flows]], rows)
    lines += [
        "¹ Oxen API requests except result downloads (/api/repos/…) and event-stream connects,",
        "  per generation accepted. ² event-stream connects, counted apart (503s while off).",
        "³ a second POST of a generation's image that Discord dropped as a repeated nonce.",
        "",
    ]
    pend = report.pending
    pending_rows: list[tuple[str, list[str]]] = [
        ("generations (/imagine)", [f"{p.generations} ({p.interactions})" for p in pend]),
        ("jobs in bot's store", [fmt(p.jobs_in_store, "d") for p in pend]),
        ("fill s (bot CPU s)", [f"{p.fill_seconds:.1f} ({p.fill_cpu_seconds:.2f})" for p in pend]),
        ("ack p50 / p99 ms", [pair(p.ack_ms, ".0f") for p in pend]),
        (
            "idle CPU % of a core",
            [f"{p.idle_cpu_percent:.1f} ({p.idle_seconds:.0f} s)" for p in pend],
        ),
        ("RSS / peak MB", [f"{p.rss_mb:.0f} / {p.peak_rss_mb:.0f}" for p in pend]),
        ("Oxen req/s idle", [f"{p.oxen_requests_per_second:.1f}" for p in pend]),
        ("Discord req idle", [str(p.discord_requests_idle) for p in pend]),
        (f"GET /metrics p50 / p99 ms ({SCRAPES}×)", [pair(p.scrape_ms, ".1f") for p in pend]),
        (
            f"then {cfg.load_rate:g}/s: CPU %",
            [f"{p.busy_cpu_percent:.0f} ({p.busy_interactions} more)" for p in pend],
        ),
        (f"then {cfg.load_rate:g}/s: ack p50 / p99", [pair(p.busy_ack_ms, ".0f") for p in pend]),
    ]
    lines += table(["held at Oxen", *[p.phase for p in pend]], pending_rows)
    lines += ["", "requests per generation, by kind (download and events not in the Oxen figure)"]
    for flow in flows:
        lines.append(f"  {flow.phase:<12} Oxen     {breakdown(flow.oxen_requests, flow)}")
        lines.append(f"  {'':<12} Discord  {breakdown(flow.discord_requests, flow)}")
    lines.append("")
    return lines


DISCORD_ROUTES = {
    "POST /interactions/{interaction_id}/{token}/callback": "callback",
    "PATCH /webhooks/{application_id}/{token}/messages/{message_id}": "edit-original",
    "POST /webhooks/{application_id}/{token}": "followup",
    "POST /channels/{channel_id}/messages": "post",
    "PATCH /channels/{channel_id}/messages/{message_id}": "edit-message",
    "GET /channels/{channel_id}/messages": "history",
}


def breakdown(counts: dict[str, int], flow: FlowResult) -> str:
    generations = max(flow.generations_accepted, 1)
    return ", ".join(
        f"{DISCORD_ROUTES.get(name, name)} {count / generations:.2f}"
        for name, count in counts.items()
    )


def table(header: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    first = max(len(header[0]), *(len(label) for label, _ in rows))
    widths = [
        max(len(header[i + 1]), *(len(cells[i]) for _, cells in rows))
        for i in range(len(header) - 1)
    ]

    def line(label: str, cells: Sequence[str]) -> str:
        return "  ".join(
            [label.ljust(first), *(c.rjust(w) for c, w in zip(cells, widths, strict=True))]
        )

    return [line(header[0], header[1:]), *(line(label, cells) for label, cells in rows)]


def to_json(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in data["config"].items()}
    return data


def progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    d = Config()
    p.add_argument("--n", type=int, default=d.n, help="/imagine per latency phase (%(default)s)")
    p.add_argument("--rate", type=float, default=d.rate, help="/imagine per second (%(default)s)")
    p.add_argument("--gen-min", type=float, default=d.gen_min, help="shortest generation, s")
    p.add_argument("--gen-max", type=float, default=d.gen_max, help="longest generation, s")
    p.add_argument("--tick", type=float, default=d.tick, help="POLL_INTERVAL_SECONDS for our bot")
    p.add_argument("--naive-n", type=int, help="/imagine for the naive bot (default: --n)")
    p.add_argument("--naive-interval", type=float, default=d.naive_interval, help="naive poll, s")
    p.add_argument("--load-rate", type=float, default=d.load_rate, help="load phase /imagine/s")
    p.add_argument("--load-seconds", type=float, default=d.load_seconds, help="load duration")
    p.add_argument(
        "--sustained", action="store_true", help="the issue's target: load for 30 s (not 10)"
    )
    p.add_argument("--pending", type=int, default=d.pending, help="generations held pending")
    p.add_argument("--pending-rate", type=float, default=d.pending_rate, help="fill /imagine/s")
    p.add_argument("--no-pending-naive", action="store_true", help="skip the naive bot's pending")
    p.add_argument("--idle-seconds", type=float, default=d.idle_seconds, help="idle CPU window")
    p.add_argument("--channels", type=int, default=d.channels, help="channels to spread over")
    p.add_argument("--users", type=int, default=d.users, help="members who invoke /imagine")
    p.add_argument("--seed", type=int, default=d.seed, help="generation durations' seed")
    p.add_argument("--log-level", default=d.log_level, help="our bot's LOG_LEVEL")
    p.add_argument("--logs", type=Path, help="keep the bots' logs and databases here")
    p.add_argument("--json", type=Path, dest="json_path", help="also write results as JSON")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke size: 0.2–0.6 s generations, 1 s load, 1 s idle, 1 s naive poll",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    p.add_argument(
        "--bot-root",
        type=Path,
        default=ROOT,
        help="run our bot from this tree (PYTHONPATH), e.g. a git worktree of an older commit",
    )
    p.add_argument("--big-only", action="store_true", help=f"only the {BIG_PHASE!r} phase")
    p.add_argument("--no-big", action="store_true", help=f"skip the {BIG_PHASE!r} phase")
    p.add_argument("--big-size", type=int, default=d.big_size, help="big results' side, px")
    p.add_argument("--big-rate", type=float, default=d.big_rate, help="/imagine/s meanwhile")
    p.add_argument(
        "--busy",
        action="store_true",
        help="also the busy-channel phases: Discord's limits, one channel, 3/s and 10/s",
    )
    p.add_argument("--busy-only", action="store_true", help="only the busy-channel phases")
    p.add_argument(
        "--busy-rates", type=float, nargs="+", default=list(d.busy_rates), help="/imagine/s each"
    )
    p.add_argument(
        "--busy-duration", type=float, default=d.busy_duration, help="seconds per busy rate"
    )
    p.add_argument("--busy-users", type=int, default=d.busy_users, help="members asking")
    p.add_argument(
        "--busy-naive-rate",
        type=float,
        default=d.busy_naive_rate,
        help="the busy rate the naive bot runs beside ours (0: none)",
    )
    args = p.parse_args(argv)
    if args.big_only and args.no_big:
        p.error("--big-only and --no-big exclude each other")
    if args.busy_only and args.big_only:
        p.error("--busy-only and --big-only exclude each other")
    cfg = Config(
        n=args.n,
        rate=args.rate,
        gen_min=args.gen_min,
        gen_max=max(args.gen_min, args.gen_max),
        tick=args.tick,
        naive_n=args.naive_n if args.naive_n is not None else args.n,
        naive_interval=args.naive_interval,
        load_rate=args.load_rate,
        load_seconds=30.0 if args.sustained else args.load_seconds,
        pending=args.pending,
        pending_rate=args.pending_rate,
        pending_naive=not args.no_pending_naive,
        idle_seconds=args.idle_seconds,
        channels=args.channels,
        users=args.users,
        seed=args.seed,
        log_level=args.log_level.upper(),
        strict=args.strict,
        logs=args.logs,
        json_path=args.json_path,
        bot_root=args.bot_root.resolve(),
        big=not args.no_big,
        big_only=args.big_only,
        big_size=args.big_size,
        big_rate=args.big_rate,
        busy=args.busy or args.busy_only,
        busy_only=args.busy_only,
        busy_rates=tuple(args.busy_rates),
        busy_duration=args.busy_duration,
        busy_users=args.busy_users,
        busy_naive_rate=args.busy_naive_rate,
    )
    if args.quick:
        cfg = replace(
            cfg,
            gen_min=min(cfg.gen_min, 0.2),
            gen_max=min(cfg.gen_max, 0.6),
            load_seconds=min(cfg.load_seconds, 1.0),
            idle_seconds=min(cfg.idle_seconds, 1.0),
            busy_seconds=min(cfg.busy_seconds, 0.5),
            naive_interval=min(cfg.naive_interval, 1.0),
            settle=0.3,
            big_size=min(cfg.big_size, 1024),
        )
    return cfg


@contextlib.contextmanager
def working_directory(cfg: Config) -> Iterator[Path]:
    if cfg.logs is not None:
        cfg.logs.mkdir(parents=True, exist_ok=True)
        yield cfg.logs.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="imagine-bench-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if NAIVE_FLAG in args:
        run_naive_bot()
        return 0
    if args[:1] == [LIFT_FLAG]:  # the bot's code comes from PYTHONPATH (--bot-root)
        asyncio.run(lift_fair_use_limits(Path(args[1]), int(args[2])))
        return 0
    cfg = parse_args(args)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # bench.world and tests.fakes, when run as a script
    with working_directory(cfg) as workdir:
        report = asyncio.run(run_benchmark(cfg, workdir))
    print(render(report))
    if cfg.json_path is not None:
        cfg.json_path.write_text(json.dumps(to_json(report), indent=2) + "\n")
    return 1 if cfg.strict and not all(t.passed for t in report.targets) else 0


if __name__ == "__main__":
    raise SystemExit(main())
