"""The bot as a real ``python -m bot`` process, for crash (kill -9) and signal tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def bot_env(discord_fake, oxen, guild_id: int, database: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": discord_fake.token,
        "OXEN_API_KEY": oxen.api_key,
        "OXEN_BASE_URL": oxen.base_url,
        "DISCORD_API_BASE_URL": discord_fake.base_url,
        "DISCORD_GUILD_IDS": str(guild_id),
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "DEBUG",
        "POLL_INTERVAL_SECONDS": "0.2",
        "HTTP_PORT": str(free_port()),  # never the default 8080: tests run side by side
        **extra,
    }


class BotProcess:
    """``python -m bot`` in a subprocess; its output (stdout and stderr) is read as it comes, so
    a test can wait for a line, and is kept across restarts of the same bot."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = env
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self._chunks: list[bytes] = []
        self._reader: asyncio.Task[None] | None = None

    async def spawn(self) -> None:
        """Start the process, without waiting for anything."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self._cwd, env=self._env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read(self.process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            self._chunks.append(line)

    async def start(self, discord_fake, guild, timeout: float = 20.0) -> None:
        """Start the process and wait until it is connected and has synced its commands."""
        sessions_before = len(discord_fake.ready_sessions())
        await self.spawn()
        assert self.process is not None
        async with asyncio.timeout(timeout):
            while not (
                discord_fake.registered_commands(guild)
                and len(discord_fake.ready_sessions()) > sessions_before
            ):
                if self.process.returncode is not None:
                    await self._finished()
                    raise AssertionError(self.text)
                await asyncio.sleep(0.05)

    async def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while text not in self.text:
                assert self.process is not None
                if self.process.returncode is not None:
                    await self._finished()
                    raise AssertionError(f"exited before printing {text!r}:\n{self.text}")
                await asyncio.sleep(0.05)

    async def exit_code(self, timeout: float = 20.0) -> int:
        """Wait for the process to end by itself."""
        async with asyncio.timeout(timeout):
            return await self._finished()

    async def kill(self) -> None:
        """kill -9: no shutdown code runs at all."""
        assert self.process is not None
        self.process.kill()
        await self._finished()

    async def terminate(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout):
            return await self._finished()

    async def ensure_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()

    async def _finished(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        if self._reader is not None:
            await self._reader  # the rest of the output
        return code

    @property
    def output(self) -> bytes:
        return b"".join(self._chunks)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def lines(self) -> list[str]:
        """The output's non-empty lines."""
        return [line for line in self.text.splitlines() if line.strip()]
