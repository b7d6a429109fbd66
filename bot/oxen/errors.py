"""Exceptions raised by the Oxen client.

Callers catch meaning (``RateLimited``, ``NotFound``), not numbers. No exception text ever
contains request headers, so the API key cannot leak through ``str(err)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "DownloadError",
    "DownloadTooLarge",
    "InsufficientCredits",
    "NotAnAllowedURL",
    "NotFound",
    "OxenConnectionError",
    "OxenError",
    "OxenStatusError",
    "OxenTimeout",
    "RateLimited",
    "ResultExpired",
    "ServerError",
    "UnexpectedResponse",
    "error_from_response",
    "extract_error",
]

# Long non-JSON bodies (HTML error pages) are cut so messages stay readable.
_MAX_TEXT_MESSAGE = 300


class OxenError(Exception):
    """Base class of everything the Oxen client raises."""


class OxenStatusError(OxenError):
    """Oxen answered with an error status (or an error body)."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        body: object = None,
    ) -> None:
        self.status = status
        self.message = message
        self.error_type = error_type
        self.body = body
        label = f"HTTP {status}" + (f" {error_type}" if error_type else "")
        super().__init__(f"{label}: {message}")


class BadRequest(OxenStatusError):
    """400/422: the request was rejected (invalid params, unknown media type...)."""


class AuthenticationError(OxenStatusError):
    """401/403: missing, invalid or insufficient API key."""


class NotFound(OxenStatusError):
    """404: unknown generation or model."""


class RateLimited(OxenStatusError):
    """429: slow down; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        body: object = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, error_type, body)
        self.retry_after = retry_after


class ServerError(OxenStatusError):
    """5xx: Oxen failed; usually worth retrying later."""


class InsufficientCredits(OxenStatusError):
    """The account (or target namespace) has no credits left; any status."""


class UnexpectedResponse(OxenError):
    """A success status with a body we cannot understand."""


class OxenConnectionError(OxenError):
    """Could not talk to Oxen (refused, reset, disconnected)."""


class OxenTimeout(OxenConnectionError):
    """Oxen did not answer in time."""


class DownloadError(OxenError):
    """Fetching a result file failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DownloadTooLarge(DownloadError):
    """The result file is bigger than the caller allowed."""


class ResultExpired(DownloadError):
    """The (presigned) result URL no longer works: 403/404/410."""


class NotAnAllowedURL(DownloadError):
    """Only http(s) URLs are downloaded."""


def _first_str(*candidates: object) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def extract_error(body: object) -> tuple[str | None, str | None]:
    """Return ``(message, error_type)`` from any of Oxen's error body shapes.

    Format A: ``{"error": {"type", "title", "detail"}, "status": "error", "status_message"}``;
    format B: ``{"error": {"message"}}``; also ``{"error": "text"}`` and ``error_message``.
    The most specific human text wins: detail, then message, then title, then status_message.
    """
    if isinstance(body, str):
        text = body.strip()
        return (text[:_MAX_TEXT_MESSAGE] or None), None
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    error_type: str | None = None
    message: str | None = None
    if isinstance(error, Mapping):
        error_type = _first_str(error.get("type"))
        message = _first_str(error.get("detail"), error.get("message"), error.get("title"))
    elif isinstance(error, str):
        message = _first_str(error)
    if message is None:
        message = _first_str(
            body.get("error_message"),
            body.get("status_description"),
            body.get("status_message"),
            body.get("message"),
        )
    if error_type is None:
        status_message = _first_str(body.get("status_message"))
        if status_message is not None and body.get("status") == "error":
            error_type = status_message
    return message, error_type


def _parse_body(raw: bytes | str) -> object:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        parsed: object = json.loads(text)
    except ValueError:
        return text
    return parsed


def error_from_response(
    status: int,
    raw_body: bytes | str,
    *,
    reason: str | None = None,
    retry_after: float | None = None,
    redact: str | None = None,
) -> OxenStatusError:
    """Build the right exception for an error answer.

    ``redact`` is a secret (the API key) scrubbed from the message in case a server
    ever echoes it back.
    """
    body = _parse_body(raw_body)
    message, error_type = extract_error(body)
    if message is None:
        message = reason or f"HTTP {status}"
    if redact:
        message = message.replace(redact, "[redacted]")
    return _classify(status, message, error_type, body, retry_after)


def _classify(
    status: int,
    message: str,
    error_type: str | None,
    body: object,
    retry_after: float | None,
) -> OxenStatusError:
    lowered = message.lower()
    if "insufficient credits" in lowered or "insufficient_credits" in lowered:
        return InsufficientCredits(status, message, error_type, body)
    if status in (400, 422):
        return BadRequest(status, message, error_type, body)
    if status in (401, 403):
        return AuthenticationError(status, message, error_type, body)
    if status == 404:
        return NotFound(status, message, error_type, body)
    if status == 429:
        return RateLimited(status, message, error_type, body, retry_after=retry_after)
    if status >= 500:
        return ServerError(status, message, error_type, body)
    return OxenStatusError(status, message, error_type, body)


def error_from_body(status: int, body: Mapping[str, Any]) -> OxenStatusError:
    """An error carried inside a success answer (e.g. 200 with empty ``generations``)."""
    message, error_type = extract_error(body)
    text = message or "Oxen returned no result"
    lowered = text.lower()
    if "insufficient credits" in lowered or "insufficient_credits" in lowered:
        return InsufficientCredits(status, text, error_type, body)
    return BadRequest(status, text, error_type, body)
