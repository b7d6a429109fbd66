"""Building INTERACTION_CREATE payloads the way Discord's client would send them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .records import (
    AttachmentRecord,
    ChannelRecord,
    InteractionRecord,
    MessageRecord,
    RoleRecord,
    UserRecord,
)
from .state import FakeState

STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
CHECKBOX = 23  # a component, in a modal's label
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
FileSpec = tuple[str, bytes, str | None] | tuple[str, bytes]


class InteractionBuilder:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    # -- common envelope --

    def _envelope(
        self,
        kind: int,
        user: UserRecord,
        channel: ChannelRecord,
        data: dict[str, Any] | None,
        message: MessageRecord | None = None,
    ) -> InteractionRecord:
        state = self.state
        interaction_id = state.ids.next()
        token = state.new_interaction_token()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(state.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "locale": user.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": state.upload_limit,
            "app_permissions": str(state.bot_permissions_in(channel)),
        }
        channel_payload = state.channel_payload(channel)
        channel_payload["permissions"] = str(state.permissions_for(user.id, channel))
        payload["channel"] = channel_payload
        guild = state.guild_of(channel)
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise ValueError(f"{user.name} is not a member of {guild.name}; use add_member()")
            member_payload = state.member_payload(guild, member)
            member_payload["permissions"] = str(state.permissions_for(user.id, channel))
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
                    "guild_locale": guild.locale,
                    "member": member_payload,
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": user.to_payload(),
                    "authorizing_integration_owners": {"0": str(user.id)},
                    "context": 1,
                }
            )
        if data is not None:
            payload["data"] = data
        if message is not None:
            payload["message"] = state.message_payload(message)
        now = state.clock.now()
        return InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            user_id=user.id,
            channel_id=channel.id,
            guild_id=guild.id if guild else None,
            payload=payload,
            created_at=now,
            message_id=message.id if message else None,
        )

    # -- application commands --

    def _command(self, name: str, channel: ChannelRecord, command_type: int) -> dict[str, Any]:
        command = self.state.find_command(name, channel.guild_id, command_type)
        if command is None:
            registered = [
                c["name"]
                for pool in (
                    self.state.global_commands,
                    self.state.guild_commands.get(channel.guild_id or 0, {}),
                )
                for c in pool.values()
            ]
            raise AssertionError(
                f"command {name!r} (type {command_type}) is not registered; "
                f"synced commands: {registered}"
            )
        if channel.guild_id is None and not offered_in_bot_dms(command):
            raise AssertionError(f"Discord does not offer {name!r} in DMs with the bot")
        return command

    def slash(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        name: str,
        *,
        options: Mapping[str, Any] | None = None,
        subcommand: str | None = None,
        attachments: Mapping[str, FileSpec] | None = None,
        focused: str | None = None,
    ) -> InteractionRecord:
        command = self._command(name, channel, 1)
        resolved: dict[str, dict[str, Any]] = {}
        definitions = command.get("options") or []
        path: list[dict[str, Any]] = []
        for part in (subcommand or "").split():
            match = next(
                (
                    o
                    for o in definitions
                    if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
                ),
                None,
            )
            if match is None:
                raise ValueError(f"{name}: no subcommand {part!r}")
            path.append(match)
            definitions = match.get("options") or []
        if definitions and definitions[0]["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
            raise ValueError(f"{name}: a subcommand is required")
        values = dict(options or {})
        for key, spec in (attachments or {}).items():
            values[key] = self._upload(spec, channel)
        built = self._options(name, definitions, values, resolved, channel, focused)
        for group in reversed(path):
            built = [{"name": group["name"], "type": group["type"], "options": built}]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": built,
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        kind = 4 if focused else 2
        record = self._envelope(kind, user, channel, data)
        record.name = command["name"]
        return record

    def _upload(
        self, spec: FileSpec | AttachmentRecord, channel: ChannelRecord
    ) -> AttachmentRecord:
        if isinstance(spec, AttachmentRecord):
            return spec
        filename, data, *rest = spec
        content_type = rest[0] if rest else None
        return self.state.store_attachment(filename, data, content_type, channel_id=channel.id)

    def _options(
        self,
        command_name: str,
        definitions: list[dict[str, Any]],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        channel: ChannelRecord,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in definitions}
        unknown = set(values) - set(by_name)
        if unknown:
            raise ValueError(
                f"{command_name}: unknown options {sorted(unknown)}; has {sorted(by_name)}"
            )
        out: list[dict[str, Any]] = []
        for definition in definitions:
            opt_name = definition["name"]
            if opt_name not in values:
                if definition.get("required") and focused is None:
                    raise ValueError(f"{command_name}: option {opt_name!r} is required")
                continue
            if opt_name == focused:
                out.append(
                    {
                        "name": opt_name,
                        "type": definition["type"],
                        "value": str(values[opt_name]),
                        "focused": True,
                    }
                )
                continue
            value = self._coerce(command_name, definition, values[opt_name], resolved, channel)
            out.append({"name": opt_name, "type": definition["type"], "value": value})
        return out

    def _coerce(
        self,
        command_name: str,
        definition: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        channel: ChannelRecord,
    ) -> Any:
        kind = definition["type"]
        label = f"{command_name}.{definition['name']}"
        if kind == STRING:
            value = str(value)
            if len(value) < definition.get("min_length", 0):
                raise ValueError(f"{label}: shorter than min_length")
            if len(value) > definition.get("max_length", 6000):
                raise ValueError(f"{label}: longer than max_length {definition.get('max_length')}")
        elif kind in (INTEGER, NUMBER):
            value = int(value) if kind == INTEGER else float(value)
            if "min_value" in definition and value < definition["min_value"]:
                raise ValueError(f"{label}: below min_value {definition['min_value']}")
            if "max_value" in definition and value > definition["max_value"]:
                raise ValueError(f"{label}: above max_value {definition['max_value']}")
        elif kind == BOOLEAN:
            value = bool(value)
        elif kind in (USER, MENTIONABLE) and isinstance(value, UserRecord):
            self._resolve_user(value, channel, resolved)
            return str(value.id)
        elif kind in (ROLE, MENTIONABLE) and isinstance(value, RoleRecord):
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        elif kind == CHANNEL and isinstance(value, ChannelRecord):
            payload = self.state.channel_payload(value)
            payload["permissions"] = str(self.state.bot_permissions_in(value))
            resolved.setdefault("channels", {})[str(value.id)] = payload
            return str(value.id)
        elif kind == ATTACHMENT:
            record = self._upload(value, channel)
            resolved.setdefault("attachments", {})[str(record.id)] = record.to_payload()
            return str(record.id)
        else:
            raise ValueError(f"{label}: cannot pass {value!r} for option type {kind}")
        choices = definition.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{label}: {value!r} is not one of the choices {choices}")
        return value

    def _resolve_user(
        self, user: UserRecord, channel: ChannelRecord, resolved: dict[str, dict[str, Any]]
    ) -> None:
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        guild = self.state.guild_of(channel)
        member = guild.members.get(user.id) if guild else None
        if guild is not None and member is not None:
            payload = self.state.member_payload(guild, member, with_user=False)
            payload["permissions"] = str(self.state.permissions_for(user.id, channel))
            resolved.setdefault("members", {})[str(user.id)] = payload

    def context_menu(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        name: str,
        *,
        command_type: int,
        target: MessageRecord | UserRecord,
    ) -> InteractionRecord:
        command = self._command(name, channel, command_type)
        resolved: dict[str, dict[str, Any]] = {}
        if isinstance(target, MessageRecord):
            resolved["messages"] = {str(target.id): self.state.message_payload(target)}
        else:
            self._resolve_user(target, channel, resolved)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command_type,
            "target_id": str(target.id),
            "resolved": resolved,
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        record = self._envelope(2, user, channel, data)
        record.name = command["name"]
        return record

    # -- components and modals --

    def component(
        self,
        user: UserRecord,
        message: MessageRecord,
        custom_id: str,
        *,
        values: list[str] | None = None,
    ) -> InteractionRecord:
        if message.deleted:
            raise AssertionError(f"message {message.id} was deleted; nothing to click")
        component = find_component(message.components, custom_id)
        if component is None:
            ids = [c.get("custom_id") for c in iter_components(message.components)]
            raise AssertionError(f"message {message.id} has no component {custom_id!r}; has {ids}")
        if component.get("disabled"):
            raise AssertionError(f"component {custom_id!r} is disabled")
        channel = self.state.channels[message.channel_id]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        record = self._envelope(3, user, channel, data, message=message)
        record.custom_id = custom_id
        return record

    def modal_submit(
        self,
        user: UserRecord,
        channel: ChannelRecord,
        custom_id: str,
        fields: Mapping[str, str | bool],
        *,
        message: MessageRecord | None,
        shown: dict[str, Any] | None,
    ) -> InteractionRecord:
        """Text inputs submit ``{"value": str}``; a checkbox (type 23, inside a label)
        ``{"value": bool}``, its ``default`` unless ``fields`` says otherwise."""
        components: list[dict[str, Any]] = []
        remaining = dict(fields)
        for top in (shown or {}).get("components", []):
            inner = top.get("component") if top.get("type") == 18 else None
            children = [inner] if inner else top.get("components", [])
            submitted = []
            for child in children:
                cid = child.get("custom_id")
                if child.get("type") == 4 and cid is not None:
                    submitted.append({"type": 4, "custom_id": cid, "value": remaining.pop(cid, "")})
                elif child.get("type") == CHECKBOX and cid is not None:
                    if top.get("type") != 18:
                        raise ValueError(f"modal {custom_id!r}: a checkbox must be in a label")
                    value = remaining.pop(cid, child.get("default", False))
                    submitted.append(
                        {"type": CHECKBOX, "custom_id": cid, "id": child.get("id"),
                         "value": bool(value)}
                    )  # fmt: skip
            if not submitted:
                continue
            if top.get("type") == 18:
                components.append({"type": 18, "component": submitted[0]})
            else:
                components.append({"type": 1, "components": submitted})
        if shown is not None and remaining:
            raise ValueError(f"modal {custom_id!r} has no text inputs {sorted(remaining)}")
        for cid, value in remaining.items():
            components.append(
                {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
            )
        data = {"custom_id": custom_id, "components": components}
        record = self._envelope(5, user, channel, data, message=message)
        record.custom_id = custom_id
        return record


def iter_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for component in components:
        out.append(component)
        out.extend(iter_components(component.get("components") or []))
        child = component.get("component")  # a label's one component
        if isinstance(child, dict):
            out.extend(iter_components([child]))
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            out.append(accessory)
    return out


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for component in iter_components(components):
        if component.get("custom_id") == custom_id:
            return component
    return None


def offered_in_bot_dms(command: dict[str, Any]) -> bool:
    """Discord shows a global command in the bot's DMs when its ``contexts`` include BOT_DM (1),
    or, without ``contexts``, unless ``dm_permission`` is false."""
    contexts = command.get("contexts")
    if contexts is not None:
        return 1 in contexts
    return command.get("dm_permission", True) is not False
