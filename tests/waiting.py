"""Waiting for a condition instead of sleeping a fixed time (busy 2-core CI machines are slow)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_until(
    condition: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, interval: float = 0.01
) -> Any:
    """Poll ``condition`` (sync or async) until it is truthy; return its value. Raises
    TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
