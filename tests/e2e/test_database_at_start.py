"""``python -m bot`` when its database is not there yet, or cannot be used: it waits for a
PostgreSQL that comes up late, and otherwise stops with one clear line (no traceback, no
password), exit 2 when the setting is wrong and 1 when the database never answered."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from urllib.parse import urlsplit

from tests.e2e.process import bot_env
from tests.support.net import free_port


class Bot:
    """A bot process whose output is read as it comes, so a test can wait for a line."""

    def __init__(self, env: dict[str, str], cwd) -> None:
        self._env = env
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self._cwd, env=self._env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def wait_for_line(self, text: str, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in line for line in self.lines):
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(self.text)
                await asyncio.sleep(0.05)

    async def exit_code(self, timeout: float = 20.0) -> int:
        assert self.process is not None and self._reader is not None
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
            await self._reader
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await self._reader

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def meaningful_lines(self) -> list[str]:
        return [line for line in self.lines if line.strip()]


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


@contextlib.asynccontextmanager
async def forwarder(listen_port: int, target_port: int):
    """A TCP pass-through on 127.0.0.1:listen_port to the real PostgreSQL: the database
    'coming up' on the port the bot was told, after the bot started."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


def postgres_env(discord_fake, oxen, tmp_path, url: str, **extra: str) -> dict[str, str]:
    env = bot_env(discord_fake, oxen, 1, tmp_path / "unused.sqlite3", LOG_LEVEL="INFO", **extra)
    env["DATABASE_URL"] = url
    return env


async def test_a_postgres_that_comes_up_after_the_bot_is_waited_for(
    discord_fake, oxen, postgres_url, tmp_path
):
    guild = discord_fake.create_guild("Late Database Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    late_port = free_port()
    env = postgres_env(discord_fake, oxen, tmp_path, with_port(postgres_url, late_port))
    env["DISCORD_GUILD_IDS"] = str(guild.id)
    bot = Bot(env, tmp_path)
    try:
        await bot.start()  # the default DATABASE_WAIT_SECONDS: nothing listens there yet
        await bot.wait_for_line("is not answering yet")
        async with forwarder(late_port, urlsplit(postgres_url).port):
            async with asyncio.timeout(30):
                while not (
                    discord_fake.registered_commands(guild) and discord_fake.ready_sessions()
                ):
                    assert bot.process is not None and bot.process.returncode is None, bot.text
                    await asyncio.sleep(0.05)
            interaction = await discord_fake.invoke_slash_command(
                alice, channel, "imagine", options={"prompt": "a late heron"}
            )
            await interaction.wait_acknowledged(timeout=3)
            result = await discord_fake.wait_for_message(
                channel, lambda m: bool(m.attachments), timeout=15
            )
            [gid] = list(oxen.generations)
            assert result.attachments[0].data == oxen.result_bytes(gid)
            assert bot.process is not None
            bot.process.terminate()
            assert await bot.exit_code() == 0, bot.text
    finally:
        await bot.stop()
    assert "Traceback" not in bot.text, bot.text
    password = urlsplit(postgres_url).password
    assert password and password not in bot.text
    waits = [line for line in bot.lines if "is not answering yet" in line]
    assert waits and all(f"127.0.0.1:{late_port}" in line for line in waits)


async def test_a_wrong_password_stops_at_once_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    wrong = "not-the-password-7f3a"
    bot = Bot(
        postgres_env(discord_fake, oxen, tmp_path, with_password(postgres_url, wrong)), tmp_path
    )
    started = time.monotonic()
    try:
        await bot.start()
        assert await bot.exit_code() == 2, bot.text
    finally:
        await bot.stop()
    assert time.monotonic() - started < 15  # not the minute of waiting: waiting would not help
    [line] = bot.meaningful_lines()
    assert "password authentication failed" in line and "DATABASE_URL" in line, line
    assert wrong not in bot.text


async def test_a_database_that_does_not_exist_stops_at_once_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    missing = urlsplit(postgres_url)._replace(path="/no_such_database").geturl()
    bot = Bot(postgres_env(discord_fake, oxen, tmp_path, missing), tmp_path)
    try:
        await bot.start()
        assert await bot.exit_code() == 2, bot.text
    finally:
        await bot.stop()
    [line] = bot.meaningful_lines()
    assert 'database "no_such_database" does not exist' in line, line
    assert urlsplit(postgres_url).password not in bot.text


async def test_a_postgres_that_never_answers_exits_1_after_the_wait(
    discord_fake, oxen, postgres_url, tmp_path
):
    down = with_port(postgres_url, free_port())
    bot = Bot(postgres_env(discord_fake, oxen, tmp_path, down, DATABASE_WAIT_SECONDS="2"), tmp_path)
    try:
        await bot.start()
        assert await bot.exit_code() == 1, bot.text
    finally:
        await bot.stop()
    assert "Traceback" not in bot.text, bot.text
    lines = bot.meaningful_lines()
    assert "did not answer within 2 s" in lines[-1], bot.text
    assert all("is not answering yet" in line for line in lines[:-1]), bot.text
    assert urlsplit(postgres_url).password not in bot.text


async def test_sigterm_while_waiting_for_the_database_exits_0_with_one_line(
    discord_fake, oxen, postgres_url, tmp_path
):
    down = with_port(postgres_url, free_port())
    bot = Bot(postgres_env(discord_fake, oxen, tmp_path, down), tmp_path)
    try:
        await bot.start()
        await bot.wait_for_line("is not answering yet")
        assert bot.process is not None
        bot.process.terminate()
        assert await bot.exit_code(timeout=10) == 0, bot.text
    finally:
        await bot.stop()
    assert "Traceback" not in bot.text, bot.text
    assert bot.meaningful_lines()[-1].endswith("shutting down"), bot.text


async def test_a_sqlite_file_that_is_not_a_database_stops_with_one_line(
    discord_fake, oxen, tmp_path
):
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are my notes, not a database\n" * 100)
    env = bot_env(discord_fake, oxen, 1, not_a_database, LOG_LEVEL="INFO")
    bot = Bot(env, tmp_path)
    try:
        await bot.start()
        assert await bot.exit_code() == 2, bot.text
    finally:
        await bot.stop()
    [line] = bot.meaningful_lines()
    assert f"cannot open the SQLite database {not_a_database}" in line, line
    assert "not a database" in line, line
    assert not_a_database.read_text().startswith("these are my notes")  # left as it was


async def test_a_sqlite_folder_that_cannot_be_made_stops_with_one_line(
    discord_fake, oxen, tmp_path
):
    a_file = tmp_path / "data"
    a_file.write_text("a file where the folder should be")
    env = bot_env(discord_fake, oxen, 1, a_file / "bot.sqlite3", LOG_LEVEL="INFO")
    bot = Bot(env, tmp_path)
    try:
        await bot.start()
        assert await bot.exit_code() == 2, bot.text
    finally:
        await bot.stop()
    [line] = bot.meaningful_lines()
    assert f"cannot open the SQLite database {a_file / 'bot.sqlite3'}" in line, line
