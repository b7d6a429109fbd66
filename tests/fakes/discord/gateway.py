"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME and event dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .records import GatewayEvent
from .sharding import Shard, ShardPolicy, event_guild, receives

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0,
    1,
    2,
    6,
    7,
    9,
    10,
    11,
)

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15


def required_intent(name: str, data: dict[str, Any]) -> int:
    """The intent a dispatch needs (0 = always sent)."""
    in_guild = "guild_id" in data
    if name.startswith("MESSAGE_REACTION"):
        return INTENT_GUILD_MESSAGE_REACTIONS if in_guild else INTENT_DIRECT_MESSAGE_REACTIONS
    if name.startswith("MESSAGE_"):
        return INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
    if name.startswith("GUILD_MEMBER"):
        return INTENT_GUILD_MEMBERS
    if name.startswith(("GUILD_", "CHANNEL_", "THREAD_")):
        return INTENT_GUILDS
    return 0


@dataclass
class GatewaySession:
    """One identified session; events are kept so a RESUME can replay them."""

    session_id: str
    intents: int
    events: list[GatewayEvent] = field(default_factory=list)
    connections: int = 0
    resumes: int = 0
    invalidated: bool = False
    identify: dict[str, Any] = field(default_factory=dict)
    initial_seq: int = 0  # READY + the GUILD_CREATEs that follow IDENTIFY
    ready_sent: bool = False
    live: bool = False
    shard: Shard | None = None  # the IDENTIFY's [shard_id, num_shards], None if unsharded

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    def receives(self, guild_id: int | None) -> bool:
        """Whether an event about ``guild_id`` (None: DMs etc.) is routed to this session."""
        return receives(self.shard, guild_id)

    @property
    def seq(self) -> int:
        return len(self.events)

    def names(self) -> list[str]:
        return [e.name for e in self.events]


class _Connection:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: GatewaySession | None = None
        self.sent = 0
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.heartbeats = 0

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(payload))


class Gateway:
    """Serves ``/gateway``. ``ready_payload``/``guild_payloads`` come from the facade."""

    def __init__(
        self,
        *,
        token: str,
        ready_payload: Callable[[GatewaySession], dict[str, Any]],
        guild_payloads: Callable[[GatewaySession], list[dict[str, Any]]],
        heartbeat_interval_ms: int = 41250,
        sharding: ShardPolicy | None = None,
        guild_ids: Callable[[], list[int]] = list,
    ) -> None:
        self.token = token
        self.sharding = sharding or ShardPolicy()
        self._guild_ids = guild_ids
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self.sessions: list[GatewaySession] = []
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self.received: list[dict[str, Any]] = []

    # -- public --

    @property
    def current(self) -> GatewaySession | None:
        live = [c.session for c in self._connections if c.session and not c.ws.closed]
        return live[-1] if live else None

    def dispatch(self, name: str, data: dict[str, Any]) -> None:
        """Queue an event on every session of the right shard (sent now, or replayed on
        RESUME): a guild's events go to its shard, guild-less ones to shard 0."""
        need = required_intent(name, data)
        guild_id = event_guild(name, data)
        for session in self.sessions:
            if session.invalidated or (need and not session.intents & need):
                continue
            if session.receives(guild_id):
                self._append(session, name, data)

    async def disconnect(self, code: int = 4000) -> None:
        """Drop every connection as a network failure would; sessions stay resumable."""
        for conn in list(self._connections):
            await conn.ws.close(code=code, message=b"fake disconnect")
        self.connected.clear()

    async def close(self) -> None:
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- internals --

    def _append(self, session: GatewaySession, name: str, data: dict[str, Any]) -> None:
        session.events.append(GatewayEvent(seq=session.seq + 1, name=name, data=data))
        for conn in self._connections:
            if conn.session is session:
                conn.wake.set()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _writer(self, conn: _Connection) -> None:
        while not conn.ws.closed:
            await conn.wake.wait()
            conn.wake.clear()
            session = conn.session
            while session is not None and conn.sent < session.seq and not conn.ws.closed:
                event = session.events[conn.sent]
                await conn.send({"op": DISPATCH, "t": event.name, "s": event.seq, "d": event.data})
                conn.sent += 1
                if conn.sent >= session.initial_seq:
                    session.ready_sent = True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.add(conn)
        writer = self._spawn(self._writer(conn))
        try:
            await conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                self.received.append(payload)
                await self._on_message(conn, payload)
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(conn)
            if conn.session is not None and not any(
                c.session is conn.session for c in self._connections
            ):
                conn.session.live = False
            writer.cancel()
            if not ws.closed:
                await ws.close()
            if not self._connections:
                self.connected.clear()
        return ws

    async def _on_message(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == HEARTBEAT:
            conn.heartbeats += 1
            await conn.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            if not isinstance(data, dict) or data.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            admission = self.sharding.admit(data.get("shard"), self._guild_ids())
            if admission.close_code is not None:
                await conn.ws.close(
                    code=admission.close_code, message=admission.close_reason.encode()
                )
                return
            if admission.invalid_session:
                # Identifying too fast: Discord answers Invalid Session (not resumable).
                await conn.send({"op": INVALID_SESSION, "d": False})
                return
            session = GatewaySession(
                session_id=secrets.token_hex(16),
                intents=int(data.get("intents", 0)),
                identify=data,
                shard=admission.shard,
            )
            session.connections = 1
            self.sessions.append(session)
            conn.session = session
            self._append(session, "READY", self._ready_payload(session))
            for guild in self._guild_payloads(session):
                self._append(session, "GUILD_CREATE", guild)
            session.initial_seq = session.seq
            session.live = True
            self.connected.set()
        elif op == RESUME:
            data = data or {}
            found = next((s for s in self.sessions if s.session_id == data.get("session_id")), None)
            if data.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            if found is None or found.invalidated:
                await conn.send({"op": INVALID_SESSION, "d": False})
                return
            found.resumes += 1
            found.connections += 1
            conn.sent = min(int(data.get("seq") or 0), found.seq)
            conn.session = found
            found.live = True
            self._append(found, "RESUMED", {})
            self.connected.set()
        elif op in (3, 4, 8):  # presence, voice state, request guild members
            pass
        else:
            log.debug("fake gateway ignoring op %s", op)
