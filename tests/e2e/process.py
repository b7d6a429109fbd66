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
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = env
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.output = b""

    async def start(self, discord_fake, guild, timeout: float = 20.0) -> None:
        sessions_before = len(discord_fake.ready_sessions())
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self._cwd, env=self._env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with asyncio.timeout(timeout):
            while not (
                discord_fake.registered_commands(guild)
                and len(discord_fake.ready_sessions()) > sessions_before
            ):
                if self.process.returncode is not None:
                    raise AssertionError((await self.process.communicate())[0].decode())
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """kill -9: no shutdown code runs at all."""
        assert self.process is not None
        self.process.kill()
        self.output += (await self.process.communicate())[0]

    async def terminate(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout):
            self.output += (await self.process.communicate())[0]
        assert self.process.returncode is not None
        return self.process.returncode

    async def ensure_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")
