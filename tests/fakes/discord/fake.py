"""FakeDiscord: the facade tests use. It owns the server, the gateway and the state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from .clock import FakeClock
from .fake_forums import ForumFacade
from .gateway import INTENT_GUILD_MEMBERS, Gateway, GatewaySession
from .interactions import FileSpec, InteractionBuilder
from .limits import LimitsConfig, RouteLimit, SharedLimit, route_key
from .limits import discord_limits as _discord_limits
from .ratelimit import ForcedLimit, RateLimiter, RateLimitHit
from .records import (
    ChannelRecord,
    GuildRecord,
    InteractionRecord,
    MemberRecord,
    MessageRecord,
    RequestRecord,
    RoleRecord,
    UserRecord,
)
from .server import API, RestApi
from .sharding import IdentifyRecord, ShardingConfig, ShardPolicy, shard_for
from .state import FakeState, Target

MessagePredicate = Callable[[MessageRecord], bool]


class FakeDiscord(ForumFacade):
    """A local Discord for an unmodified discord.py client.

    ``async with FakeDiscord() as fake:`` starts it on 127.0.0.1 (random port). Point
    discord.py at it with ``with fake.patch_discord_py():`` (sets ``Route.BASE`` and the
    gateway URL discord.py connects to) before ``bot.login``.
    """

    def __init__(
        self,
        token: str = "test-bot-token",
        *,
        application_id: int | None = None,
        bot_name: str = "imagine-bot",
        heartbeat_interval_ms: int = 41250,
        host: str = "127.0.0.1",
        discord_limits: bool = False,
    ) -> None:
        self.clock = FakeClock()
        self.state = FakeState(
            self.clock, token=token, application_id=application_id, bot_name=bot_name
        )
        self.gateway = Gateway(
            token=token,
            ready_payload=self._ready_payload,
            guild_payloads=self._guild_payloads,
            heartbeat_interval_ms=heartbeat_interval_ms,
            sharding=ShardPolicy(),
            guild_ids=lambda: list(self.state.guilds),
        )
        self.state.emit = self.gateway.dispatch
        # Permissive unless asked: 50/s per route, no global or per-channel limits.
        self.limiter = RateLimiter(_discord_limits() if discord_limits else None)
        self.api = RestApi(self.state, self.gateway, self.limiter)
        self.builder = InteractionBuilder(self.state)
        self.host = host
        self.port = 0
        self._runner: web.AppRunner | None = None

    # -- lifecycle --

    async def start(self) -> FakeDiscord:
        app = self.api.build_app()
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self.state.base_url = f"http://{self.host}:{self.port}"
        self.api.gateway_url = self.gateway_url
        return self

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"{self.state.base_url}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point discord.py at the fake (REST base and gateway URL); restores on exit.

        discord.py 2.7's plain ``Client`` never calls ``GET /gateway/bot``: it connects to
        ``DiscordWebSocket.DEFAULT_GATEWAY``, so both must be patched.
        """
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # -- identity --

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def bot_token(self) -> str:
        return self.state.token

    @property
    def application_id(self) -> int:
        return self.state.application_id

    @property
    def bot_user(self) -> UserRecord:
        return self.state.bot_user

    @property
    def upload_limit(self) -> int:
        return self.state.upload_limit

    @upload_limit.setter
    def upload_limit(self, value: int) -> None:
        self.state.upload_limit = value

    # -- world building --

    @property
    def guilds(self) -> list[GuildRecord]:
        return list(self.state.guilds.values())

    @property
    def users(self) -> list[UserRecord]:
        return list(self.state.users.values())

    def create_guild(
        self,
        name: str = "Test Guild",
        *,
        owner: UserRecord | None = None,
        shard: tuple[int, int] | None = None,
    ) -> GuildRecord:
        """``shard=(1, 3)`` picks an id that shard 1 of 3 owns: ``(id >> 22) % 3 == 1``."""
        guild = self.state.create_guild(name, owner=owner, shard=shard)
        if self.gateway.current is not None:
            self.gateway.dispatch(
                "GUILD_CREATE", self.state.guild_payload(guild, all_members=False)
            )
        return guild

    def create_channel(
        self,
        guild: GuildRecord,
        name: str,
        *,
        type: str | int = "text",
        parent: ChannelRecord | None = None,
        nsfw: bool = False,
        topic: str | None = None,
        flags: int = 0,
        available_tags: list[str | dict[str, Any]] | None = None,
        default_reaction_emoji: str | None = None,
    ) -> ChannelRecord:
        """A channel of any type: ``type="forum"`` (15) or ``"media"`` (16) with
        ``available_tags=["cats", {"name": "mod-only", "moderated": True}]``."""
        channel = self.state.create_channel(
            guild,
            name,
            type=type,
            parent=parent,
            nsfw=nsfw,
            topic=topic,
            flags=flags,
            available_tags=available_tags,
            default_reaction_emoji=default_reaction_emoji,
        )
        payload = self.state.channel_payload(channel)
        self.gateway.dispatch("THREAD_CREATE" if channel.is_thread else "CHANNEL_CREATE", payload)
        return channel

    def create_user(self, name: str, *, bot: bool = False) -> UserRecord:
        return self.state.create_user(name, bot=bot)

    def add_member(
        self, guild: GuildRecord, user: UserRecord, roles: list[RoleRecord] | None = None
    ) -> MemberRecord:
        member = self.state.add_member(guild, user, roles)
        payload = self.state.member_payload(guild, member)
        payload["guild_id"] = str(guild.id)
        self.gateway.dispatch("GUILD_MEMBER_ADD", payload)
        return member

    def create_role(
        self,
        guild: GuildRecord,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
    ) -> RoleRecord:
        role = self.state.create_role(guild, name, permissions=permissions, mentionable=mentionable)
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()}
        )
        return role

    def set_overwrite(
        self, channel: ChannelRecord, target: Target, *, allow: int = 0, deny: int = 0
    ) -> None:
        self.state.set_overwrite(channel, target, allow=allow, deny=deny)
        self._channel_update(channel)

    def set_bot_permissions(self, guild: GuildRecord, permissions: int) -> None:
        known = set(guild.roles)
        self.state.set_bot_permissions(guild, permissions)
        for role in guild.roles.values():
            event = "GUILD_ROLE_UPDATE" if role.id in known else "GUILD_ROLE_CREATE"
            self.gateway.dispatch(event, {"guild_id": str(guild.id), "role": role.to_payload()})

    def delete_channel(self, channel: ChannelRecord) -> None:
        channel.deleted = True
        self.gateway.dispatch(
            "THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE",
            self.state.channel_payload(channel),
        )

    def archive_thread(self, channel: ChannelRecord, *, locked: bool = False) -> None:
        if not channel.is_thread:
            raise ValueError("only threads can be archived")
        channel.archived = True
        channel.locked = locked
        self.gateway.dispatch("THREAD_UPDATE", self.state.channel_payload(channel))

    def delete_message(self, message: MessageRecord) -> None:
        """Someone (a moderator, the author) deletes a message, as in the Discord client."""
        self.state.delete_message(message)
        data = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        self.gateway.dispatch("MESSAGE_DELETE", data)

    def close_dms(self, user: UserRecord) -> None:
        user.dms_open = False

    def _channel_update(self, channel: ChannelRecord) -> None:
        name = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        self.gateway.dispatch(name, self.state.channel_payload(channel))

    def permissions_for(self, who: UserRecord | MemberRecord, channel: ChannelRecord) -> int:
        return self.state.permissions_for(who.id, channel)

    # -- gateway --

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        me = self.state.bot_user.to_payload()
        me.update({"verified": True, "mfa_enabled": False, "flags": 0})
        payload: dict[str, Any] = {
            "v": 10,
            "user": me,
            "user_settings": {},
            "guilds": [
                {"id": str(g), "unavailable": True}
                for g in self.state.guilds
                if session.receives(g)
            ],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.state.application_id), "flags": 0},
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "auth": {},
            "_trace": ["fake-discord"],
        }
        if session.shard is not None:
            payload["shard"] = list(session.shard)
        return payload

    def _guild_payloads(self, session: GatewaySession) -> list[dict[str, Any]]:
        # Without GUILD_MEMBERS, Discord's GUILD_CREATE carries only the bot's own member.
        all_members = bool(session.intents & INTENT_GUILD_MEMBERS)
        return [
            self.state.guild_payload(g, all_members=all_members)
            for g in self.state.guilds.values()
            if session.receives(g.id)
        ]

    @property
    def gateway_sessions(self) -> list[GatewaySession]:
        return self.gateway.sessions

    def ready_sessions(self) -> list[GatewaySession]:
        """Connected sessions whose READY and initial GUILD_CREATEs have been sent."""
        return [s for s in self.gateway.sessions if s.live and s.ready_sent]

    # -- sharding --

    @property
    def sharding(self) -> ShardingConfig:
        """GET /gateway/bot's numbers and the IDENTIFY rules; see ``configure_sharding``."""
        return self.gateway.sharding.config

    def configure_sharding(
        self,
        *,
        shards: int | None = None,
        max_concurrency: int | None = None,
        enforce_identify_limit: bool | None = None,
        identify_window: float | None = None,
        sharding_threshold: int | None = None,
        shard_multiple: int | None = None,
    ) -> ShardingConfig:
        """``shards``: the recommended count; ``enforce_identify_limit``: Invalid Session for
        a second IDENTIFY in one ``shard_id % max_concurrency`` bucket within
        ``identify_window`` s (Discord: 5); ``sharding_threshold``: guilds per session above
        which IDENTIFY closes with 4011; ``shard_multiple``: num_shards must divide by it."""
        config = self.sharding
        if shards is not None:
            config.recommended_shards = shards
        if max_concurrency is not None:
            config.max_concurrency = max_concurrency
        if enforce_identify_limit is not None:
            config.enforce_identify_limit = enforce_identify_limit
        if identify_window is not None:
            config.identify_window = identify_window
        if sharding_threshold is not None:
            config.sharding_threshold = sharding_threshold
        if shard_multiple is not None:
            config.shard_multiple = shard_multiple
        return config

    @property
    def identifies(self) -> list[IdentifyRecord]:
        """Every IDENTIFY received, accepted or refused, in order."""
        return list(self.gateway.sharding.identifies)

    def identify_times(self, bucket: int = 0) -> list[float]:
        """Monotonic times of accepted IDENTIFYs in a ``shard_id % max_concurrency`` bucket."""
        return self.gateway.sharding.times(bucket)

    @staticmethod
    def shard_of(guild: GuildRecord, num_shards: int) -> int:
        return shard_for(guild.id, num_shards)

    def sessions_for_shard(self, shard_id: int) -> list[GatewaySession]:
        """Sessions identified as ``shard_id`` (unsharded sessions count as shard 0)."""
        return [s for s in self.gateway.sessions if s.shard_id == shard_id]

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Drop the websocket like a network blip; discord.py should RESUME."""
        await self.gateway.disconnect(code)

    async def wait_gateway_connected(self, timeout: float = 5.0) -> GatewaySession:
        try:
            await asyncio.wait_for(self.gateway.connected.wait(), timeout)
        except TimeoutError:
            raise AssertionError("the bot did not connect to the fake gateway") from None
        session = self.gateway.current
        assert session is not None
        return session

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send any raw gateway event to the bot."""
        self.gateway.dispatch(event, data)

    # -- interactions --

    def _send_interaction(self, record: InteractionRecord) -> InteractionRecord:
        if self.gateway.current is None:
            raise AssertionError("no bot is connected to the fake gateway")
        if not any(s.receives(record.guild_id) for s in self.gateway.sessions):
            shards = [s.shard for s in self.gateway.sessions]
            raise AssertionError(f"no session's shard receives guild {record.guild_id}: {shards}")
        self.state.interactions[record.id] = record
        self.state.interactions_by_token[record.token] = record
        record.dispatched_at = self.clock.now()
        self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def invoke_slash_command(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        attachments: Mapping[str, FileSpec] | None = None,
    ) -> InteractionRecord:
        record = self.builder.slash(
            user, channel, name, options=options, subcommand=subcommand, attachments=attachments
        )
        return self._send_interaction(record)

    async def autocomplete(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        subcommand: str | None = None,
        timeout: float = 3.0,
    ) -> list[dict[str, Any]]:
        record = self.builder.slash(
            user, channel, name, options=options, subcommand=subcommand, focused=focused
        )
        self._send_interaction(record)
        await record.wait_acknowledged(timeout)
        return record.autocomplete_choices or []

    async def click_button(
        self, user: UserRecord, message: MessageRecord, custom_id: str
    ) -> InteractionRecord:
        return self._send_interaction(self.builder.component(user, message, custom_id))

    async def select(
        self, user: UserRecord, message: MessageRecord, custom_id: str, values: list[str]
    ) -> InteractionRecord:
        record = self.builder.component(user, message, custom_id, values=values)
        return self._send_interaction(record)

    async def submit_modal(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        custom_id: str,
        fields: Mapping[str, str | bool],
        message: MessageRecord | None = None,
    ) -> InteractionRecord:
        shown = None
        for interaction in reversed(list(self.state.interactions.values())):
            for response in interaction.responses:
                if response["type"] == 9 and response["data"].get("custom_id") == custom_id:
                    shown = response["data"]
                    break
            if shown is not None:
                break
        record = self.builder.modal_submit(
            user, channel, custom_id, fields, message=message, shown=shown
        )
        return self._send_interaction(record)

    async def invoke_message_command(
        self, user: UserRecord, message: MessageRecord, name: str
    ) -> InteractionRecord:
        channel = self.state.channels[message.channel_id]
        record = self.builder.context_menu(user, channel, name, command_type=3, target=message)
        return self._send_interaction(record)

    async def invoke_user_command(
        self, user: UserRecord, channel: ChannelRecord, target: UserRecord, name: str
    ) -> InteractionRecord:
        record = self.builder.context_menu(user, channel, name, command_type=2, target=target)
        return self._send_interaction(record)

    @property
    def interactions(self) -> list[InteractionRecord]:
        return list(self.state.interactions.values())

    # -- messages --

    def post_user_message(
        self, user: UserRecord, channel: ChannelRecord, content: str
    ) -> MessageRecord:
        """A message a human posts (dispatched as MESSAGE_CREATE), e.g. to be replied to."""
        message = MessageRecord(
            id=self.state.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=user.id,
            content=content,
            created_at=self.clock.now(),
        )
        self.state.add_message(message)
        self.gateway.dispatch("MESSAGE_CREATE", self.state.message_payload(message))
        return message

    def messages(self, channel: ChannelRecord) -> list[MessageRecord]:
        return self.state.channel_message_list(channel.id)

    def message(self, message_id: int) -> MessageRecord:
        return self.state.messages_by_id[message_id]

    @property
    def deleted_messages(self) -> list[MessageRecord]:
        return self.state.deleted_messages

    def dm_channel(self, user: UserRecord) -> ChannelRecord | None:
        channel_id = self.state.dm_channels.get(user.id)
        return self.state.channels[channel_id] if channel_id else None

    def open_dm(self, user: UserRecord) -> ChannelRecord:
        """The DM channel between ``user`` and the bot (e.g. to invoke a command in DMs)."""
        return self.state.get_or_create_dm(user.id)

    def dm_messages(self, user: UserRecord) -> list[MessageRecord]:
        channel = self.dm_channel(user)
        return self.messages(channel) if channel else []

    async def wait_for_message(
        self,
        channel: ChannelRecord,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
    ) -> MessageRecord:
        """First message in ``channel`` (existing, new or edited) matching ``predicate``."""
        check = predicate or (lambda m: True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for message in self.messages(channel):
                if check(message):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                listing = (
                    "\n".join(
                        f"  {m.id} author={m.author_id} flags={m.flags} edits={m.edits} "
                        f"content={m.content[:80]!r} files={m.filenames} embeds={len(m.embeds)}"
                        for m in self.messages(channel)
                    )
                    or "  (none)"
                )
                errs = [(r.route, r.error_code) for r in self.errors]
                raise AssertionError(
                    f"no matching message in #{channel.name} ({channel.id}) within {timeout}s; "
                    f"messages:\n{listing}\nerrors: {errs}"
                )
            await self.state.wait_change(remaining)

    # -- commands --

    def registered_commands(self, guild: GuildRecord | None = None) -> list[dict[str, Any]]:
        return self.state.registered_commands(guild.id if guild else None)

    @property
    def command_sync_count(self) -> int:
        """How many bulk-overwrite PUTs (global or guild) the bot made."""
        return self.state.command_puts

    # -- rate limits --

    def rate_limit(
        self,
        method: str,
        path_regex: str,
        times: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
    ) -> ForcedLimit:
        """The next ``times`` matching requests get a Discord-shaped 429."""
        return self.limiter.force(
            method, path_regex, times=times, retry_after=retry_after, global_=global_
        )

    def set_route_limit(
        self, method: str, route: str, limit: int, per: float, *, bucket: str | None = None
    ) -> None:
        """Enforce a bucket, e.g. ``("POST", "/channels/{channel_id}/messages", 5, 5.0)``.

        Routes given the same ``bucket`` name share one bucket (and one X-RateLimit-Bucket).
        """
        self.limiter.route_limits[route_key(method, route)] = RouteLimit(limit, per, bucket)

    def set_shared_limit(self, method: str, route: str, limit: int, per: float) -> None:
        """A per-channel limit across interactions (429 with ``X-RateLimit-Scope: shared``)."""
        key = route_key(method, route)
        self.limiter.config.shared[key] = SharedLimit(limit, per, key)

    def set_global_limit(self, limit: int | None, per: float = 1.0) -> None:
        """The bot-wide limit across routes (Discord: 50/s); ``None`` switches it off."""
        self.limiter.config.global_limit = None if limit is None else RouteLimit(limit, per)

    def use_discord_limits(self, *, time_scale: float = 1.0) -> None:
        """Discord's numbers: message create/edit 5 per 5 s per channel, interaction
        webhooks 5 per 2 s per token plus 30 per 60 s per channel for follow-ups, 50/s global.

        ``time_scale`` shrinks every window (0.1: 5 per 0.5 s) to keep tests short.
        Overrides from ``set_route_limit`` stay in force.
        """
        self.limiter.configure(_discord_limits(time_scale))

    def use_permissive_limits(self) -> None:
        """Back to the default: 50 requests/s per route and major parameter, no global limit."""
        self.limiter.configure(LimitsConfig())

    @property
    def rate_limited_count(self) -> int:
        """429s answered so far (route, shared, global and injected)."""
        return self.limiter.issued

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        return list(self.limiter.hits)

    @property
    def rate_limited_by_route(self) -> dict[str, int]:
        """429s per route key, e.g. ``{"POST /channels/{channel_id}/messages": 2}``."""
        return self.limiter.by_route()

    @property
    def rate_limited_by_scope(self) -> dict[str, int]:
        """429s per ``X-RateLimit-Scope`` (``user``, ``shared``, ``global``)."""
        return self.limiter.by_scope()

    # -- records --

    @property
    def requests(self) -> list[RequestRecord]:
        return self.api.requests

    @property
    def unhandled(self) -> list[RequestRecord]:
        return self.api.unhandled

    @property
    def errors(self) -> list[RequestRecord]:
        return self.api.errors

    def requests_to(self, method: str, route: str) -> list[RequestRecord]:
        """Requests by route template, e.g. ``("POST", "/channels/{channel_id}/messages")``."""
        return [r for r in self.requests if r.method == method.upper() and r.route == route]


__all__ = ["FakeDiscord"]
