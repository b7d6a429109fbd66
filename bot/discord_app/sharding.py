"""The bot as an AutoShardedBot, for SHARD_COUNT (and SHARD_IDS): several processes, each
running some of Discord's shards, on one store.

- IDENTIFYs across processes keep Discord's session start limit: at most one per
  ``shard_id % max_concurrency`` bucket per 5 s, coordinated through the store
  (``GatewayRepository.identify_turn``: a Postgres advisory lock and the bucket's last IDENTIFY).
- Commands are synced by the process that runs shard 0 only (it gets the DMs too), not by every
  process at once.
- ``/gateway/bot`` tells the bucket size (``max_concurrency``) and, behind
  DISCORD_API_BASE_URL, where the gateway is; discord.py's AutoShardedClient asks for it only
  when it is given no shard count, and then dials Discord's default gateway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord.gateway
import yarl
from discord.ext import commands

from bot.core.limits import DISCORD_IDENTIFY_SPACING_SECONDS
from bot.core.ports import GatewayRepository
from bot.core.shards import Shards
from bot.discord_app.client import ImagineBot

log = logging.getLogger(__name__)


class ShardedImagineBot(ImagineBot, commands.AutoShardedBot):
    """ImagineBot with discord.py's AutoShardedBot underneath: the same cogs, buttons, close
    order and command sync, for the shards in ``shards``."""

    def __init__(
        self,
        *,
        shards: Shards,
        gateway: GatewayRepository,
        identify_spacing: float = DISCORD_IDENTIFY_SPACING_SECONDS,
        **options: Any,
    ) -> None:
        if shards.count is None:
            raise ValueError("a sharded client needs a shard count")
        super().__init__(
            shard_count=shards.count,
            shard_ids=list(shards.ids) if shards.ids is not None else None,
            **options,
        )
        self._shards = shards
        self._gateway_turns = gateway
        self._identify_spacing = identify_spacing
        self._max_concurrency = 1

    @property
    def runs(self) -> Shards:
        return self._shards

    async def setup_hook(self) -> None:
        # Asked once per start, before any shard connects: the bucket size, and (behind
        # DISCORD_API_BASE_URL) the gateway's address, which AutoShardedClient would not ask
        # for when it is given a shard count.
        _, url, limits = await self.http.get_bot_gateway()
        self._max_concurrency = max(1, int(limits.get("max_concurrency", 1)))
        if self._discover_gateway:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
            self._discover_gateway = False  # done: ImagineBot's setup_hook need not ask again
        log.info(
            "running shards %s of %s (IDENTIFY buckets: %s)",
            list(self._shards.running), self._shards.count, self._max_concurrency,
        )  # fmt: skip
        await super().setup_hook()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for this shard's IDENTIFY turn, across every process on the store (discord.py's
        own hook only spaces this process's IDENTIFYs, 5 s apart whatever their bucket)."""
        bucket = (shard_id or 0) % self._max_concurrency
        try:
            await self._gateway_turns.identify_turn(bucket, self._identify_spacing)
        except Exception:
            log.exception(
                "could not take shard %s's IDENTIFY turn from the store; waiting %g s instead",
                shard_id, self._identify_spacing,
            )  # fmt: skip
            if not initial:
                await asyncio.sleep(self._identify_spacing)
        log.info("shard %s identifies (bucket %s)", shard_id, bucket)

    @property
    def gateway_connected(self) -> bool:
        """READY received and every shard's socket open now."""
        shards = self.shards
        return (
            self.is_ready()
            and not self.is_closed()
            and len(shards) == len(self._shards.running)
            and all(not shard.is_closed() for shard in shards.values())
        )

    async def _sync_commands(self) -> None:
        # Once, not from every process at once: the process that runs shard 0 (there is always
        # one; it also gets the DMs) syncs; the stored hash still spares unchanged syncs.
        if not self._shards.runs_first:
            log.info("commands are synced by the process that runs shard 0")
            return
        await super()._sync_commands()
