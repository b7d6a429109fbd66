import asyncio
import io
import os
import random

import pytest
from PIL import Image

from bot.core.images import ImageWorker, NotAnImage, fit_to_limit, inspect_image


def png(size=(64, 64), noisy=False) -> bytes:
    image = (
        Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
        if noisy
        else Image.new("RGB", size, (200, 30, 30))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_inspect_reports_format_and_size():
    info = inspect_image(png((40, 20)))
    assert (info.format, info.width, info.height, info.extension) == ("PNG", 40, 20, "png")


def test_non_image_is_refused():
    with pytest.raises(NotAnImage):
        inspect_image(b"<html>not an image</html>")


def test_image_within_limit_is_unchanged():
    data = png()
    fitted = fit_to_limit(data, len(data))
    assert fitted is not None and fitted.data == data and fitted.extension == "png"


def test_large_image_is_reencoded_below_the_limit():
    data = png((512, 512), noisy=True)  # noise does not compress: ~786 KB
    limit = 120_000
    fitted = fit_to_limit(data, limit)
    assert fitted is not None
    assert len(fitted.data) <= limit < len(data)
    assert inspect_image(fitted.data).format in ("WEBP", "JPEG")


def test_image_that_can_never_fit_returns_none():
    assert fit_to_limit(png((256, 256), noisy=True), 50) is None


def noisy_png(size: int) -> bytes:
    """A photo-like PNG that compresses badly, so shrinking it takes real work."""
    image = Image.frombytes("RGB", (size, size), random.Random(7).randbytes(size * size * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def test_re_encoding_keeps_the_event_loop_answering():
    """Shrinking a large result takes CPU seconds: the loop (heartbeats, acks) must not wait."""
    big = noisy_png(1024)
    worker = ImageWorker()
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def heartbeat() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    beating = asyncio.create_task(heartbeat())
    try:
        await asyncio.sleep(0.02)
        started = loop.time()
        fitted = await worker.fit_to_limit(big, len(big) // 8)
        took = loop.time() - started
        await asyncio.sleep(0.02)  # a beat held up by the work records its lag now
    finally:
        beating.cancel()
        worker.close()
    assert fitted is not None and len(fitted.data) <= len(big) // 8
    assert took > 0.1  # real work, so the bound below means something
    assert max(lags) < took / 2  # the loop kept beating while Pillow worked
