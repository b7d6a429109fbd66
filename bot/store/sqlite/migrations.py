"""The SQLite schema, versioned with ``PRAGMA user_version`` and migrated forward at open."""

from __future__ import annotations

from bot.store.sqlite.database import Database

MIGRATIONS: tuple[str, ...] = (
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
    # v4: per-server settings (JSON, see bot.core.types.GuildSettings); usage is counted from jobs
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
    # v6: finished jobs are pruned after JOB_RETENTION_DAYS, oldest first
    """
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def schema_version(db: Database) -> int:
    return int(await db.scalar("PRAGMA user_version") or 0)


async def migrate(db: Database) -> None:
    version = await schema_version(db)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database schema is version {version}, newer than this bot ({SCHEMA_VERSION}): "
            "upgrade imagine-bot"
        )
    for step in range(version, SCHEMA_VERSION):
        # Each step and its version bump land together.
        await db.executescript(
            f"BEGIN IMMEDIATE; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;"
        )
