"""Checking and shrinking result images with Pillow (no Discord, no network).

Re-encoding a large image takes seconds of CPU, so the bot never runs it on the event loop:
``ImageWorker`` runs it on one bounded worker thread (see bench/image_bench.py for why one
thread, not several or a process pool).
"""

from __future__ import annotations

import asyncio
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

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


class ImageWorker:
    """Pillow work off the event loop, one image at a time: a second thread would only compete
    with the loop for the interpreter, and the queue is short (deliveries are bounded)."""

    def __init__(self, threads: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pillow")

    async def fit_to_limit(self, data: bytes, limit: int) -> EncodedImage | None:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, fit_to_limit, data, limit
        )

    def close(self) -> None:
        """Drop queued work (it stays in the store) and let the image being encoded finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)
