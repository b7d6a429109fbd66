"""The interaction tokens of recent requests, kept in memory only (never in the store), so the
outbox may send a request's status edits (``PATCH …/messages/@original``) and its result (a
follow-up) on the interaction's own rate-limit bucket instead of the channel's.

A token is used only while it is younger than ``DISCORD_TOKEN_SAFE_SECONDS`` (14 minutes, inside
Discord's 15), measured from the interaction's creation on Discord's side against the bot's wall
clock; one that fails once (Discord sometimes 404s a token inside its window) is not used again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.core.limits import DISCORD_TOKEN_SAFE_SECONDS


@dataclass(frozen=True)
class Route:
    interaction: discord.Interaction
    channel_id: int
    expires_at: float  # wall-clock seconds


class InteractionRoutes:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: float = DISCORD_TOKEN_SAFE_SECONDS,
    ) -> None:
        self._clock = clock
        self._lifetime = lifetime
        # status message id -> its request's interaction, oldest first (expiry order)
        self._routes: OrderedDict[int, Route] = OrderedDict()
        self._by_token: dict[str, int] = {}

    def remember(self, status_message_id: int, interaction: discord.Interaction) -> None:
        """The request's status message is the interaction's original response."""
        self._purge()
        created = interaction.created_at.timestamp()
        channel_id = interaction.channel_id or 0
        route = Route(interaction, channel_id, created + self._lifetime)
        self._routes[status_message_id] = route
        self._by_token[interaction.token] = status_message_id

    def get(self, status_message_id: int | None) -> Route | None:
        """The live route of a status message, if its token may still be used."""
        if status_message_id is None:
            return None
        route = self._routes.get(status_message_id)
        if route is None:
            return None
        if self._clock() >= route.expires_at:
            self.forget(status_message_id)
            return None
        return route

    def forget(self, status_message_id: int) -> None:
        """Not used again: it failed, or it expired."""
        route = self._routes.pop(status_message_id, None)
        if route is not None:
            self._by_token.pop(route.interaction.token, None)

    def channel_of_token(self, token: str) -> int | None:
        status_message_id = self._by_token.get(token)
        route = self._routes.get(status_message_id) if status_message_id is not None else None
        return route.channel_id if route is not None else None

    def __len__(self) -> int:
        return len(self._routes)

    def _purge(self) -> None:
        now = self._clock()
        while self._routes:
            message_id, route = next(iter(self._routes.items()))
            if route.expires_at > now:
                return
            self.forget(message_id)
