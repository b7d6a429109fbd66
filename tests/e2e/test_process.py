"""``python -m bot`` as a real process against the local fakes: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_bot_serves_imagine_and_stops_cleanly_on_sigterm(
    discord_fake, oxen, tmp_path
):
    guild = discord_fake.create_guild("Process Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": discord_fake.token,
        "OXEN_API_KEY": oxen.api_key,
        "OXEN_BASE_URL": oxen.base_url,
        "DISCORD_API_BASE_URL": discord_fake.base_url,
        "DISCORD_GUILD_IDS": str(guild.id),
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
        "LOG_LEVEL": "DEBUG",
        "POLL_INTERVAL_SECONDS": "0.2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = b""
    try:
        async with asyncio.timeout(20):
            while not (discord_fake.registered_commands(guild) and discord_fake.ready_sessions()):
                await asyncio.sleep(0.05)
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a red cube"}
        )
        await interaction.wait_acknowledged(timeout=3)
        result = await discord_fake.wait_for_message(
            channel, lambda m: bool(m.attachments), timeout=15
        )
        [gid] = list(oxen.generations)
        assert result.attachments[0].data == oxen.result_bytes(gid)

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
    finally:
        if process.returncode is None:
            process.kill()
            output += (await process.communicate())[0]
    text = output.decode()
    assert "shutting down" in text
    assert "Traceback" not in text, text
    # Secrets never reach the logs, even at DEBUG.
    assert discord_fake.token not in text and oxen.api_key not in text
    assert (tmp_path / "bot.sqlite3").exists()
