"""The Discord client: adds the cogs and buttons it is given, starts the background work, syncs
commands, and shuts down in order."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import discord.gateway
import yarl
from discord.ext import commands

from bot.core.lifecycle import Lifecycle
from bot.core.ports import MetaRepository
from bot.discord_app.tree import ImagineTree

log = logging.getLogger(__name__)

GLOBAL_COMMANDS_HASH = "global_commands_hash"


class ImagineBot(commands.Bot):
    def __init__(
        self,
        *,
        meta: MetaRepository,
        guild_ids: tuple[int, ...] = (),
        discover_gateway: bool = False,
        allow_dms: bool = False,
        http_trace: aiohttp.TraceConfig | None = None,
        **client_options: Any,  # the sharded client's shard_count and shard_ids
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # slash commands only; no message content
            intents=discord.Intents(guilds=True),
            tree_cls=ImagineTree,
            allowed_mentions=discord.AllowedMentions.none(),  # a post opts in to who it pings
            help_command=None,
            # Sees every REST answer, e.g. rate_limit_trace below (an empty one does nothing).
            http_trace=http_trace or aiohttp.TraceConfig(),
            **client_options,
        )
        self._meta = meta
        self._guild_ids = guild_ids
        self._discover_gateway = discover_gateway
        self._allow_dms = allow_dms
        self._cogs: Sequence[commands.Cog] = ()
        self._items: Sequence[type[discord.ui.DynamicItem[discord.ui.Item[discord.ui.View]]]] = ()
        self._lifecycle: Lifecycle | None = None

    def install(
        self,
        *,
        cogs: Sequence[commands.Cog],
        dynamic_items: Sequence[type[discord.ui.DynamicItem[discord.ui.Item[discord.ui.View]]]],
        lifecycle: Lifecycle,
    ) -> None:
        """What setup_hook adds and starts. The cogs and the background work need this client
        (to post), so they are built after it, and handed over before it starts."""
        self._cogs = cogs
        self._items = dynamic_items
        self._lifecycle = lifecycle

    async def setup_hook(self) -> None:
        if self._discover_gateway:
            # discord.py's unsharded client always dials Discord's default gateway; behind a REST
            # proxy or stand-in, ask the API where the gateway is, as Discord's docs describe.
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        # Buttons on messages from earlier runs keep working: they are matched by custom_id.
        self.add_dynamic_items(*self._items)
        for cog in self._cogs:
            await self.add_cog(cog)
        offer_in_dms(self.tree, allowed=self._allow_dms)
        if self._lifecycle is not None:
            self._lifecycle.start()
        await self._sync_commands()

    @property
    def gateway_connected(self) -> bool:
        """READY received and the gateway's socket open now (False while it reconnects)."""
        ws = self.ws
        return self.is_ready() and not self.is_closed() and ws is not None and ws.open

    async def close(self) -> None:
        # Stop taking work and let the work in flight finish (bounded) before the connection goes.
        lifecycle, self._lifecycle = self._lifecycle, None  # close() may be called twice
        if lifecycle is not None:
            await lifecycle.stop()
        await super().close()

    async def _sync_commands(self) -> None:
        """Guild sync for development (instant); global sync only when definitions changed,
        because Discord allows 200 command creates a day."""
        if self._guild_ids:
            for guild_id in self._guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            log.info("commands synced to development guilds %s", list(self._guild_ids))
            return
        digest = self.command_definitions_hash()
        if await self._meta.get(GLOBAL_COMMANDS_HASH) == digest:
            log.info("global commands unchanged; not syncing")
            return
        await self.tree.sync()
        await self._meta.set(GLOBAL_COMMANDS_HASH, digest)
        log.info("global commands synced (definitions changed)")

    def command_definitions_hash(self) -> str:
        """Includes where commands are offered, so turning ALLOW_DMS on or off re-syncs."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


# Every answer from Discord, before discord.py reads it: the request's method and the response.
OnResponse = Callable[[str, aiohttp.ClientResponse], Awaitable[None]]


def rate_limit_trace(
    on_rate_limited: Callable[[], None], on_response: OnResponse | None = None
) -> aiohttp.TraceConfig:
    """Calls ``on_rate_limited`` for every HTTP 429 Discord answers, on any route (REST,
    interaction callbacks, webhooks): discord.py handles them (waits, retries) but has no hook,
    only a log line; this sees them on its aiohttp session instead. ``on_response`` hears every
    answer (the outbox reads the rate-limit headers)."""

    async def on_request_end(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        response = params.response
        if response.status == 429:
            on_rate_limited()
        if on_response is not None:
            await on_response(params.method, response)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


def offer_in_dms(tree: discord.app_commands.CommandTree[ImagineBot], *, allowed: bool) -> None:
    """Offer the image commands in DMs with the bot only when ALLOW_DMS is on. Server-only
    commands (marked ``extras["server_only"]``, e.g. /imagine-admin) never are."""
    for command in tree.get_commands():
        if command.extras.get("server_only"):
            continue
        command.allowed_contexts = discord.app_commands.AppCommandContext(
            guild=True, dm_channel=allowed, private_channel=False
        )
        command.guild_only = not allowed  # the older dm_permission field, kept consistent
