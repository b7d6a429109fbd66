"""SHARD_COUNT alone: one process runs every shard (an AutoShardedBot), against the local
Discord that routes each guild's events to its shard's session and DMs to shard 0."""

from __future__ import annotations

import itertools
import json

from tests.e2e.conftest import RunningBot, bot_settings, replace
from tests.e2e.test_operability import get
from tests.waiting import wait_until


def is_result(message) -> bool:
    return bool(message.attachments) and not message.ephemeral


async def test_one_process_running_every_shard_serves_each_guild_and_dms(
    discord_fake, oxen, tmp_path
):
    discord_fake.configure_sharding(
        shards=2, max_concurrency=1, enforce_identify_limit=True, identify_window=0.25
    )
    guilds = [discord_fake.create_guild(f"g{n}", shard=(n, 2)) for n in range(2)]
    alice = discord_fake.create_user("alice")
    channels = []
    for guild in guilds:
        discord_fake.add_member(guild, alice)
        channels.append(discord_fake.create_channel(guild, "general"))
    settings = replace(
        bot_settings(discord_fake, oxen, guilds[0].id, tmp_path / "bot.sqlite3"),
        guild_ids=(),  # global commands: in the servers and in DMs
        shard_count=2,
        allow_dms=True,
        lease_seconds=5.0,
    )
    bot = RunningBot(settings)
    await bot.start(discord_fake, timeout=30)
    try:
        await wait_until(
            lambda: all(
                [s for s in discord_fake.sessions_for_shard(n) if s.live and s.ready_sent]
                for n in range(2)
            ),
            timeout=30,
        )
        for n, channel in enumerate(channels):
            interaction = await discord_fake.invoke_slash_command(
                alice, channel, "imagine", options={"prompt": f"shard {n}"}
            )
            await interaction.wait_acknowledged(timeout=5)
            await discord_fake.wait_for_message(channel, is_result, timeout=15)
            # The command came through its guild's shard, and only that one.
            (session,) = discord_fake.sessions_for_shard(n)
            assert any(
                e.name == "INTERACTION_CREATE" and e.data["id"] == str(interaction.id)
                for e in session.events
            )
        dm = discord_fake.open_dm(alice)
        interaction = await discord_fake.invoke_slash_command(
            alice, dm, "imagine", options={"prompt": "a private fox"}
        )
        await interaction.wait_acknowledged(timeout=5)
        await discord_fake.wait_for_message(dm, is_result, timeout=15)
        # IDENTIFYs one bucket apart (discord.py's own spacing is 5 s; the store's is too).
        assert all(r.accepted for r in discord_fake.identifies)
        assert [r.shard for r in discord_fake.identifies] == [(0, 2), (1, 2)]
        times = discord_fake.identify_times(0)
        assert all(b - a >= 0.25 for a, b in itertools.pairwise(times))

        # Ready once every shard is connected and has its guilds (discord.py waits 2 s after
        # the last GUILD_CREATE).
        async def ready() -> bool:
            return (await get(settings.http_port, "/readyz"))[0] == 200

        await wait_until(ready, timeout=15, interval=0.1)
        _, body = await get(settings.http_port, "/readyz")
        _, text = await get(settings.http_port, "/metrics")
        assert 'imagine_process_info{process="shards-0-1-of-2/' in text
        assert 'shards="0,1"' in text and 'shard_count="2"' in text
        assert json.loads(body)["ok"] is True
    finally:
        await bot.stop()
