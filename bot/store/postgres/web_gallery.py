"""The web gallery's tables: each server's link, and the pages of shares it shows (the SQLite
store's semantics). A page reads one of two partial indexes (shares with copies, not hidden, not
NSFW); a search matches ``search_text`` as ``Gallery.search`` does. ``vote_count`` is kept by
triggers on the votes table (migration v3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.types import Share, WebShare, WebSort
from bot.store.postgres.database import Database
from bot.store.postgres.gallery import search_patterns
from bot.store.rows import WEB_SHARE_COLUMNS, web_share_from_row

# The partial indexes' condition ($1: the guild).
_SHOWN = "s.guild_id = $1 AND s.web_image IS NOT NULL AND NOT s.hidden AND NOT s.nsfw"
_ORDER = {
    WebSort.NEW: "s.shared_at DESC, s.generation_id DESC",
    WebSort.TOP: "s.vote_count DESC, s.shared_at DESC, s.generation_id DESC",
}


class WebGalleryTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- links -------------------------------------------------------------------------------

    async def link(self, guild_id: int) -> str | None:
        token = await self._db.fetchval(
            "SELECT token FROM web_galleries WHERE guild_id = $1", guild_id
        )
        return str(token) if token is not None else None

    async def set_link(
        self, guild_id: int, token: str | None, *, digest: str | None, title: str
    ) -> None:
        if token is None:
            await self._db.execute("DELETE FROM web_galleries WHERE guild_id = $1", guild_id)
            return
        await self._db.execute(
            "INSERT INTO web_galleries AS w (guild_id, token, token_digest, title, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id) DO UPDATE SET "
            "token = excluded.token, token_digest = excluded.token_digest, "
            "title = excluded.title, created_at = CASE WHEN w.token = excluded.token "
            "THEN w.created_at ELSE excluded.created_at END",
            guild_id, token, digest, title, self._db.clock(),
        )  # fmt: skip

    async def guild_for(self, digest: str) -> tuple[int, str] | None:
        row = await self._db.fetchrow(
            "SELECT guild_id, title FROM web_galleries WHERE token_digest = $1", digest
        )
        return (int(row["guild_id"]), str(row["title"])) if row is not None else None

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
        args: list[Any] = [guild_id, limit, offset]  # $1, $2, $3
        where = _SHOWN
        if since is not None:
            args.append(since)
            where += f" AND s.shared_at >= ${len(args)}"
        if terms:
            patterns = search_patterns(terms)
            if not patterns:
                return []
            where += " AND s.search_text IS NOT NULL"  # only shares whose prompt is shown
            for pattern in patterns:
                args.append(pattern)
                where += f" AND s.search_text LIKE '%' || ${len(args)} || '%'"
        # The page's ids first, read off the order's index (an offset skips index entries, not
        # rows), then only those rows.
        rows = await self._db.fetch(
            f"SELECT {WEB_SHARE_COLUMNS} FROM shares AS s WHERE s.generation_id IN "
            f"(SELECT s.generation_id FROM shares AS s WHERE {where} "
            f"ORDER BY {_ORDER[sort]} LIMIT $2 OFFSET $3) ORDER BY {_ORDER[sort]}",
            *args,
        )
        return [web_share_from_row(row).share for row in rows]

    async def shown(self, guild_id: int, generation_ids: Sequence[str]) -> dict[str, WebShare]:
        if not generation_ids:
            return {}
        rows = await self._db.fetch(
            f"SELECT {WEB_SHARE_COLUMNS} FROM shares AS s WHERE {_SHOWN} "
            "AND s.generation_id = ANY($2::text[])",
            guild_id,
            list(generation_ids),
        )
        found = (web_share_from_row(row) for row in rows)
        return {web.share.generation_id: web for web in found}

    async def mark_copied(self, generation_id: str, full_extension: str | None) -> bool:
        changed = await self._db.execute(
            "UPDATE shares SET web_image = $1 WHERE generation_id = $2",
            full_extension,
            generation_id,
        )
        return changed > 0
