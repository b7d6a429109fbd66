"""The job store: every generation Oxen accepted, tracked until its outcome reaches Discord.

aiosqlite runs SQLite on its own thread; one connection is the single writer. The schema is
versioned with ``PRAGMA user_version`` and migrated forward step by step at open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from bot.guild_settings import GuildSettings, Usage


class JobStatus(StrEnum):
    PENDING = "pending"  # Oxen has not reached a terminal state (as far as we know)
    DELIVERING = "delivering"  # outcome known, posting to Discord in progress (intent recorded)
    DELIVERED = "delivered"  # the outcome (image, error or cancellation) is in Discord
    UNDELIVERABLE = "undeliverable"  # every way to tell the requester failed; logged with ids

    @property
    def is_open(self) -> bool:
        return self in (JobStatus.PENDING, JobStatus.DELIVERING)


@dataclass(frozen=True)
class NewJob:
    generation_id: str
    channel_id: int
    requester_id: int
    prompt: str
    model: str
    guild_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    batch_index: int = 0
    batch_size: int = 1
    status_message_id: int | None = None
    upload_limit: int | None = None  # the channel's attachment_size_limit at request time
    request_id: str | None = None  # groups one request's generations; the first generation id


@dataclass(frozen=True)
class Job:
    generation_id: str
    guild_id: int | None
    channel_id: int
    requester_id: int
    status_message_id: int | None
    prompt: str
    model: str
    params: dict[str, Any]
    batch_index: int
    batch_size: int
    status: JobStatus
    outcome: str | None  # Oxen's terminal status once known
    result_url: str | None
    error: str | None
    attempts: int
    result_message_id: int | None
    created_at: float
    updated_at: float
    finished_at: float | None
    upload_limit: int | None
    request_id: str  # the first generation id of the request this job belongs to
    started_at: float | None  # when Oxen started processing it (Unix seconds), once seen

    @property
    def is_processing(self) -> bool:
        return self.started_at is not None


@dataclass(frozen=True)
class Order:
    """A checked request, ready for Oxen: sent at once, or kept in the waiting line until the
    bot's cap on generations in flight (MAX_GENERATIONS_IN_FLIGHT) leaves room."""

    guild_id: int | None
    channel_id: int
    requester_id: int
    prompt: str
    model: str
    params: dict[str, Any]
    count: int = 1
    upload_limit: int | None = None


LINE_PREFIX = "line-"  # request ids of requests that waited in line: line-<waiting id>


@dataclass(frozen=True)
class Waiting:
    """A request in the bot's own waiting line (oldest first, kept across restarts)."""

    id: int
    order: Order
    status_message_id: int | None
    created_at: float

    @property
    def request_id(self) -> str:
        return f"{LINE_PREFIX}{self.id}"

    @property
    def guild_id(self) -> int | None:
        return self.order.guild_id

    @property
    def channel_id(self) -> int:
        return self.order.channel_id

    @property
    def requester_id(self) -> int:
        return self.order.requester_id

    @property
    def prompt(self) -> str:
        return self.order.prompt


def waiting_id(request_id: str) -> int | None:
    """The waiting line id behind a ``line-<id>`` request id, else None."""
    number = request_id.removeprefix(LINE_PREFIX)
    return int(number) if request_id.startswith(LINE_PREFIX) and number.isdigit() else None


@dataclass(frozen=True)
class InterruptedEnqueue:
    """A prompt that was being sent to Oxen when the bot stopped: its outcome is unknown."""

    id: int
    guild_id: int | None
    channel_id: int
    requester_id: int
    prompt: str
    request_id: str | None = None  # set when it came from the waiting line
    status_message_id: int | None = None


_MIGRATIONS: tuple[str, ...] = (
    # v1: jobs and a small key/value table (command sync hash, ...)
    """
    CREATE TABLE jobs (
        generation_id     TEXT PRIMARY KEY,
        guild_id          INTEGER,
        channel_id        INTEGER NOT NULL,
        requester_id      INTEGER NOT NULL,
        status_message_id INTEGER,
        prompt            TEXT NOT NULL,
        model             TEXT NOT NULL,
        params            TEXT NOT NULL DEFAULT '{}',
        batch_index       INTEGER NOT NULL DEFAULT 0,
        batch_size        INTEGER NOT NULL DEFAULT 1,
        status            TEXT NOT NULL,
        outcome           TEXT,
        result_url        TEXT,
        error             TEXT,
        attempts          INTEGER NOT NULL DEFAULT 0,
        result_message_id INTEGER,
        created_at        REAL NOT NULL,
        updated_at        REAL NOT NULL,
        finished_at       REAL,
        upload_limit      INTEGER
    );
    CREATE INDEX jobs_open ON jobs (status) WHERE status IN ('pending', 'delivering');
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # v2: prompts being sent to Oxen; a row left behind by a crash means the outcome is unknown
    """
    CREATE TABLE enqueues (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id     INTEGER,
        channel_id   INTEGER NOT NULL,
        requester_id INTEGER NOT NULL,
        prompt       TEXT NOT NULL,
        started_at   REAL NOT NULL
    );
    """,
    # v3: requests (a batch's generations share request_id), Oxen's start time for progress
    """
    ALTER TABLE jobs ADD COLUMN request_id TEXT;
    UPDATE jobs SET request_id = generation_id;
    ALTER TABLE jobs ADD COLUMN started_at REAL;
    CREATE INDEX jobs_request ON jobs (request_id);
    CREATE INDEX jobs_guild_open ON jobs (guild_id, created_at)
        WHERE status IN ('pending', 'delivering');
    """,
    # v4: per-server settings (JSON, see bot.guild_settings); usage is counted from jobs
    """
    CREATE TABLE guild_settings (guild_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
    CREATE INDEX jobs_usage ON jobs (guild_id, requester_id, created_at);
    """,
    # v5: the bot's own waiting line, for requests beyond the cap on generations in flight
    """
    CREATE TABLE waiting (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id          INTEGER,
        channel_id        INTEGER NOT NULL,
        requester_id      INTEGER NOT NULL,
        prompt            TEXT NOT NULL,
        model             TEXT NOT NULL,
        params            TEXT NOT NULL,
        count             INTEGER NOT NULL,
        upload_limit      INTEGER,
        status_message_id INTEGER,
        created_at        REAL NOT NULL
    );
    CREATE INDEX waiting_user ON waiting (guild_id, requester_id);
    -- a request leaving the line keeps its status message while it is being sent
    ALTER TABLE enqueues ADD COLUMN request_id TEXT;
    ALTER TABLE enqueues ADD COLUMN status_message_id INTEGER;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = (
    "generation_id, guild_id, channel_id, requester_id, status_message_id, prompt, model, params, "
    "batch_index, batch_size, status, outcome, result_url, error, attempts, result_message_id, "
    "created_at, updated_at, finished_at, upload_limit, request_id, started_at"
)


class JobStore:
    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> JobStore:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, clock)

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        return await _user_version(self._db)

    # --- jobs -------------------------------------------------------------------------------

    async def add_jobs(self, jobs: Iterable[NewJob]) -> None:
        await self._insert_jobs(jobs)
        await self._db.commit()

    async def _insert_jobs(self, jobs: Iterable[NewJob]) -> None:
        now = self._clock()
        rows = [
            (
                j.generation_id,
                j.guild_id,
                j.channel_id,
                j.requester_id,
                j.status_message_id,
                j.prompt,
                j.model,
                json.dumps(j.params, sort_keys=True),
                j.batch_index,
                j.batch_size,
                JobStatus.PENDING.value,
                now,
                now,
                j.upload_limit,
                j.request_id or j.generation_id,
            )
            for j in jobs
        ]
        await self._db.executemany(
            "INSERT INTO jobs (generation_id, guild_id, channel_id, requester_id, "
            "status_message_id, prompt, model, params, batch_index, batch_size, status, "
            "created_at, updated_at, upload_limit, request_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    async def get(self, generation_id: str) -> Job | None:
        async with self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE generation_id = ?", (generation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _job(row) if row else None

    async def open_jobs(self) -> list[Job]:
        """Jobs whose outcome has not reached Discord yet, oldest first."""
        async with self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE status IN ('pending', 'delivering') "
            "ORDER BY created_at, batch_index"
        ) as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]

    async def request_jobs(self, request_id: str) -> list[Job]:
        """Every generation of one request, in batch order."""
        return await self._select("WHERE request_id = ? ORDER BY batch_index", (request_id,))

    async def queued_in_guild(self, guild_id: int | None) -> list[Job]:
        """This server's jobs that Oxen has not started yet, oldest first (our own queue order)."""
        return await self._select(
            "WHERE guild_id IS ? AND status = 'pending' AND started_at IS NULL "
            "ORDER BY created_at, batch_index",
            (guild_id,),
        )

    async def queue_position(self, request_id: str) -> int | None:
        """1 + the server's not-yet-started generations asked before this request (a COUNT, so
        a /imagine stays cheap with thousands pending); None once the request has started."""
        async with self._db.execute(
            "SELECT me.guild_id, me.created_at, me.started_at FROM jobs AS me "
            "WHERE me.request_id = ? ORDER BY me.batch_index LIMIT 1",
            (request_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[2] is not None:
            return None
        async with self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND status = 'pending' "
            "AND started_at IS NULL AND created_at < ? AND request_id != ?",
            (row[0], row[1], request_id),
        ) as cursor:
            ahead = await cursor.fetchone()
        return 1 + (int(ahead[0]) if ahead else 0)

    async def pending_for_user(self, guild_id: int | None, requester_id: int) -> list[Job]:
        """The requester's unfinished generations in this server, oldest first."""
        return await self._select(
            "WHERE guild_id IS ? AND requester_id = ? AND status = 'pending' "
            "ORDER BY created_at, batch_index",
            (guild_id, requester_id),
        )

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        async with self._db.execute(f"SELECT {_COLUMNS} FROM jobs {where}", args) as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]

    async def set_started(self, started_at: Mapping[str, float]) -> None:
        """When Oxen started each generation (Unix seconds)."""
        await self._db.executemany(
            "UPDATE jobs SET started_at = ?, updated_at = ? WHERE generation_id = ?",
            [(since, self._clock(), gid) for gid, since in started_at.items()],
        )
        await self._db.commit()

    async def open_in_request(self, request_id: str) -> int:
        """How many of the request's generations are still unfinished."""
        async with self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE request_id = ? "
            "AND status IN ('pending', 'delivering')",
            (request_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def generations_in_flight(self) -> int:
        """Generations Oxen is (as far as we know) still working on, for the whole bot."""
        async with self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def set_status_message(self, request_id: str, message_id: int) -> None:
        """The request's status message, whether it is still waiting in line or at Oxen."""
        await self._db.execute(
            "UPDATE jobs SET status_message_id = ?, updated_at = ? WHERE request_id = ?",
            (message_id, self._clock(), request_id),
        )
        if (line_id := waiting_id(request_id)) is not None:
            # Wherever the request is now: in line, or being sent (end_enqueue copies it over).
            await self._db.execute(
                "UPDATE waiting SET status_message_id = ? WHERE id = ?", (message_id, line_id)
            )
            await self._db.execute(
                "UPDATE enqueues SET status_message_id = ? WHERE request_id = ?",
                (message_id, request_id),
            )
        await self._db.commit()

    async def record_outcome(
        self, generation_id: str, outcome: str, *, result_url: str | None, error: str | None
    ) -> None:
        """Record Oxen's terminal state and the intent to deliver it (before posting)."""
        await self._update_many(
            [generation_id],
            "status = ?, outcome = ?, result_url = ?, error = ?",
            (JobStatus.DELIVERING.value, outcome, result_url, error),
        )

    async def mark_delivered(self, generation_id: str, message_id: int | None) -> None:
        await self._update_many(
            [generation_id],
            "status = ?, result_message_id = ?, finished_at = ?",
            (JobStatus.DELIVERED.value, message_id, self._clock()),
        )

    async def mark_undeliverable(self, generation_id: str, reason: str) -> None:
        await self._update_many(
            [generation_id],
            "status = ?, error = ?, finished_at = ?",
            (JobStatus.UNDELIVERABLE.value, reason, self._clock()),
        )

    async def record_attempt(self, generation_id: str) -> int:
        """Count a failed attempt to finish this job; returns the new count."""
        await self._update_many([generation_id], "attempts = attempts + 1", ())
        async with self._db.execute(
            "SELECT attempts FROM jobs WHERE generation_id = ?", (generation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _update_many(
        self, generation_ids: Sequence[str], assignments: str, values: tuple[Any, ...]
    ) -> None:
        await self._db.executemany(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE generation_id = ?",
            [(*values, self._clock(), gid) for gid in generation_ids],
        )
        await self._db.commit()

    # --- enqueue intents ------------------------------------------------------------------------

    async def begin_enqueue(
        self, *, guild_id: int | None, channel_id: int, requester_id: int, prompt: str
    ) -> int:
        """Record that a prompt is about to be sent to Oxen (before the request leaves)."""
        cursor = await self._db.execute(
            "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, channel_id, requester_id, prompt, self._clock()),
        )
        await self._db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def end_enqueue(self, enqueue_id: int, jobs: Iterable[NewJob] = ()) -> None:
        """Outcome known: store the accepted jobs (if any) and drop the intent, atomically. A
        status message attached while the request was being sent is carried over."""
        await self._insert_jobs(jobs)
        async with self._db.execute(
            "SELECT request_id, status_message_id FROM enqueues WHERE id = ?", (enqueue_id,)
        ) as cursor:
            intent = await cursor.fetchone()
        if intent is not None and intent[1] is not None:
            await self._db.execute(
                "UPDATE jobs SET status_message_id = ? "
                "WHERE request_id = ? AND status_message_id IS NULL",
                (intent[1], intent[0]),
            )
        await self._db.execute("DELETE FROM enqueues WHERE id = ?", (enqueue_id,))
        await self._db.commit()

    async def interrupted_enqueues(self) -> list[InterruptedEnqueue]:
        return await self._select_enqueues("ORDER BY id", ())

    async def enqueue_for_request(self, request_id: str) -> InterruptedEnqueue | None:
        """The request, if it is being sent to Oxen from the waiting line right now."""
        found = await self._select_enqueues("WHERE request_id = ?", (request_id,))
        return found[0] if found else None

    async def _select_enqueues(self, where: str, args: tuple[Any, ...]) -> list[InterruptedEnqueue]:
        async with self._db.execute(
            "SELECT id, guild_id, channel_id, requester_id, prompt, request_id, status_message_id "
            f"FROM enqueues {where}",
            args,
        ) as cursor:
            rows = await cursor.fetchall()
        return [InterruptedEnqueue(*row) for row in rows]

    async def forget_enqueue(self, enqueue_id: int) -> None:
        await self._db.execute("DELETE FROM enqueues WHERE id = ?", (enqueue_id,))
        await self._db.commit()

    # --- the waiting line -----------------------------------------------------------------------

    async def add_waiting(self, order: Order) -> Waiting:
        now = self._clock()
        cursor = await self._db.execute(
            "INSERT INTO waiting (guild_id, channel_id, requester_id, prompt, model, params, "
            "count, upload_limit, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (*_order_row(order), now),
        )
        await self._db.commit()
        assert cursor.lastrowid is not None
        return Waiting(cursor.lastrowid, order, None, now)

    async def waiting_line(self, limit: int = -1) -> list[Waiting]:
        """The line, first in line first."""
        return await self._select_waiting("ORDER BY id LIMIT ?", (limit,))

    async def get_waiting(self, line_id: int) -> Waiting | None:
        found = await self._select_waiting("WHERE id = ?", (line_id,))
        return found[0] if found else None

    async def waiting_for_user(self, guild_id: int | None, requester_id: int) -> list[Waiting]:
        return await self._select_waiting(
            "WHERE guild_id IS ? AND requester_id = ? ORDER BY id", (guild_id, requester_id)
        )

    async def waiting_position(self, line_id: int) -> int:
        """1 for the first in line."""
        async with self._db.execute("SELECT COUNT(*) FROM waiting WHERE id <= ?", (line_id,)) as c:
            row = await c.fetchone()
        return int(row[0]) if row else 0

    async def waiting_count(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM waiting") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def take_waiting(self, waiting: Waiting) -> int | None:
        """Move a request from the line to an enqueue intent in one transaction (a crash then
        tells the requester, and never sends it twice). None: it left the line (cancelled)."""
        cursor = await self._db.execute("DELETE FROM waiting WHERE id = ?", (waiting.id,))
        if cursor.rowcount == 0:
            await self._db.commit()
            return None
        order = waiting.order
        cursor = await self._db.execute(
            "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
            "request_id, status_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (order.guild_id, order.channel_id, order.requester_id, order.prompt, self._clock(),
             waiting.request_id, waiting.status_message_id),
        )  # fmt: skip
        await self._db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def put_back_waiting(self, waiting: Waiting, enqueue_id: int) -> None:
        """Oxen did not take it (busy): back to its old place in line, atomically."""
        await self._db.execute(
            "INSERT OR IGNORE INTO waiting (id, guild_id, channel_id, requester_id, prompt, model, "
            "params, count, upload_limit, status_message_id, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (waiting.id, *_order_row(waiting.order), waiting.status_message_id,
             waiting.created_at),
        )  # fmt: skip
        await self._db.execute("DELETE FROM enqueues WHERE id = ?", (enqueue_id,))
        await self._db.commit()

    async def remove_waiting(self, line_id: int) -> bool:
        """Take a request out of the line (cancelled); False if it already left."""
        cursor = await self._db.execute("DELETE FROM waiting WHERE id = ?", (line_id,))
        await self._db.commit()
        return cursor.rowcount > 0

    async def _select_waiting(self, where: str, args: tuple[Any, ...]) -> list[Waiting]:
        async with self._db.execute(
            "SELECT id, guild_id, channel_id, requester_id, prompt, model, params, count, "
            f"upload_limit, status_message_id, created_at FROM waiting {where}",
            args,
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Waiting(
                row[0],
                Order(row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7], row[8]),
                status_message_id=row[9],
                created_at=row[10],
            )
            for row in rows
        ]

    # --- server settings and usage ---------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        async with self._db.execute(
            "SELECT data FROM guild_settings WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return GuildSettings.from_json(row[0]) if row else GuildSettings()

    async def save_guild_settings(self, guild_id: int, settings: GuildSettings) -> None:
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, data) VALUES (?, ?) "
            "ON CONFLICT(guild_id) DO UPDATE SET data = excluded.data",
            (guild_id, settings.to_json()),
        )
        await self._db.commit()

    async def usage(self, guild_id: int | None, requester_id: int, since: float) -> Usage:
        """The requester's images in flight and since ``since`` (a day's start), and the
        server's images since then (guild None: the requester's DMs). Counted from the jobs
        and the waiting line themselves: nothing to drift."""
        async with self._db.execute(
            # n: images per row (a job is one generation; a waiting request is `count` of them)
            "SELECT SUM(n * open), SUM(n * (created_at >= ?)), MAX(created_at) FROM ("
            "  SELECT 1 AS n, status IN ('pending', 'delivering') AS open, created_at FROM jobs"
            "  WHERE guild_id IS ? AND requester_id = ?"
            "  UNION ALL SELECT count, 1, created_at FROM waiting"
            "  WHERE guild_id IS ? AND requester_id = ?)",
            (since, guild_id, requester_id, guild_id, requester_id),
        ) as cursor:
            mine = await cursor.fetchone()
        async with self._db.execute(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND created_at >= ?) + "
            "(SELECT IFNULL(SUM(count), 0) FROM waiting WHERE guild_id IS ? AND created_at >= ?)",
            (guild_id, since, guild_id, since),
        ) as cursor:
            server = await cursor.fetchone()
        in_flight, today, last = mine if mine else (0, 0, None)
        return Usage(
            in_flight=int(in_flight or 0),
            images_today=int(today or 0),
            last_request_at=last,
            server_images_today=int(server[0]) if server else 0,
        )

    # --- meta -------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        await self._db.commit()


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database schema is version {version}, newer than this bot ({SCHEMA_VERSION}): "
            "upgrade imagine-bot"
        )
    for step in range(version, SCHEMA_VERSION):
        # executescript commits first; each step and its version bump land together.
        await db.executescript(
            f"BEGIN; {_MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;"
        )


def _order_row(order: Order) -> tuple[Any, ...]:
    return (
        order.guild_id, order.channel_id, order.requester_id, order.prompt, order.model,
        json.dumps(order.params, sort_keys=True), order.count, order.upload_limit,
    )  # fmt: skip


def _job(row: Any) -> Job:
    (gid, guild, channel, requester, status_msg, prompt, model, params, b_index, b_size, status,
     outcome, result_url, error, attempts, result_msg, created, updated, finished,
     upload_limit, request_id, started_at) = row  # fmt: skip
    return Job(
        generation_id=gid,
        guild_id=guild,
        channel_id=channel,
        requester_id=requester,
        status_message_id=status_msg,
        prompt=prompt,
        model=model,
        params=json.loads(params),
        batch_index=b_index,
        batch_size=b_size,
        status=JobStatus(status),
        outcome=outcome,
        result_url=result_url,
        error=error,
        attempts=attempts,
        result_message_id=result_msg,
        created_at=created,
        updated_at=updated,
        finished_at=finished,
        upload_limit=upload_limit,
        request_id=request_id or gid,
        started_at=started_at,
    )
