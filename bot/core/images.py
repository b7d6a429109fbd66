"""Checking and shrinking result images with Pillow (no Discord, no network).

Re-encoding a large image takes seconds of CPU, so the bot never runs it on the event loop:
``ImageWorker`` runs it in one worker process (see bench/image_bench.py for why a process, not
threads, and why one).
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import signal
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError

T = TypeVar("T")

# Refuse decompression bombs outright instead of warning about them.
_MAX_PIXELS = 64 * 1024 * 1024


class NotAnImage(ValueError):
    """The bytes are not an image Pillow can read."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: PNG, JPEG, WEBP, ...
    width: int
    height: int

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg"}.get(self.format, self.format.lower())


def inspect_image(data: bytes) -> ImageInfo:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > _MAX_PIXELS:
                    raise NotAnImage("image is too large to process")
                image.verify()
                return ImageInfo(image.format or "PNG", image.width, image.height)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:  # fmt: skip
        raise NotAnImage(str(err) or "not an image") from err


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    extension: str


def fit_to_limit(data: bytes, limit: int) -> EncodedImage | None:
    """Return the image re-encoded to at most ``limit`` bytes, or None if it cannot fit.

    Steps: the original if it fits; WebP at falling quality; then JPEG; then both at smaller sizes.
    """
    info = inspect_image(data)
    if len(data) <= limit:
        return EncodedImage(data, info.extension)
    with Image.open(io.BytesIO(data)) as original:
        image = original.convert("RGB")
    scale = 1.0
    while scale >= 0.25:
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        candidate = image if scale == 1.0 else image.resize(size, Image.Resampling.LANCZOS)
        for fmt, extension in (("WEBP", "webp"), ("JPEG", "jpg")):
            for quality in (90, 80, 65, 50):
                buffer = io.BytesIO()
                candidate.save(buffer, format=fmt, quality=quality)
                if buffer.tell() <= limit:
                    return EncodedImage(buffer.getvalue(), extension)
        scale /= 2
    return None


def _quiet_worker() -> None:
    """A pool process ignores Ctrl-C: a terminal sends it to the whole process group, and the
    bot's own SIGINT handling shuts the pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ImageWorker:
    """Pillow work off the event loop.

    Re-encoding runs in a pool of ``processes`` worker processes (one by default), started on
    the first image that needs it. On a thread it would still stop the loop for about 90 ms per
    attempt (Pillow holds the interpreter while it copies the pixels for WebP); a process
    cannot. One process leaves the other core of a 2-core machine to the loop: two finished a
    burst of large results sooner, but doubled the memory and raised the acks' p99
    (bench/image_bench.py and the big-results phase of bench/imagine_bench.py).

    An image that already fits is only checked, on one thread, so it never waits behind a
    re-encode; ``run`` uses that thread too.
    """

    def __init__(self, processes: int = 1) -> None:
        self._processes = processes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pillow")
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def fit_to_limit(self, data: bytes, limit: int) -> EncodedImage | None:
        if len(data) <= limit:  # only inspect_image: short
            return await self.run(fit_to_limit, data, limit)
        # Starting the pool (a forkserver that imports Pillow) blocks a moment: not on the loop.
        pool, future = await asyncio.to_thread(self._submit, data, limit)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this delivery fails and is retried, and
            # the next image gets a new pool.
            self._replace(pool)
            raise

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Any other Pillow work (thumbnails, the gallery's grids), on the worker's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _submit(
        self, data: bytes, limit: int
    ) -> tuple[ProcessPoolExecutor, Future[EncodedImage | None]]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the image worker is closed")
            if self._pool is None:
                # forkserver, not fork: the bot's process has threads.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool = ProcessPoolExecutor(
                    self._processes, mp_context=context, initializer=_quiet_worker
                )
            pool = self._pool
        return pool, pool.submit(fit_to_limit, data, limit)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Drop queued work (it stays in the store) and let the image being encoded finish."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        self._executor.shutdown(wait=False, cancel_futures=True)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
