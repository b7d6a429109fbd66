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
"""

from . import errors, permissions
from .clock import FakeClock
from .errors import DiscordError
from .fake import FakeDiscord
from .gateway import GatewaySession
from .ratelimit import ForcedLimit
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
    "InteractionRecord",
    "MemberRecord",
    "MessageRecord",
    "RequestRecord",
    "RoleRecord",
    "UserRecord",
    "errors",
    "permissions",
]
