"""Discord's JSON error shape and the error codes the stand-in uses."""

from __future__ import annotations

from typing import Any

# JSON error codes (topics/opcodes-and-status-codes).
GENERAL = 0
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MAX_ATTACHMENTS = 30015
UNAUTHORIZED = 40001
REQUEST_TOO_LARGE = 40005
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
CANNOT_SEND_TO_USER = 50007
WRONG_CHANNEL_TYPE = 50024
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
THREAD_ARCHIVED = 50083


class DiscordError(Exception):
    """An error answer in Discord's format: ``{"message", "code", "errors"?}``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def unauthorized() -> DiscordError:
    return DiscordError(401, GENERAL, "401: Unauthorized")


def not_found() -> DiscordError:
    return DiscordError(404, GENERAL, "404: Not Found")


def unknown_channel() -> DiscordError:
    return DiscordError(404, UNKNOWN_CHANNEL, "Unknown Channel")


def unknown_guild() -> DiscordError:
    return DiscordError(404, UNKNOWN_GUILD, "Unknown Guild")


def unknown_member() -> DiscordError:
    return DiscordError(404, UNKNOWN_MEMBER, "Unknown Member")


def unknown_message() -> DiscordError:
    return DiscordError(404, UNKNOWN_MESSAGE, "Unknown Message")


def unknown_user() -> DiscordError:
    return DiscordError(404, UNKNOWN_USER, "Unknown User")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")


def unknown_interaction() -> DiscordError:
    return DiscordError(404, UNKNOWN_INTERACTION, "Unknown interaction")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")


def missing_access() -> DiscordError:
    return DiscordError(403, MISSING_ACCESS, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, MISSING_PERMISSIONS, "Missing Permissions")


def cannot_send_to_user() -> DiscordError:
    return DiscordError(403, CANNOT_SEND_TO_USER, "Cannot send messages to this user")


def thread_archived() -> DiscordError:
    return DiscordError(400, THREAD_ARCHIVED, "Thread is archived")


def wrong_channel_type() -> DiscordError:
    return DiscordError(400, WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")


def request_too_large() -> DiscordError:
    return DiscordError(413, REQUEST_TOO_LARGE, "Request entity too large")


def too_many_attachments() -> DiscordError:
    return DiscordError(
        400, MAX_ATTACHMENTS, "Maximum number of attachments in a message reached (10)"
    )


def invalid_form_body(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def field_error(code: str, message: str) -> dict[str, Any]:
    """One leaf of an ``errors`` tree: ``{"_errors": [{"code", "message"}]}``."""
    return {"_errors": [{"code": code, "message": message}]}
