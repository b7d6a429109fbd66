"""The Discord client: loads the cogs, starts the watcher, syncs commands, shuts down in order."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import discord
import discord.gateway
import yarl
from discord.ext import commands

from bot import ui
from bot.audit import AuditLog
from bot.catalog import ModelCatalog
from bot.completions import CompletionListener
from bot.config import Settings
from bot.imagine import ImagineService
from bot.progress import StatusMessages
from bot.server_admin import ServerAdmin
from bot.store import JobStore
from bot.tree import ImagineTree
from bot.waiting_line import WaitingLine
from bot.watcher import Watcher

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.imagine", "cogs.edit", "cogs.jobs", "cogs.help", "cogs.admin")
GLOBAL_COMMANDS_HASH = "global_commands_hash"


@dataclass
class Services:
    """What the cogs may use; built by the composition root."""

    store: JobStore
    catalog: ModelCatalog
    imagine: ImagineService
    watcher: Watcher
    completions: CompletionListener
    status: StatusMessages
    line: WaitingLine
    audit: AuditLog
    settings: Settings  # the limits /help tells people about
    admin: ServerAdmin


class ImagineBot(commands.Bot):
    def __init__(self, *, guild_ids: tuple[int, ...] = (), discover_gateway: bool = False) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # slash commands only; no message content
            intents=discord.Intents(guilds=True),
            tree_cls=ImagineTree,
            allowed_mentions=discord.AllowedMentions.none(),  # a post opts in to who it pings
            help_command=None,
        )
        self._guild_ids = guild_ids
        self._discover_gateway = discover_gateway
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("ImagineBot.attach() was not called before start")
        return self._services

    def attach(self, services: Services) -> None:
        self._services = services

    async def setup_hook(self) -> None:
        if self._discover_gateway:
            # discord.py's unsharded client always dials Discord's default gateway; behind a REST
            # proxy or stand-in, ask the API where the gateway is, as Discord's docs describe.
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        # Buttons on messages from earlier runs keep working: they are matched by custom_id.
        self.add_dynamic_items(*ui.DYNAMIC_ITEMS)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        offer_in_dms(self.tree, allowed=self.services.settings.allow_dms)
        # Subscribe to completion events before any command can enqueue anything.
        self.services.completions.start()
        self.services.watcher.start()
        self.services.line.start()
        await self._sync_commands()

    async def close(self) -> None:
        # Stop taking work and let the pass in flight finish before the connection goes.
        if self._services is not None:
            await self._services.imagine.drain()
            await self._services.completions.stop()
            await self._services.watcher.stop()
            await self._services.line.stop()
            await self._services.audit.close()
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
        if await self.services.store.get_meta(GLOBAL_COMMANDS_HASH) == digest:
            log.info("global commands unchanged; not syncing")
            return
        await self.tree.sync()
        await self.services.store.set_meta(GLOBAL_COMMANDS_HASH, digest)
        log.info("global commands synced (definitions changed)")

    def command_definitions_hash(self) -> str:
        """Includes where commands are offered, so turning ALLOW_DMS on or off re-syncs."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


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
