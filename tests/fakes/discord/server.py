"""REST v10 routes, the fake CDN, and the middleware that records, rate-limits and errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import errors
from . import permissions as perms
from .body import RequestBody, read_body
from .errors import DiscordError
from .gateway import Gateway
from .messages import create_message, edit_message
from .ratelimit import RateLimiter, limited_body, limited_headers
from .records import (
    EPHEMERAL,
    LOADING,
    ChannelRecord,
    InteractionRecord,
    MessageRecord,
    RequestRecord,
)
from .rules import INITIAL_RESPONSE_WINDOW, MAX_ATTACHMENTS, NONCE_WINDOW, TOKEN_LIFETIME
from .state import FakeState
from .threads import ThreadRoutes, refuse_locked

log = logging.getLogger(__name__)

API = "/api/v10"
MAX_REQUEST_BYTES = 25 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RECORD_KEY = web.RequestKey("record", RequestRecord)
BODY_KEY = web.RequestKey("body", RequestBody)
INTERACTION_KEY = web.RequestKey("interaction", InteractionRecord)
_PUBLIC_PREFIXES = (f"{API}/interactions/", f"{API}/webhooks/", "/attachments/", "/gateway")
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

# Interaction types and callback types.
PING, APP_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CB_PONG, CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE = 1, 4, 5, 6, 7
CB_AUTOCOMPLETE, CB_MODAL = 8, 9


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only if Content-Type is exactly "application/json"
    # (no charset), as Discord sends it.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _int(value: str, err: Callable[[], DiscordError]) -> int:
    try:
        return int(value)
    except ValueError:
        raise err() from None


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class RestApi:
    """aiohttp application serving Discord's REST API for one bot."""

    def __init__(self, state: FakeState, gateway: Gateway, limiter: RateLimiter) -> None:
        self.state = state
        self.gateway = gateway
        self.limiter = limiter
        self.requests: list[RequestRecord] = []
        self.unhandled: list[RequestRecord] = []
        self.errors: list[RequestRecord] = []
        self.gateway_url = ""
        self.threads = ThreadRoutes(self)

    # -- application --

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_REQUEST_BYTES * 4)
        r = app.router
        r.add_get("/gateway", self.gateway.handle)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn)
        a = API
        r.add_get(f"{a}/users/@me", self.get_me)
        r.add_get(f"{a}/users/{{user_id}}", self.get_user)
        r.add_post(f"{a}/users/@me/channels", self.create_dm)
        r.add_get(f"{a}/gateway", self.get_gateway)
        r.add_get(f"{a}/gateway/bot", self.get_gateway_bot)
        r.add_get(f"{a}/oauth2/applications/@me", self.get_application)
        r.add_get(f"{a}/applications/@me", self.get_application)
        for base in (
            f"{a}/applications/{{application_id}}/commands",
            f"{a}/applications/{{application_id}}/guilds/{{guild_id}}/commands",
        ):
            r.add_get(base, self.get_commands)
            r.add_put(base, self.put_commands)
            r.add_post(base, self.post_command)
            r.add_get(base + "/{command_id}", self.get_command)
            r.add_delete(base + "/{command_id}", self.delete_command)
        r.add_post(f"{a}/interactions/{{interaction_id}}/{{token}}/callback", self.callback)
        hook = f"{a}/webhooks/{{application_id}}/{{token}}"
        r.add_post(hook, self.followup)
        r.add_get(hook + "/messages/{message_id}", self.webhook_get)
        r.add_patch(hook + "/messages/{message_id}", self.webhook_edit)
        r.add_delete(hook + "/messages/{message_id}", self.webhook_delete)
        ch = f"{a}/channels/{{channel_id}}"
        r.add_get(ch, self.get_channel)
        self.threads.register(r, ch)
        r.add_post(ch + "/typing", self.typing)
        r.add_get(ch + "/messages", self.list_messages)
        r.add_post(ch + "/messages", self.post_message)
        r.add_get(ch + "/messages/{message_id}", self.get_message)
        r.add_patch(ch + "/messages/{message_id}", self.edit_message)
        r.add_delete(ch + "/messages/{message_id}", self.delete_message)
        react = ch + "/messages/{message_id}/reactions/{emoji}/@me"
        r.add_put(react, self.add_reaction)
        r.add_delete(react, self.remove_reaction)
        r.add_get(f"{a}/guilds/{{guild_id}}", self.get_guild)
        r.add_get(f"{a}/guilds/{{guild_id}}/channels", self.get_guild_channels)
        r.add_get(f"{a}/guilds/{{guild_id}}/members/{{user_id}}", self.get_member)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == "/gateway" or path.startswith("/attachments/"):
            return await handler(request)
        route_info = request.match_info.route.resource
        route = route_info.canonical if route_info is not None else path
        route = route.removeprefix(API)
        record = RequestRecord(
            method=request.method,
            path=path.removeprefix(API),
            route=route,
            query=dict(request.query),
            time=self.state.clock.now(),
        )
        self.requests.append(record)
        request[RECORD_KEY] = record
        verdict = self.limiter.check(
            request.method,
            record.path,
            route,
            self._major(request),
            resource=self._limited_resource(request),
        )
        try:
            if verdict.retry_after is not None:
                record.status = 429
                record.error = limited_body(verdict)
                return _json(record.error, 429, limited_headers(verdict))
            if not path.startswith(_PUBLIC_PREFIXES):
                auth = request.headers.get("Authorization", "")
                if auth != f"Bot {self.state.token}":
                    raise errors.unauthorized()
            if request.match_info.http_exception is not None:
                raise errors.not_found()
            if (request.content_length or 0) > MAX_REQUEST_BYTES:
                raise errors.request_too_large()
            body = await read_body(request)
            request[BODY_KEY] = body
            record.json = body.payload
            record.files = [(f.filename, len(f.data)) for f in body.files]
            response = await handler(request)
        except DiscordError as err:
            record.status = err.status
            record.error_code = err.code
            record.error = err.body()
            self.errors.append(record)
            interaction: InteractionRecord | None = request.get(INTERACTION_KEY)
            if interaction is not None:
                interaction.errors.append(
                    {
                        "code": err.code,
                        "status": err.status,
                        "message": err.message,
                        "route": f"{request.method} {route}",
                        "time": record.time,
                    }
                )
            if err.status == 404 and err.code == 0:
                self.unhandled.append(record)
            response = _json(err.body(), err.status)
        record.status = response.status
        for key, value in verdict.headers.items():
            response.headers[key] = value
        return response

    # -- helpers --

    @staticmethod
    def _major(request: web.Request) -> str:
        """Discord's top-level resources: channel, guild, webhook id + token."""
        keys = ("channel_id", "guild_id", "application_id", "interaction_id", "token")
        return "+".join(request.match_info.get(k, "") for k in keys)

    def _limited_resource(self, request: web.Request) -> str | None:
        """The channel a shared (per-resource) limit counts against, if any."""
        if "channel_id" in request.match_info:
            return request.match_info["channel_id"]
        interaction = self.state.interactions_by_token.get(request.match_info.get("token", ""))
        return str(interaction.channel_id) if interaction is not None else None

    def _body(self, request: web.Request) -> RequestBody:
        return request[BODY_KEY]

    def _channel(self, request: web.Request) -> ChannelRecord:
        channel_id = _int(request.match_info["channel_id"], errors.unknown_channel)
        return self.state.get_channel(channel_id)

    def _require_view(self, channel: ChannelRecord) -> int:
        if channel.is_dm:
            return self.state.permissions_for(self.state.bot_user.id, channel)
        have = self.state.bot_permissions_in(channel)
        if not have & perms.VIEW_CHANNEL:
            raise errors.missing_access()
        return have

    def _emit_message(self, name: str, message: MessageRecord) -> None:
        if message.ephemeral:
            return
        self.state.emit(name, self.state.message_payload(message))

    # -- users, gateway, application --

    async def get_me(self, request: web.Request) -> web.Response:
        me = self.state.bot_user.to_payload()
        me.update({"verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"})
        return _json(me)

    async def get_user(self, request: web.Request) -> web.Response:
        user_id = _int(request.match_info["user_id"], errors.unknown_user)
        if user_id not in self.state.users:
            raise errors.unknown_user()
        return _json(self.state.user_payload(user_id))

    async def get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(self.gateway.sharding.gateway_bot(self.gateway_url))

    def application_payload(self) -> dict[str, Any]:
        state = self.state
        return {
            "id": str(state.application_id),
            "name": state.bot_user.name,
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": state.bot_user.to_payload(),
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "owner": state.user_payload(state.bot_user.id),
            "verify_key": "0" * 64,
            "team": None,
            "guild_id": None,
            "flags": 0,
            "approximate_guild_count": len(state.guilds),
            "tags": [],
            "install_params": None,
            "custom_install_url": None,
            "integration_types_config": {"0": {}},
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "redirect_uris": [],
        }

    async def get_application(self, request: web.Request) -> web.Response:
        return _json(self.application_payload())

    # -- application commands --

    def _command_pool(self, request: web.Request) -> tuple[dict[int, dict[str, Any]], int | None]:
        app_id = _int(request.match_info["application_id"], errors.not_found)
        if app_id != self.state.application_id:
            raise DiscordError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        guild_raw = request.match_info.get("guild_id")
        if guild_raw is None:
            return self.state.global_commands, None
        guild_id = _int(guild_raw, errors.unknown_guild)
        if guild_id not in self.state.guilds:
            raise errors.missing_access()
        return self.state.guild_commands.setdefault(guild_id, {}), guild_id

    def _normalise_command(
        self, raw: dict[str, Any], guild_id: int | None, previous: dict[str, Any] | None, index: int
    ) -> dict[str, Any]:
        errs: dict[str, Any] = {}
        kind = int(raw.get("type", 1))
        name = raw.get("name", "")
        if kind == 1 and not (
            isinstance(name, str) and _COMMAND_NAME.match(name) and name == name.lower()
        ):
            errs["name"] = errors.field_error(
                "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        elif not 1 <= len(name) <= 32:
            errs["name"] = errors.field_error(
                "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
            )
        description = raw.get("description", "")
        if kind == 1 and not 1 <= len(description) <= 100:
            errs["description"] = errors.field_error(
                "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if len(raw.get("options") or []) > 25:
            errs["options"] = errors.field_error(
                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if errs:
            raise errors.invalid_form_body({str(index): errs})
        command = dict(raw)
        command.setdefault("options", [])
        command.setdefault("description", "")
        command.setdefault("default_member_permissions", None)
        command.setdefault("nsfw", False)
        command["type"] = kind
        command["id"] = previous["id"] if previous else str(self.state.ids.next())
        command["application_id"] = str(self.state.application_id)
        command["version"] = str(self.state.ids.next())
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        else:
            command.setdefault("contexts", [0, 1, 2])
            command.setdefault("integration_types", [0])
        return command

    async def get_commands(self, request: web.Request) -> web.Response:
        pool, _ = self._command_pool(request)
        return _json(list(pool.values()))

    async def get_command(self, request: web.Request) -> web.Response:
        pool, _ = self._command_pool(request)
        command_id = _int(request.match_info["command_id"], errors.not_found)
        if command_id not in pool:
            raise DiscordError(404, 10063, "Unknown application command")
        return _json(pool[command_id])

    async def put_commands(self, request: web.Request) -> web.Response:
        pool, guild_id = self._command_pool(request)
        payload = self._body(request).payload or []
        if not isinstance(payload, list):
            raise errors.invalid_form_body(
                errors.field_error("LIST_TYPE_CONVERT", "Only iterables may be used")
            )
        if guild_id is None and sum(1 for c in payload if c.get("type", 1) == 1) > 100:
            raise DiscordError(400, 30032, "Maximum number of application commands reached (100)")
        by_key = {(c["name"], c["type"]): c for c in pool.values()}
        new = [
            self._normalise_command(
                raw, guild_id, by_key.get((raw.get("name"), int(raw.get("type", 1)))), i
            )
            for i, raw in enumerate(payload)
        ]
        pool.clear()
        for command in new:
            pool[int(command["id"])] = command
        self.state.command_puts += 1
        return _json(new)

    async def post_command(self, request: web.Request) -> web.Response:
        pool, guild_id = self._command_pool(request)
        raw = self._body(request).payload or {}
        previous = next(
            (
                c
                for c in pool.values()
                if c["name"] == raw.get("name") and c["type"] == int(raw.get("type", 1))
            ),
            None,
        )
        command = self._normalise_command(raw, guild_id, previous, 0)
        pool[int(command["id"])] = command
        return _json(command, 200 if previous else 201)

    async def delete_command(self, request: web.Request) -> web.Response:
        pool, _ = self._command_pool(request)
        command_id = _int(request.match_info["command_id"], errors.not_found)
        if pool.pop(command_id, None) is None:
            raise DiscordError(404, 10063, "Unknown application command")
        return web.Response(status=204)

    # -- interactions --

    def _check_open_channel(self, interaction: InteractionRecord) -> ChannelRecord:
        channel = self.state.channels.get(interaction.channel_id)
        if channel is None or channel.deleted:
            raise errors.unknown_channel()
        return channel

    def _message_type_for(self, interaction: InteractionRecord) -> int:
        if interaction.type == APP_COMMAND:
            return 20 if interaction.payload["data"].get("type", 1) == 1 else 23
        return 0

    async def callback(self, request: web.Request) -> web.Response:
        state = self.state
        interaction_id = _int(request.match_info["interaction_id"], errors.unknown_interaction)
        interaction = state.interactions.get(interaction_id)
        if interaction is None or interaction.token != request.match_info["token"]:
            raise errors.unknown_interaction()
        request[INTERACTION_KEY] = interaction
        now = state.clock.now()
        payload = self._body(request).payload or {}
        files = self._body(request).files
        cb_type = int(payload.get("type", 0))
        data = payload.get("data") or {}
        attempt = {"type": cb_type, "data": data, "time": now, "files": [f.filename for f in files]}
        if interaction.acknowledged:
            raise errors.already_acknowledged()
        if now - interaction.created_at > INITIAL_RESPONSE_WINDOW:
            raise errors.unknown_interaction()
        allowed = {
            APP_COMMAND: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_MODAL, 10, 12},
            COMPONENT: {
                CB_MESSAGE,
                CB_DEFERRED_MESSAGE,
                CB_DEFERRED_UPDATE,
                CB_UPDATE,
                CB_MODAL,
                10,
                12,
            },
            AUTOCOMPLETE: {CB_AUTOCOMPLETE},
            MODAL_SUBMIT: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE, 10, 12},
        }[interaction.type]
        if cb_type not in allowed:
            raise errors.invalid_form_body(
                {
                    "type": errors.field_error(
                        "INTERACTION_CALLBACK_TYPE_INVALID", "Interaction callback type is invalid"
                    )
                }
            )
        resource: dict[str, Any] | None = None
        message: MessageRecord | None = None
        if cb_type in (CB_MESSAGE, CB_DEFERRED_MESSAGE):
            channel = self._check_open_channel(interaction)
            if cb_type == CB_MESSAGE:
                message = create_message(
                    state,
                    channel,
                    data,
                    files,
                    webhook=True,
                    interaction=interaction,
                    message_type=self._message_type_for(interaction),
                )
            else:
                flags = int(data.get("flags") or 0) & EPHEMERAL
                message = create_message(
                    state,
                    channel,
                    {"flags": flags},
                    [],
                    webhook=True,
                    interaction=interaction,
                    message_type=self._message_type_for(interaction),
                    extra_flags=LOADING,
                    allow_empty=True,
                )
            state.add_message(message)
            interaction.original = message
            self._emit_message("MESSAGE_CREATE", message)
            resource = {"type": cb_type, "message": state.message_payload(message)}
        elif cb_type in (CB_DEFERRED_UPDATE, CB_UPDATE):
            if interaction.message_id is None:
                raise errors.invalid_form_body(
                    {
                        "type": errors.field_error(
                            "INTERACTION_CALLBACK_TYPE_INVALID", "No message to update"
                        )
                    }
                )
            channel = self._check_open_channel(interaction)
            message = state.get_message(channel.id, interaction.message_id)
            if cb_type == CB_UPDATE:
                edit_message(state, message, data, files, webhook=True)
                state.touch()
                self._emit_message("MESSAGE_UPDATE", message)
                resource = {"type": cb_type, "message": state.message_payload(message)}
            interaction.original = message
        elif cb_type == CB_AUTOCOMPLETE:
            choices = list(data.get("choices") or [])
            if len(choices) > 25:
                raise errors.invalid_form_body(
                    {
                        "data": {
                            "choices": errors.field_error(
                                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                            )
                        }
                    }
                )
            interaction.autocomplete_choices = choices
        elif cb_type == CB_MODAL:
            modal_errs: dict[str, Any] = {}
            if not 1 <= len(str(data.get("custom_id", ""))) <= 100:
                modal_errs["custom_id"] = errors.field_error(
                    "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            if not 1 <= len(str(data.get("title", ""))) <= 45:
                modal_errs["title"] = errors.field_error(
                    "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."
                )
            if modal_errs:
                raise errors.invalid_form_body({"data": modal_errs})
        interaction.responses.append(attempt)
        if interaction.dispatched_at is not None:
            interaction.ack_latency = now - interaction.dispatched_at
        interaction._acknowledged.set()
        state.touch()
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        body: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": cb_type == CB_DEFERRED_MESSAGE,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if message is not None:
            body["interaction"]["response_message_id"] = str(message.id)
        if resource is not None:
            body["resource"] = resource
        elif cb_type != CB_AUTOCOMPLETE:
            body["resource"] = {"type": cb_type}
        return _json(body)

    def _webhook_interaction(self, request: web.Request) -> InteractionRecord:
        app_id = _int(request.match_info["application_id"], errors.unknown_webhook)
        interaction = self.state.interactions_by_token.get(request.match_info["token"])
        if interaction is None or app_id != self.state.application_id:
            raise errors.unknown_webhook()
        request[INTERACTION_KEY] = interaction
        if self.state.clock.now() - interaction.created_at > TOKEN_LIFETIME:
            raise errors.invalid_webhook_token()
        if not interaction.acknowledged:
            raise errors.unknown_webhook()
        return interaction

    def _interaction_message(
        self, request: web.Request, interaction: InteractionRecord
    ) -> MessageRecord:
        raw = request.match_info["message_id"]
        if raw == "@original":
            message = interaction.original
        else:
            mid = _int(raw, errors.unknown_message)
            owned = [m for m in interaction.followups if m.id == mid]
            if interaction.original is not None and interaction.original.id == mid:
                owned.append(interaction.original)
            message = owned[0] if owned else None
        if message is None or message.deleted:
            raise errors.unknown_message()
        return message

    async def followup(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        interaction = self._webhook_interaction(request)
        channel = self._check_open_channel(interaction)
        body = self._body(request)
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            # The first follow-up after a "thinking" defer replaces the loading message.
            edit_message(state, original, body.payload, body.files, webhook=True)
            message = original
            self._emit_message("MESSAGE_UPDATE", message)
        else:
            message = create_message(
                state, channel, body.payload, body.files, webhook=True, interaction=interaction
            )
            state.add_message(message)
            interaction.followups.append(message)
            self._emit_message("MESSAGE_CREATE", message)
        state.touch()
        if _truthy(request.query.get("wait")):
            return _json(state.message_payload(message))
        return web.Response(status=204)

    async def webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        return _json(self.state.message_payload(self._interaction_message(request, interaction)))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        self._check_open_channel(interaction)
        message = self._interaction_message(request, interaction)
        body = self._body(request)
        edit_message(self.state, message, body.payload, body.files, webhook=True)
        self.state.touch()
        self._emit_message("MESSAGE_UPDATE", message)
        return _json(self.state.message_payload(message))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._interaction_message(request, interaction)
        self.state.delete_message(message)
        self._emit_delete(message)
        return web.Response(status=204)

    def _emit_delete(self, message: MessageRecord) -> None:
        if message.ephemeral:
            return
        data = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        self.state.emit("MESSAGE_DELETE", data)

    # -- channels and messages --

    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require_view(channel)
        return _json(self.state.channel_payload(channel))

    async def typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._check_send(channel, self._require_view(channel))
        return web.Response(status=204)

    def _check_send(self, channel: ChannelRecord, have: int) -> None:
        if channel.is_dm:
            recipient = self.state.users.get(channel.recipient_id or 0)
            if recipient is None or not recipient.dms_open or recipient.bot:
                raise errors.cannot_send_to_user()
            return
        if channel.type in (4, 15, 16):  # category, forum, media
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.is_thread:
            refuse_locked(channel, have)
        needed = perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else perms.SEND_MESSAGES
        if not have & needed:
            raise errors.missing_permissions()

    async def post_message(self, request: web.Request) -> web.Response:
        state = self.state
        channel = self._channel(request)
        have = self._require_view(channel)
        self._check_send(channel, have)
        body = self._body(request)
        payload = body.payload if isinstance(body.payload, dict) else {}
        if body.files and not have & perms.ATTACH_FILES:
            raise errors.missing_permissions()
        if payload.get("embeds") and not have & perms.EMBED_LINKS:
            raise errors.missing_permissions()
        if payload.get("message_reference") and not have & perms.READ_MESSAGE_HISTORY:
            raise errors.missing_permissions()
        if len(body.files) > MAX_ATTACHMENTS:
            raise errors.too_many_attachments()
        nonce = payload.get("nonce")
        now = state.clock.now()
        if nonce is not None and payload.get("enforce_nonce"):
            seen = state.nonces.get((channel.id, str(nonce)))
            if seen is not None and now - seen[1] <= NONCE_WINDOW:
                existing = state.messages_by_id[seen[0]]
                if not existing.deleted:
                    return _json(state.message_payload(existing))
        message = create_message(state, channel, body.payload, body.files, webhook=False)
        state.add_message(message)
        if nonce is not None and payload.get("enforce_nonce"):
            state.nonces[(channel.id, str(nonce))] = (message.id, now)
        self._emit_message("MESSAGE_CREATE", message)
        return _json(state.message_payload(message))

    def _visible(self, channel: ChannelRecord, message_id: int) -> MessageRecord:
        message = self.state.get_message(channel.id, message_id)
        if message.ephemeral:
            raise errors.unknown_message()
        return message

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        have = self._require_view(channel)
        if not have & perms.READ_MESSAGE_HISTORY:
            raise errors.missing_permissions()
        mid = _int(request.match_info["message_id"], errors.unknown_message)
        return _json(self.state.message_payload(self._visible(channel, mid)))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        have = self._require_view(channel)
        if not have & perms.READ_MESSAGE_HISTORY:
            return _json([])
        q = request.query
        limit = max(1, min(int(q.get("limit", 50)), 100))
        items = self.state.channel_message_list(channel.id, include_ephemeral=False)
        if "around" in q:
            around = int(q["around"])
            older = (
                [m for m in items if m.id <= around][-((limit + 1) // 2) :]
                if limit > 1
                else [m for m in items if m.id == around]
            )
            newer = [m for m in items if m.id > around][: limit - len(older)]
            chosen = older + newer
        elif "after" in q:
            after = int(q["after"])
            chosen = [m for m in items if m.id > after][:limit]
        else:
            before = int(q["before"]) if "before" in q else None
            pool = [m for m in items if before is None or m.id < before]
            chosen = pool[-limit:]
        chosen.sort(key=lambda m: m.id, reverse=True)
        return _json([self.state.message_payload(m) for m in chosen])

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        have = self._require_view(channel)
        mid = _int(request.match_info["message_id"], errors.unknown_message)
        # Ephemeral messages are not reachable here (10008, in _visible). A guild interaction
        # response is authored by the bot user, and Discord lets the author edit it this way too,
        # after the token has expired.
        message = self._visible(channel, mid)
        if message.author_id != self.state.bot_user.id:
            payload = self._body(request).payload or {}
            if set(payload) - {"flags"} or not have & perms.MANAGE_MESSAGES:
                raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if channel.is_thread and channel.archived:
            raise errors.thread_archived()
        body = self._body(request)
        if (
            isinstance(body.payload, dict)
            and body.payload.get("embeds")
            and not have & perms.EMBED_LINKS
            and not channel.is_dm
        ):
            raise errors.missing_permissions()
        edit_message(self.state, message, body.payload, body.files, webhook=False)
        self.state.touch()
        self._emit_message("MESSAGE_UPDATE", message)
        return _json(self.state.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        have = self._require_view(channel)
        mid = _int(request.match_info["message_id"], errors.unknown_message)
        message = self._visible(channel, mid)
        if message.author_id != self.state.bot_user.id and not have & perms.MANAGE_MESSAGES:
            raise errors.missing_permissions()
        self.state.delete_message(message)
        self._emit_delete(message)
        return web.Response(status=204)

    async def add_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        have = self._require_view(channel)
        if not have & perms.READ_MESSAGE_HISTORY:
            raise errors.missing_permissions()
        message = self._visible(
            channel, _int(request.match_info["message_id"], errors.unknown_message)
        )
        emoji = request.match_info["emoji"]
        users = message.reactions.setdefault(emoji, set())
        if not users and not have & perms.ADD_REACTIONS and not channel.is_dm:
            raise errors.missing_permissions()
        if self.state.bot_user.id not in users:
            users.add(self.state.bot_user.id)
            self.state.touch()
            data: dict[str, Any] = {
                "user_id": str(self.state.bot_user.id),
                "channel_id": str(channel.id),
                "message_id": str(message.id),
                "emoji": {"id": None, "name": emoji},
                "burst": False,
                "type": 0,
                "message_author_id": str(message.author_id),
            }
            if channel.guild_id:
                data["guild_id"] = str(channel.guild_id)
            self.state.emit("MESSAGE_REACTION_ADD", data)
        return web.Response(status=204)

    async def remove_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require_view(channel)
        message = self._visible(
            channel, _int(request.match_info["message_id"], errors.unknown_message)
        )
        users = message.reactions.get(request.match_info["emoji"], set())
        users.discard(self.state.bot_user.id)
        self.state.touch()
        return web.Response(status=204)

    async def create_dm(self, request: web.Request) -> web.Response:
        state = self.state
        payload = self._body(request).payload or {}
        user_id = _int(str(payload.get("recipient_id", "")), errors.unknown_user)
        if user_id not in state.users:
            raise errors.unknown_user()
        channel = state.get_or_create_dm(user_id)
        return _json(state.channel_payload(channel))

    # -- guilds --

    def _guild(self, request: web.Request) -> Any:
        guild_id = _int(request.match_info["guild_id"], errors.unknown_guild)
        guild = self.state.guilds.get(guild_id)
        if guild is None:
            raise errors.unknown_guild()
        return guild

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        payload = self.state.guild_payload(guild, full=False)
        if _truthy(request.query.get("with_counts")):
            payload["approximate_member_count"] = len(guild.members)
            payload["approximate_presence_count"] = 0
        return _json(payload)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        channels = [self.state.channels[c] for c in guild.channel_ids]
        return _json(
            [self.state.channel_payload(c) for c in channels if not c.deleted and not c.is_thread]
        )

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        user_id = _int(request.match_info["user_id"], errors.unknown_member)
        member = guild.members.get(user_id)
        if member is None:
            raise errors.unknown_member()
        return _json(self.state.member_payload(guild, member))

    # -- CDN --

    async def cdn(self, request: web.Request) -> web.Response:
        try:
            attachment_id = int(request.match_info["attachment_id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        record = self.state.attachments.get(attachment_id)
        if record is None or record.filename != request.match_info["filename"]:
            raise web.HTTPNotFound()
        return web.Response(
            body=record.data, content_type=record.content_type or "application/octet-stream"
        )
