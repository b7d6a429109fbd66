"""The web gallery's tables: each server's link, and the pages of shares it shows.

A page reads one of two partial indexes (``shares_web_new``, ``shares_web_top``: shares with
copies, not hidden, not NSFW), so its cost does not grow with the server's shares; a search reads
the FTS5 index, which holds only shares whose prompt is shown. ``vote_count`` is kept by
triggers on the votes table (migration v9).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.types import Share, WebShare, WebSort
from bot.store.rows import WEB_SHARE_COLUMNS, web_share_from_row
from bot.store.sqlite.database import Database

# Word for word the partial indexes' condition, so SQLite uses them.
_SHOWN = "s.guild_id = ? AND s.web_image IS NOT NULL AND s.hidden = 0 AND s.nsfw = 0"
# Each order is its index's own (the rowid, last in every index, breaks ties), so a page is read
# off the index, and an offset skips index entries, not rows.
_ORDER = {
    WebSort.NEW: "s.shared_at DESC, s.rowid DESC",
    WebSort.TOP: "s.vote_count DESC, s.shared_at DESC, s.rowid DESC",
}
_INDEX = {WebSort.NEW: "shares_web_new", WebSort.TOP: "shares_web_top"}


class WebGalleryTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- links -------------------------------------------------------------------------------

    async def link(self, guild_id: int) -> str | None:
        token = await self._db.scalar(
            "SELECT token FROM web_galleries WHERE guild_id = ?", (guild_id,)
        )
        return str(token) if token is not None else None

    async def set_link(
        self, guild_id: int, token: str | None, *, digest: str | None, title: str
    ) -> None:
        if token is None:
            await self._db.execute("DELETE FROM web_galleries WHERE guild_id = ?", (guild_id,))
            return
        await self._db.execute(
            "INSERT INTO web_galleries (guild_id, token, token_digest, title, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET token = excluded.token, "
            "token_digest = excluded.token_digest, title = excluded.title, "
            "created_at = CASE WHEN token = excluded.token THEN created_at "
            "ELSE excluded.created_at END",
            (guild_id, token, digest, title, self._db.clock()),
        )

    async def guild_for(self, digest: str) -> tuple[int, str] | None:
        row = await self._db.fetchone(
            "SELECT guild_id, title FROM web_galleries WHERE token_digest = ?", (digest,)
        )
        return (int(row[0]), str(row[1])) if row is not None else None

    # --- pages -------------------------------------------------------------------------------

    async def listing(
        self,
        guild_id: int,
        *,
        sort: WebSort,
        since: float | None,
        terms: Sequence[str],
        limit: int,
        offset: int,
    ) -> list[Share]:
        where, args = _SHOWN, list[Any]([guild_id])
        if since is not None:
            where += " AND s.shared_at >= ?"
            args.append(since)
        if terms:
            # Each term quoted (no FTS5 operator can get in), every one required, the last a
            # prefix; the index holds only shares whose prompt is shown.
            quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
            page = (
                # CROSS JOIN: the matches first (SQLite keeps that order), then their rows.
                "SELECT s.rowid FROM shares_search AS f CROSS JOIN shares AS s "
                f"ON s.rowid = f.rowid WHERE shares_search MATCH ? AND {where}"
            )
            args.insert(0, " ".join(quoted) + "*")
        else:
            # Read off the order's index alone (the period too: most voted first, skipping the
            # older ones), then only the page's rows.
            page = f"SELECT s.rowid FROM shares AS s INDEXED BY {_INDEX[sort]} WHERE {where}"
        rows = await self._db.fetchall(
            f"SELECT {WEB_SHARE_COLUMNS} FROM shares AS s WHERE s.rowid IN "
            f"({page} ORDER BY {_ORDER[sort]} LIMIT ? OFFSET ?) ORDER BY {_ORDER[sort]}",
            (*args, limit, offset),
        )
        return [web_share_from_row(row).share for row in rows]

    async def shown(self, guild_id: int, generation_ids: Sequence[str]) -> dict[str, WebShare]:
        if not generation_ids:
            return {}
        marks = ",".join("?" * len(generation_ids))
        # By primary key: "+" keeps SQLite from walking a whole partial index for the guild.
        rows = await self._db.fetchall(
            f"SELECT {WEB_SHARE_COLUMNS} FROM shares AS s WHERE s.generation_id IN ({marks}) "
            "AND +s.guild_id = ? AND s.web_image IS NOT NULL AND s.hidden = 0 AND s.nsfw = 0",
            (*generation_ids, guild_id),
        )
        found = (web_share_from_row(row) for row in rows)
        return {web.share.generation_id: web for web in found}

    async def mark_copied(self, generation_id: str, full_extension: str | None) -> bool:
        changed, _ = await self._db.execute(
            "UPDATE shares SET web_image = ? WHERE generation_id = ?",
            (full_extension, generation_id),
        )
        return changed > 0
