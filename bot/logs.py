"""Logging, configured once by the composition root: a level and a format (LOG_FORMAT: text, or
json with one object a line) from settings, secrets scrubbed in both.

A JSON line has ``time``, ``level``, ``logger`` and ``message``, then the ids of what it is about
where they apply (``generation_id``, ``request_id``, ``guild_id``, ``channel_id``, ``user_id``:
set by the code handling a job or a request, see bot.core.log_context, or passed with
``extra=``), and ``exception`` with the traceback. The standard library's logging is enough for
this; a JSON logging package would add a dependency for about thirty lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.core import log_context
from bot.core.ports import StoreUnavailable

TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
REDACTED = "[redacted]"


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(RedactingFormatter(formatter, settings.secrets))
    handler.addFilter(RedactSecrets(settings.secrets))
    handler.addFilter(DatabaseOutageInOneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("discord.http").setLevel(logging.WARNING)


class RedactSecrets(logging.Filter):
    """Replaces any configured secret in a log record with a placeholder (defence in depth)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


class DatabaseOutageInOneLine(logging.Filter):
    """While the database is unreachable every background loop fails the same way: each says
    so in one warning line (with the driver's reason), not with a traceback an operator must
    scroll through. Other errors keep their tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        outage = _outage(record)
        if outage is not None:
            record.msg = f"{record.getMessage()}: the database cannot be reached ({outage})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _outage(record: logging.LogRecord) -> str | None:
    """The outage a record's exception is about, in a few words; None if it is not one."""
    err = record.exc_info[1] if record.exc_info else None
    if isinstance(err, StoreUnavailable):
        return err.detail
    if err is not None and record.name == _ASYNCPG_POOL and isinstance(err, OSError | TimeoutError):
        return f"{type(err).__name__}: {err}"  # the pool keeping its minimum of connections
    return None


_ASYNCPG_POOL = "asyncpg.pool"


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactingFormatter(logging.Formatter):
    """Wraps the real formatter and scrubs what it wrote: the message, the traceback, the extra
    fields; each secret as written, escaped inside a JSON string, and as repr() shows it."""

    def __init__(self, inner: logging.Formatter, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._inner = inner
        plain = {s for s in secrets if s}
        shown = plain | {repr(s)[1:-1] for s in plain}  # as %r or an exception's repr shows it
        escaped = {json.dumps(s, ensure_ascii=a)[1:-1] for s in shown for a in (True, False)}
        # Longest first, so a secret inside another one cannot leave a piece behind.
        self._secrets = tuple(sorted(shown | escaped, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        return _redact(self._inner.format(record), self._secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ids that apply, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = log_context.current()
        for name in log_context.FIELDS:
            value = getattr(record, name, None)  # extra= wins over the surrounding context
            if value is None:
                value = context.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
