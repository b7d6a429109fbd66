"""The event loop's lag while four large result images are re-encoded at once, for each way of
running ``fit_to_limit`` (bot.core.images): on the loop, in threads, in a process pool.

    python bench/image_bench.py [--runs 3] [--size 4096] [--quick] [--json PATH]

Four seeded noisy 4096x4096 PNGs (gradients plus grain, 25-35 MiB each, made once and cached in
the temp dir) are re-encoded to a 10 MiB limit, all four started at once, as the bot's watcher
does with several deliveries. Meanwhile, in the same loop, a heartbeat sleeps 5 ms and notes how
late it woke, and a stand-in for an interaction ack (a small POST to a local aiohttp server in
the same loop) is due every 50 ms, timed from when it was due to its answer. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bot.core.images, when run as a script

from bot.core.images import EncodedImage, ImageWorker, fit_to_limit  # noqa: E402

MIB = 1024 * 1024
LIMIT = 10 * MIB  # Discord's upload limit for a server without boosts
IMAGES = 4  # re-encoded at once
HEARTBEAT = 0.005  # s the heartbeat sleeps
ACK_EVERY = 0.050  # s between simulated acks
TARGET_MS = 50.0  # the target for the loop's worst lag
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CACHE_VERSION = 1  # bump when noisy_png changes


# --- result-like images -------------------------------------------------------------------------


def noisy_png(size: tuple[int, int], seed: int, *, grain: int = 16) -> bytes:
    """A PNG that compresses like a generated picture, not like a flat test image: colour
    gradients with seeded per-pixel grain of ``grain`` levels. Deterministic for ``seed``."""
    width, height = size
    noise = random.Random(seed).randbytes(width * height * 3)
    noise = noise.translate(bytes((b * grain) >> 8 for b in range(256)))
    ramp = Image.linear_gradient("L").resize(size)
    angle = 90 * (seed % 4)
    base = Image.merge(
        "RGB",
        (ramp.rotate(angle), ramp.rotate(angle + 90), Image.radial_gradient("L").resize(size)),
    )
    image = ImageChops.add(base, Image.frombytes("RGB", size, noise))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "imagine-bench-images"


def result_images(size: int, count: int = IMAGES) -> list[bytes]:
    """``count`` distinct noisy ``size``x``size`` PNGs (seeds 1..count), cached in the temp dir
    (made on first use: a few seconds each at 4096)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for seed in range(1, count + 1):
        path = folder / f"noisy-{size}x{size}-seed{seed}-v{CACHE_VERSION}.png"
        if not path.exists():
            data = noisy_png((size, size), seed)
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: two benchmarks may make the same file
        images.append(path.read_bytes())
    return images


# --- ways of running fit_to_limit ---------------------------------------------------------------

Fit = Callable[[bytes, int], Awaitable[EncodedImage | None]]


@dataclass
class Runner:
    """One way to run fit_to_limit: ``open`` yields the coroutine function to call and, for a
    process pool, the seconds its start-up took (pool made until every worker answered)."""

    key: str
    label: str
    open: Callable[[], AbstractAsyncContextManager[tuple[Fit, float | None]]]


def on_the_loop() -> AbstractAsyncContextManager[tuple[Fit, float | None]]:
    @asynccontextmanager
    async def manager() -> Any:
        async def fit(data: bytes, limit: int) -> EncodedImage | None:
            return fit_to_limit(data, limit)  # as delivery did before ImageWorker: blocks

        yield fit, None

    return manager()


def default_executor() -> AbstractAsyncContextManager[tuple[Fit, float | None]]:
    @asynccontextmanager
    async def manager() -> Any:
        async def fit(data: bytes, limit: int) -> EncodedImage | None:
            return await asyncio.to_thread(fit_to_limit, data, limit)

        yield fit, None

    return manager()


def _in_executor(executor: Executor) -> Fit:
    async def fit(data: bytes, limit: int) -> EncodedImage | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, fit_to_limit, data, limit)

    return fit


def thread_pool(workers: int) -> Callable[[], AbstractAsyncContextManager[tuple[Fit, None]]]:
    @asynccontextmanager
    async def manager() -> Any:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pillow")
        try:
            yield _in_executor(executor), None
        finally:
            executor.shutdown(wait=True)

    return manager


def _warm_worker() -> int:
    """Runs in a pool process: import Pillow and the bot's image code, then stay busy briefly so
    that each of the pool's processes gets one of these."""
    import bot.core.images  # noqa: F401

    time.sleep(0.2)
    return os.getpid()


def _echo(data: bytes, back: int) -> bytes:
    """Runs in a pool process: the bytes' round trip without the encoding."""
    return data[:back]


@asynccontextmanager
async def started_pool(workers: int) -> Any:
    """A process pool (forkserver: the bot's process has threads, so no plain fork) whose
    workers have all started and imported Pillow; yields it and its start-up seconds."""
    loop = asyncio.get_running_loop()
    begun = time.perf_counter()
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
    try:
        warming = [loop.run_in_executor(executor, _warm_worker) for _ in range(workers)]
        await asyncio.gather(*warming)
        yield executor, time.perf_counter() - begun - 0.2
    finally:
        executor.shutdown(wait=True)


def process_pool(workers: int) -> Callable[[], AbstractAsyncContextManager[tuple[Fit, float]]]:
    @asynccontextmanager
    async def manager() -> Any:
        async with started_pool(workers) as (executor, startup):
            yield _in_executor(executor), startup

    return manager


def image_worker() -> AbstractAsyncContextManager[tuple[Fit, float | None]]:
    @asynccontextmanager
    async def manager() -> Any:
        worker = ImageWorker()
        try:
            yield worker.fit_to_limit, None
        finally:
            worker.close()

    return manager()


async def describe_image_worker() -> str:
    """Where ImageWorker() re-encodes, seen from outside: the worker processes and the threads
    named pillow* that it starts while it shrinks a few small images at once."""
    small = [noisy_png((256, 256), seed) for seed in range(IMAGES)]
    threads_before = {t.ident for t in threading.enumerate()}
    processes_before = {p.pid for p in multiprocessing.active_children()}
    worker = ImageWorker()
    try:
        await asyncio.gather(*(worker.fit_to_limit(data, len(data) // 4) for data in small))
        processes = [p for p in multiprocessing.active_children() if p.pid not in processes_before]
        threads = [
            t
            for t in threading.enumerate()
            if t.ident not in threads_before and t.name.startswith("pillow")
        ]
    finally:
        worker.close()
    return f"{len(processes)} worker process(es) and {len(threads)} pillow thread(s) of its own"


RUNNERS = [
    Runner("loop", "(a) on the loop (before)", on_the_loop),
    Runner("to_thread", "(b) asyncio.to_thread, default executor", default_executor),
    Runner("threads1", "(c) ThreadPoolExecutor, 1 worker", thread_pool(1)),
    Runner("threads2", "(d) ThreadPoolExecutor, 2 workers", thread_pool(2)),
    Runner("procs1", "(e) ProcessPoolExecutor, 1 worker", process_pool(1)),
    Runner("procs2", "(f) ProcessPoolExecutor, 2 workers", process_pool(2)),
    Runner("bot", "ImageWorker() (what the bot runs)", image_worker),
]


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def machine_cpu() -> float:
    """CPU seconds every process of the machine has used so far (/proc/stat, not idle)."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu() -> float:
    """CPU seconds of this process and its descendants (a pool's forkserver and workers)."""
    parents: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = text[text.rindex(")") + 2 :].split()
            stats[int(entry.name)] = fields
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / CLOCK_TICKS
        todo += parents.get(pid, [])
    return total


@dataclass(frozen=True)
class CpuMark:
    machine: float
    own: float

    @classmethod
    def now(cls) -> CpuMark:
        return cls(machine_cpu(), own_cpu())

    def others_since(self, start: CpuMark, seconds: float) -> float:
        """Cores that other processes kept busy meanwhile (0: the machine was ours)."""
        others = (self.machine - start.machine) - (self.own - start.own)
        return max(0.0, others) / max(seconds, 1e-9)


@dataclass
class Probe:
    """The heartbeat's lags and the acks' latencies, each with the loop time it was noted."""

    lags: list[tuple[float, float]] = field(default_factory=list)  # (woke at, s late)
    acks: list[tuple[float, float]] = field(default_factory=list)  # (due at, s to answer)

    def window(self, start: float, end: float) -> tuple[list[float], list[float]]:
        lags = [late for at, late in self.lags if start <= at <= end]
        acks = [took for due, took in self.acks if start <= due <= end]
        return lags, acks


async def heartbeat(probe: Probe, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(HEARTBEAT)
        woke = loop.time()
        probe.lags.append((woke, max(0.0, woke - before - HEARTBEAT)))


async def acks(probe: Probe, stop: asyncio.Event, session: aiohttp.ClientSession, url: str) -> None:
    """An ack due every ACK_EVERY s, on schedule: a stalled loop sends the missed ones late, and
    each counts from when it was due (the interaction had arrived by then)."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def ack(due: float) -> None:
        async with session.post(url, json={"type": 5}) as response:
            await response.read()
        probe.acks.append((due, loop.time() - due))

    due = loop.time()
    while not stop.is_set():
        task = asyncio.create_task(ack(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        due += ACK_EVERY
        await asyncio.sleep(max(0.0, due - loop.time()))
    await asyncio.gather(*pending)


@asynccontextmanager
async def ack_server() -> Any:
    """The "Discord" of the simulated acks: answers POST /callback with 204, in this loop."""

    async def callback(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{port}/callback"
    finally:
        await runner.cleanup()


@dataclass
class Run:
    worst_lag_ms: float
    p99_lag_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    wall_s: float
    startup_s: float | None
    fitted: list[tuple[str, int]]  # (extension, bytes) per image; ("none", 0): did not fit
    others_cores: float  # CPU that other processes of the machine used meanwhile, in cores


async def measure(
    runner: Runner | None, images: Sequence[bytes], limit: int, idle: float = 2.0
) -> Run:
    """Start the heartbeat and the acks, then (after a short warm-up) re-encode every image at
    once with ``runner``; figures cover the window from the start until the last one is done.
    ``runner`` None: nothing but the probes, for ``idle`` seconds (the floor)."""
    async with ack_server() as (session, url):
        probe, stop = Probe(), asyncio.Event()
        if runner is None:
            probes = [
                asyncio.create_task(heartbeat(probe, stop)),
                asyncio.create_task(acks(probe, stop, session, url)),
            ]
            await asyncio.sleep(0.3)
            mark = CpuMark.now()
            await asyncio.sleep(0.05)  # a beat held up by reading /proc is not in the window
            start = asyncio.get_running_loop().time()
            await asyncio.sleep(idle)
            end = asyncio.get_running_loop().time()
            await asyncio.sleep(0.1)
            others = CpuMark.now().others_since(mark, end - start + 0.15)
            stop.set()
            await asyncio.gather(*probes)
            return summarize(probe, start, end, None, [], others)
        async with runner.open() as (fit, startup):
            probes = [
                asyncio.create_task(heartbeat(probe, stop)),
                asyncio.create_task(acks(probe, stop, session, url)),
            ]
            await asyncio.sleep(0.3)  # the ack connection is open, the probes are steady
            mark = CpuMark.now()
            await asyncio.sleep(0.05)  # a beat held up by reading /proc is not in the window
            loop = asyncio.get_running_loop()
            start = loop.time()
            results = await asyncio.gather(*(fit(data, limit) for data in images))
            end = loop.time()
            await asyncio.sleep(0.1)  # the probes note the last stall
            others = CpuMark.now().others_since(mark, end - start + 0.15)
            stop.set()
            await asyncio.gather(*probes)
        fitted = [(r.extension, len(r.data)) if r else ("none", 0) for r in results]
        return summarize(probe, start, end, startup, fitted, others)


def summarize(
    probe: Probe,
    start: float,
    end: float,
    startup: float | None,
    fitted: list[tuple[str, int]],
    others: float,
) -> Run:
    # A stall ending just after the work did is noted at the heartbeat's next wake-up.
    lags, acked = probe.window(start, end + 0.05)
    return Run(
        worst_lag_ms=1000 * max(lags, default=0.0),
        p99_lag_ms=1000 * percentile(lags, 0.99),
        ack_p99_ms=1000 * percentile(acked, 0.99),
        ack_max_ms=1000 * max(acked, default=0.0),
        wall_s=end - start,
        startup_s=startup,
        fitted=fitted,
        others_cores=others,
    )


@dataclass
class Row:
    key: str
    label: str
    runs: list[Run]

    def median(self, name: str) -> float:
        return statistics.median(getattr(run, name) for run in self.runs)

    @property
    def startup_s(self) -> float | None:
        values = [r.startup_s for r in self.runs if r.startup_s is not None]
        return statistics.median(values) if values else None


@dataclass
class Transfer:
    workers: int
    image_mib: float
    back_mib: float
    round_trip_ms: float  # one image out and a result-sized answer back, median of 5
    noop_ms: float  # an empty call's round trip, median of 5


async def measure_transfer(image: bytes, back: int) -> Transfer:
    """What a process pool adds per image besides the encoding: pickling the bytes and piping
    them to the worker and the result back."""
    loop = asyncio.get_running_loop()
    async with started_pool(1) as (executor, _):

        async def timed(data: bytes, size: int) -> float:
            begun = time.perf_counter()
            await loop.run_in_executor(executor, _echo, data, size)
            return 1000 * (time.perf_counter() - begun)

        await timed(image, back)
        trips = [await timed(image, back) for _ in range(5)]
        noops = [await timed(b"", 0) for _ in range(5)]
    return Transfer(
        1, len(image) / MIB, back / MIB, statistics.median(trips), statistics.median(noops)
    )


# --- output -------------------------------------------------------------------------------------


@dataclass
class Report:
    size: int
    limit: int
    runs: int
    image_mib: list[float]
    idle: Run
    rows: list[Row]
    transfer: Transfer
    bot_uses: str
    cpus: int


def render(report: Report) -> str:
    mib = ", ".join(f"{m:.1f}" for m in report.image_mib)
    lines = [
        f"fit_to_limit: {len(report.image_mib)} noisy {report.size}x{report.size} PNGs "
        f"({mib} MiB) re-encoded at once to {report.limit / MIB:g} MiB; {report.cpus} CPUs; "
        f"median of {report.runs} run(s)",
        f"heartbeat every {HEARTBEAT * 1000:g} ms, a simulated ack due every "
        f"{ACK_EVERY * 1000:g} ms (POST to an aiohttp server in the same loop)",
        "",
    ]
    header = [
        "option",
        "worst lag ms (min–max)",
        "p99 lag ms",
        "ack p99 ms",
        "ack max ms",
        "wall s",
        "start-up s",
        "others' CPU",
    ]
    idle = report.idle
    cells: list[list[str]] = [
        [
            "nothing (the probes alone)",
            f"{idle.worst_lag_ms:.0f}",
            f"{idle.p99_lag_ms:.1f}",
            f"{idle.ack_p99_ms:.1f}",
            f"{idle.ack_max_ms:.1f}",
            "–",
            "–",
            f"{idle.others_cores:.2f}",
        ]
    ]
    for row in report.rows:
        worst = [r.worst_lag_ms for r in row.runs]
        startup = row.startup_s
        cells.append(
            [
                row.label,
                f"{row.median('worst_lag_ms'):.0f} ({min(worst):.0f}–{max(worst):.0f})",
                f"{row.median('p99_lag_ms'):.1f}",
                f"{row.median('ack_p99_ms'):.1f}",
                f"{row.median('ack_max_ms'):.0f}",
                f"{row.median('wall_s'):.1f}",
                "–" if startup is None else f"{startup:.2f}",
                f"{row.median('others_cores'):.2f}",
            ]
        )
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        lines.append(
            "  ".join(
                [
                    line[0].ljust(widths[0]),
                    *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)),
                ]
            )
        )
    lines.append(
        "others' CPU: cores that other processes of the machine kept busy meanwhile (a figure "
        "well above 0 means the run competed with them)"
    )
    first = next((r for r in report.rows if r.runs and r.runs[0].fitted), None)
    if first is not None:
        shown = (f"{ext} {size / MIB:.1f} MiB" for ext, size in first.runs[0].fitted)
        lines.append(f"results: {', '.join(shown)}")
    t = report.transfer
    lines += [
        "",
        f"process pool, per image: sending {t.image_mib:.1f} MiB to a worker and "
        f"{t.back_mib:.1f} MiB back takes {t.round_trip_ms:.0f} ms (an empty call: "
        f"{t.noop_ms:.1f} ms); start-up (forkserver, Pillow imported) is the column above",
        "",
        f"the bot uses ImageWorker(); re-encoding four at once, it ran {report.bot_uses}",
    ]
    bot = next(r for r in report.rows if r.key == "bot")
    worst = bot.median("worst_lag_ms")
    verdict = "PASS" if worst < TARGET_MS else "FAIL"
    lines.append(
        f"target: the loop's worst lag < {TARGET_MS:g} ms while re-encoding (ImageWorker()): "
        f"{worst:.0f} ms  {verdict}"
    )
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per option (%(default)s)")
    p.add_argument("--size", type=int, default=4096, help="image side in pixels (%(default)s)")
    p.add_argument(
        "--only", nargs="+", choices=[r.key for r in RUNNERS], help="measure these options only"
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke size: 1024x1024, 1 run, limit scaled down"
    )
    p.add_argument("--json", type=Path, dest="json_path", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.runs = min(args.size, 1024), 1
    return args


def scaled_limit(size: int) -> int:
    """10 MiB at 4096x4096, scaled with the pixel count, so smaller images still re-encode."""
    return max(64 * 1024, round(LIMIT * (size / 4096) ** 2))


def chosen(only: Sequence[str] | None) -> Iterator[Runner]:
    for runner in RUNNERS:
        if not only or runner.key in only or runner.key == "bot":
            yield runner


async def run(args: argparse.Namespace) -> Report:
    progress(f"making or reading the cached images in {cache_dir()}")
    images = await asyncio.to_thread(result_images, args.size)
    limit = scaled_limit(args.size)
    if min(len(i) for i in images) <= limit:
        raise SystemExit(f"the images fit in {limit} bytes already: nothing to re-encode")
    idle = await measure(None, images, limit)
    rows = []
    for runner in chosen(args.only):
        row = Row(runner.key, runner.label, [])
        for attempt in range(args.runs):
            row.runs.append(await measure(runner, images, limit))
            last = row.runs[-1]
            progress(
                f"{runner.label} run {attempt + 1}: worst lag {last.worst_lag_ms:.0f} ms, "
                f"ack p99 {last.ack_p99_ms:.0f} ms, {last.wall_s:.1f} s, "
                f"others' CPU {last.others_cores:.2f} cores"
            )
        rows.append(row)
    sizes = [size for row in rows for run in row.runs for _, size in run.fitted if size]
    back = round(statistics.median(sizes)) if sizes else len(images[0]) // 5
    transfer = await measure_transfer(images[0], back)
    return Report(
        size=args.size,
        limit=limit,
        runs=args.runs,
        image_mib=[len(i) / MIB for i in images],
        idle=idle,
        rows=rows,
        transfer=transfer,
        bot_uses=await describe_image_worker(),
        cpus=os.cpu_count() or 0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    print(render(report))
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
