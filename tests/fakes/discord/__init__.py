"""A local stand-in for Discord (REST v10 + gateway) that a real discord.py client can use.

    async with FakeDiscord(token="t") as fake:
        guild = fake.create_guild("Test Guild")
        channel = fake.create_channel(guild, "general")
        with fake.patch_discord_py():          # Route.BASE + gateway URL
            await bot.login("t")
            task = asyncio.create_task(bot.connect())
            ...
            interaction = await fake.invoke_slash_command(user, channel, "imagine", {...})
            await interaction.wait_acknowledged()

Pass ``guild_ready_timeout=0.05`` to the bot to skip discord.py's 2 s wait before on_ready.

Opt-ins (the defaults stay permissive):
- ``FakeDiscord(discord_limits=True)`` / ``fake.use_discord_limits(time_scale=0.1)``: Discord's
  per-channel, per-interaction, shared and global rate limits (``limits.py``); 429s are
  counted in ``rate_limited_count``, ``rate_limited_by_route`` and ``rate_limit_hits``.
- ``fake.create_channel(guild, "gallery", type="forum", available_tags=["cats"])``: forum and
  media channels; ``posts``, ``starter_message``, ``create_post``, ``update_thread``.
- ``fake.create_guild(name, shard=(1, 3))`` and ``fake.configure_sharding(...)``: sharded
  sessions, ``identifies`` and ``identify_times``.
"""

from . import errors, permissions
from .clock import FakeClock
from .errors import DiscordError
from .fake import FakeDiscord
from .gateway import GatewaySession
from .limits import LimitsConfig, RouteLimit, SharedLimit, discord_limits
from .ratelimit import ForcedLimit, RateLimitHit
from .records import (
    AttachmentRecord,
    ChannelRecord,
    GatewayEvent,
    GuildRecord,
    InteractionRecord,
    MemberRecord,
    MessageRecord,
    RequestRecord,
    RoleRecord,
    UserRecord,
)
from .sharding import IdentifyRecord, ShardingConfig

__all__ = [
    "AttachmentRecord",
    "ChannelRecord",
    "DiscordError",
    "FakeClock",
    "FakeDiscord",
    "ForcedLimit",
    "GatewayEvent",
    "GatewaySession",
    "GuildRecord",
    "IdentifyRecord",
    "InteractionRecord",
    "LimitsConfig",
    "MemberRecord",
    "MessageRecord",
    "RateLimitHit",
    "RequestRecord",
    "RoleRecord",
    "RouteLimit",
    "ShardingConfig",
    "SharedLimit",
    "UserRecord",
    "discord_limits",
    "errors",
    "permissions",
]
