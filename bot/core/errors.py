"""Errors the person who typed a command should see, and the table from Oxen errors to words."""

from __future__ import annotations

import logging

from bot.oxen import (
    AuthenticationError,
    BadRequest,
    InsufficientCredits,
    NotFound,
    OxenConnectionError,
    OxenError,
    OxenStatusError,
    OxenTimeout,
    RateLimited,
    ServerError,
)

log = logging.getLogger(__name__)


class UserFacingError(Exception):
    """An error whose text is written for the person who ran the command (shown ephemeral)."""


STORE_UNREACHABLE = (
    "I can't reach my database right now, so I couldn't do that. Nothing is lost: images "
    "already on their way still arrive. Please try again in a minute."
)


OXEN_BUSY = (
    "Oxen is busy right now and didn't take the request, so nothing was queued. "
    "Please try again in a minute."
)
OXEN_UNREACHABLE = (
    "I can't reach Oxen right now, so nothing was queued. Please try again in a minute."
)
OXEN_UNKNOWN_OUTCOME = (
    "Oxen didn't answer in time, so I can't tell whether your image was queued. "
    "If nothing arrives here in a few minutes, run the command again."
)
MISCONFIGURED = (
    "This bot is misconfigured: Oxen refused its API key, so it can't make images right now. "
    "Please tell a server admin."
)
NO_CREDITS = (
    "The Oxen account behind this bot is out of credits, so it can't make images right now. "
    "Please tell the bot's owner."
)


def explain_oxen_error(err: OxenError) -> str:
    """Words for the requester; the admin-facing detail goes to the log."""
    match err:
        case InsufficientCredits():
            log.error("Oxen says the account is out of credits: top up at https://oxen.ai")
            return NO_CREDITS
        case AuthenticationError():
            log.error(
                "Oxen refused OXEN_API_KEY (HTTP %s): put a valid key from "
                "https://oxen.ai/settings/profile in .env and restart the bot",
                err.status,
            )
            return MISCONFIGURED
        case RateLimited() | ServerError():
            return OXEN_BUSY
        case OxenTimeout():
            return OXEN_UNKNOWN_OUTCOME
        case OxenConnectionError():
            return OXEN_UNREACHABLE
        case NotFound() | BadRequest():
            return f"Oxen refused the request: {err.message}"
        case OxenStatusError():
            return f"Oxen refused the request (HTTP {err.status}): {err.message}"
        case _:
            return OXEN_UNREACHABLE
