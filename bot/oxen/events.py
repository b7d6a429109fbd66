"""Server-Sent Events: a small spec-following parser and the completion-event stream.

Oxen's ``GET /api/events`` pushes ``media_generation_completed`` events, keep-alive
comments every 15 s, and maybe unrelated event types. There is no replay: the caller
reconnects and reconciles by polling, so this module has no reconnect logic.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp

from .errors import OxenConnectionError, OxenTimeout
from .models import CompletionEvent

log = logging.getLogger(__name__)

__all__ = [
    "COMPLETION_EVENT",
    "EventStream",
    "SSEDecoder",
    "ServerSentEvent",
]

COMPLETION_EVENT = "media_generation_completed"
_READ_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental SSE decoder (WHATWG "event stream interpretation").

    Handles CRLF, CR and LF line ends (also split across chunks), ``field:value`` with or
    without the space after the colon, multi-line ``data``, comments, and dispatch on a
    blank line. Feed bytes as they arrive; complete events come out.
    """

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._skip_lf = False  # last chunk ended in CR; a leading LF belongs to it
        self._first = True
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._text.decode(chunk)
        if self._first and text:
            self._first = False
            text = text.removeprefix("\ufeff")
        return self._lines(text)

    def _lines(self, text: str) -> list[ServerSentEvent]:
        buf = self._buffer + text
        if self._skip_lf and buf:
            self._skip_lf = False
            if buf[0] == "\n":
                buf = buf[1:]
        events: list[ServerSentEvent] = []
        start = 0
        length = len(buf)
        while start < length:
            cr = buf.find("\r", start)
            lf = buf.find("\n", start)
            if cr == -1 and lf == -1:
                break
            end = lf if cr == -1 else cr if lf == -1 else min(cr, lf)
            line = buf[start:end]
            if buf[end] == "\r":
                if end + 1 < length:
                    start = end + 2 if buf[end + 1] == "\n" else end + 1
                else:
                    start = end + 1
                    self._skip_lf = True
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buf[start:]
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment, e.g. ": keep-alive"
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        # Unknown fields are ignored, as the spec says.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(
            event=event or "message", data="\n".join(data), id=self._id, retry=self._retry
        )


def parse_completion(sse: ServerSentEvent) -> CompletionEvent | None:
    """The completion event in ``sse``, or None for other events and malformed data."""
    if sse.event != COMPLETION_EVENT:
        log.debug("ignoring SSE event type %r", sse.event)
        return None
    try:
        payload = json.loads(sse.data)
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return CompletionEvent.from_json(payload)
    except ValueError as err:
        log.warning("ignoring malformed %s event: %s", COMPLETION_EVENT, err)
        return None


class EventStream:
    """``async with client.open_events() as stream: async for event in stream: ...``

    When the ``async with`` body starts, the response headers have arrived, so the
    subscription is live. Iteration ends when the server closes the stream; a silent
    stream for longer than ``idle_timeout`` raises ``OxenTimeout``.
    """

    def __init__(
        self,
        opener: Callable[[], Awaitable[aiohttp.ClientResponse]],
        *,
        idle_timeout: float,
    ) -> None:
        self._opener = opener
        self._idle_timeout = idle_timeout
        self._response: aiohttp.ClientResponse | None = None
        self._decoder = SSEDecoder()
        self._pending: deque[CompletionEvent] = deque()
        self._finished = False

    async def __aenter__(self) -> Self:
        if self._response is not None:
            raise RuntimeError("EventStream is already open")
        self._response = await self._opener()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._finished = True
        if self._response is not None:
            # The body was not read to the end: drop the connection, don't pool it.
            self._response.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CompletionEvent:
        if self._response is None:
            raise RuntimeError("use 'async with client.open_events() as stream' first")
        while not self._pending:
            if self._finished:
                raise StopAsyncIteration
            chunk = await self._read()
            if not chunk:
                self._finished = True
                raise StopAsyncIteration
            for sse in self._decoder.feed(chunk):
                event = parse_completion(sse)
                if event is not None:
                    self._pending.append(event)
        return self._pending.popleft()

    async def _read(self) -> bytes:
        assert self._response is not None
        try:
            async with asyncio.timeout(self._idle_timeout):
                return await self._response.content.readany()
        except TimeoutError as err:
            self._finished = True
            raise OxenTimeout(
                f"event stream was silent for more than {self._idle_timeout:g}s"
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            self._finished = True
            raise OxenConnectionError(f"event stream broke: {type(err).__name__}") from err
