"""The SQLite schema, versioned with ``PRAGMA user_version`` and migrated forward at open."""

from __future__ import annotations

import contextlib
import sqlite3

from bot.store.errors import StoreMisconfigured
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
    # v7: the line takes turns across servers and people: each waiting request keeps its owner's
    # at-once limit (exempt roles are known only when asked), and "last sent" is read per server
    """
    ALTER TABLE waiting ADD COLUMN owner_limit INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
    CREATE INDEX jobs_pending_owner ON jobs (guild_id, requester_id) WHERE status = 'pending';
    """,
    # v8: the server gallery: remix lineage, shared images (searchable only with their prompt
    # shown, kept in sync by triggers), one vote per member and image, members' choices, and
    # each server's latest top-of-the-week post
    """
    ALTER TABLE jobs ADD COLUMN parent_id TEXT;
    CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
    ALTER TABLE waiting ADD COLUMN parent_id TEXT;
    CREATE TABLE shares (
        generation_id      TEXT PRIMARY KEY,
        guild_id           INTEGER NOT NULL,
        gallery_channel_id INTEGER NOT NULL,
        post_id            INTEGER NOT NULL UNIQUE,
        creator_id         INTEGER NOT NULL,
        creator_name       TEXT NOT NULL,
        shared_by_id       INTEGER NOT NULL,
        title              TEXT NOT NULL,
        prompt             TEXT,
        model              TEXT NOT NULL,
        nsfw               INTEGER NOT NULL,
        auto               INTEGER NOT NULL DEFAULT 0,
        hidden             INTEGER NOT NULL DEFAULT 0,
        shared_at          REAL NOT NULL,
        thumbnail          BLOB
    );
    CREATE INDEX shares_guild ON shares (guild_id, shared_at);
    CREATE INDEX shares_creator ON shares (guild_id, creator_id, shared_at);
    CREATE VIRTUAL TABLE shares_search USING fts5(
        title, prompt, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER shares_search_add AFTER INSERT ON shares WHEN NEW.prompt IS NOT NULL BEGIN
        INSERT INTO shares_search (rowid, title, prompt) VALUES (NEW.rowid, NEW.title, NEW.prompt);
    END;
    CREATE TRIGGER shares_search_remove AFTER DELETE ON shares BEGIN
        DELETE FROM shares_search WHERE rowid = OLD.rowid;
    END;
    CREATE TABLE votes (
        generation_id TEXT NOT NULL,
        voter_id      INTEGER NOT NULL,
        guild_id      INTEGER NOT NULL,
        voted_at      REAL NOT NULL,
        PRIMARY KEY (generation_id, voter_id)
    ) WITHOUT ROWID;
    CREATE TABLE gallery_prefs (
        guild_id    INTEGER NOT NULL,
        user_id     INTEGER NOT NULL,
        auto_share  INTEGER NOT NULL DEFAULT 0,
        show_prompt INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE weekly_posts (
        guild_id INTEGER PRIMARY KEY,
        monday   REAL NOT NULL,
        post_id  INTEGER
    );
    """,
    # v9: the web gallery: each server's secret link (looked up by its SHA-256), whether a share
    # has the bot's own copies of its image (web_image: the full copy's extension), and each
    # share's vote count kept by triggers, so a page of the most voted reads an index
    """
    CREATE TABLE web_galleries (
        guild_id     INTEGER PRIMARY KEY,
        token        TEXT NOT NULL,
        token_digest TEXT NOT NULL UNIQUE,
        title        TEXT NOT NULL,
        created_at   REAL NOT NULL
    );
    ALTER TABLE shares ADD COLUMN web_image TEXT;
    ALTER TABLE shares ADD COLUMN vote_count INTEGER NOT NULL DEFAULT 0;
    UPDATE shares SET vote_count =
        (SELECT COUNT(*) FROM votes AS v WHERE v.generation_id = shares.generation_id);
    CREATE TRIGGER shares_vote_count_start AFTER INSERT ON shares BEGIN
        UPDATE shares SET vote_count =
            (SELECT COUNT(*) FROM votes AS v WHERE v.generation_id = NEW.generation_id)
        WHERE generation_id = NEW.generation_id;
    END;
    CREATE TRIGGER votes_count_add AFTER INSERT ON votes BEGIN
        UPDATE shares SET vote_count = vote_count + 1 WHERE generation_id = NEW.generation_id;
    END;
    CREATE TRIGGER votes_count_remove AFTER DELETE ON votes BEGIN
        UPDATE shares SET vote_count = vote_count - 1 WHERE generation_id = OLD.generation_id;
    END;
    CREATE INDEX shares_web_new ON shares (guild_id, shared_at)
        WHERE web_image IS NOT NULL AND hidden = 0 AND nsfw = 0;
    CREATE INDEX shares_web_top ON shares (guild_id, vote_count, shared_at)
        WHERE web_image IS NOT NULL AND hidden = 0 AND nsfw = 0;
    """,
    # v10: several bot processes may share the store. A lease (owner, expiry) on each job a
    # process is checking at Oxen or delivering, and on each prompt it is sending, which counts
    # as its images in flight from the start; the last IDENTIFY per gateway rate-limit bucket
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;
    CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
    ALTER TABLE enqueues ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE enqueues ADD COLUMN lease_owner TEXT;
    ALTER TABLE enqueues ADD COLUMN lease_expires_at REAL;
    CREATE INDEX enqueues_owner ON enqueues (guild_id, requester_id);
    CREATE TABLE gateway_identifies (bucket INTEGER PRIMARY KEY, identified_at REAL NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def schema_version(db: Database) -> int:
    return int(await db.scalar("PRAGMA user_version") or 0)


async def migrate(db: Database) -> None:
    version = await schema_version(db)
    if version > SCHEMA_VERSION:
        raise StoreMisconfigured(
            f"the database schema is version {version}, newer than this bot ({SCHEMA_VERSION}): "
            "upgrade imagine-bot"
        )
    while version < SCHEMA_VERSION:
        # Each step and its version bump land together, under SQLite's write lock.
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[version]} PRAGMA user_version = {version + 1}; "
                "COMMIT;"
            )
        except sqlite3.OperationalError:
            with contextlib.suppress(sqlite3.OperationalError):  # unless SQLite ended it
                await db.executescript("ROLLBACK;")
            # Another process starting at the same time may have taken this step first.
            moved_on = await schema_version(db)
            if moved_on <= version:
                raise
            version = moved_on
            continue
        version += 1
