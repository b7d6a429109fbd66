"""The gallery tables: shares (and their full-text index), votes, members' choices, the weekly
post, and remix lineage read from the jobs table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.core.types import GalleryPrefs, Job, NewShare, Share, Vote, WeeklyPost
from bot.store.rows import JOB_COLUMNS, SHARE_COLUMNS, job_from_row, share_from_row
from bot.store.sqlite.database import Database

SHARE_COUNT_COLUMNS = (
    f"{SHARE_COLUMNS}, (SELECT COUNT(*) FROM votes AS v WHERE v.generation_id = s.generation_id)"
)
_LISTED = "s.guild_id = ? AND s.hidden = 0 AND (? OR s.nsfw = 0)"


class Gallery:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- shares ----------------------------------------------------------------------------------

    async def add(self, share: NewShare, thumbnail: bytes | None = None) -> bool:
        # The trigger indexes the title and prompt for search only when the prompt is shown.
        added, _ = await self._db.execute(
            "INSERT OR IGNORE INTO shares (generation_id, guild_id, gallery_channel_id, post_id, "
            "creator_id, creator_name, shared_by_id, title, prompt, model, nsfw, auto, "
            "shared_at, thumbnail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                share.generation_id, share.guild_id, share.gallery_channel_id, share.post_id,
                share.creator_id, share.creator_name, share.shared_by_id, share.title,
                share.prompt, share.model, share.nsfw, share.auto, self._db.clock(), thumbnail,
            ),
        )  # fmt: skip
        return added > 0

    async def get(self, generation_id: str) -> Share | None:
        found = await self._shares("WHERE s.generation_id = ?", (generation_id,))
        return found[0] if found else None

    async def by_post(self, post_id: int) -> Share | None:
        found = await self._shares("WHERE s.post_id = ?", (post_id,))
        return found[0] if found else None

    async def remove(self, generation_id: str) -> Share | None:
        async with self._db.transaction():
            share = await self.get(generation_id)
            if share is not None:
                await self._db.execute(
                    "DELETE FROM shares WHERE generation_id = ?", (generation_id,)
                )
        return share

    async def set_hidden(self, generation_id: str, hidden: bool) -> Share | None:
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE shares SET hidden = ? WHERE generation_id = ?", (hidden, generation_id)
            )
            return await self.get(generation_id)

    # --- votes -----------------------------------------------------------------------------------

    async def toggle_vote(self, generation_id: str, voter_id: int, *, guild_id: int) -> Vote:
        # One transaction: two presses at the same moment each see the other's vote.
        async with self._db.transaction():
            removed, _ = await self._db.execute(
                "DELETE FROM votes WHERE generation_id = ? AND voter_id = ?",
                (generation_id, voter_id),
            )
            if not removed:
                await self._db.execute(
                    "INSERT INTO votes (generation_id, voter_id, guild_id, voted_at) "
                    "VALUES (?, ?, ?, ?)",
                    (generation_id, voter_id, guild_id, self._db.clock()),
                )
            count = await self.votes(generation_id)
        return Vote(voted=not removed, votes=count)

    async def votes(self, generation_id: str) -> int:
        return int(
            await self._db.scalar(
                "SELECT COUNT(*) FROM votes WHERE generation_id = ?", (generation_id,)
            )
        )

    # --- members' choices ------------------------------------------------------------------------

    async def prefs(self, guild_id: int, user_id: int) -> GalleryPrefs:
        row = await self._db.fetchone(
            "SELECT auto_share, show_prompt FROM gallery_prefs WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return GalleryPrefs(bool(row[0]), bool(row[1])) if row else GalleryPrefs()

    async def update_prefs(
        self, guild_id: int, user_id: int, change: Callable[[GalleryPrefs], GalleryPrefs]
    ) -> tuple[GalleryPrefs, GalleryPrefs]:
        async with self._db.transaction():
            before = await self.prefs(guild_id, user_id)
            after = change(before)
            if after != before:
                await self._db.execute(
                    "INSERT INTO gallery_prefs (guild_id, user_id, auto_share, show_prompt) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
                    "auto_share = excluded.auto_share, show_prompt = excluded.show_prompt",
                    (guild_id, user_id, after.auto_share, after.show_prompt),
                )
        return before, after

    # --- lists -----------------------------------------------------------------------------------

    async def top(
        self,
        guild_id: int,
        *,
        since: float | None,
        until: float | None = None,
        nsfw: bool,
        limit: int,
    ) -> list[Share]:
        return await self._shares(
            f"WHERE {_LISTED} AND (? IS NULL OR s.shared_at >= ?) "
            "AND (? IS NULL OR s.shared_at < ?) "
            "ORDER BY 15 DESC, s.shared_at, s.generation_id LIMIT ?",
            (guild_id, nsfw, since, since, until, until, limit),
        )

    async def search(
        self, guild_id: int, terms: Sequence[str], *, nsfw: bool, limit: int
    ) -> list[Share]:
        if not terms:
            return []
        # Each term quoted (no FTS5 operator can get in), every one required, the last a prefix.
        quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
        match = " ".join(quoted) + "*"
        return await self._shares(
            "JOIN shares_search AS f ON f.rowid = s.rowid "
            f"WHERE shares_search MATCH ? AND {_LISTED} ORDER BY f.rank, s.shared_at DESC LIMIT ?",
            (match, guild_id, nsfw, limit),
        )

    async def by_creator(
        self, guild_id: int, creator_id: int, *, nsfw: bool, limit: int
    ) -> list[Share]:
        return await self._shares(
            f"WHERE {_LISTED} AND s.creator_id = ? ORDER BY s.shared_at DESC LIMIT ?",
            (guild_id, nsfw, creator_id, limit),
        )

    async def thumbnails(self, generation_ids: Sequence[str]) -> dict[str, bytes]:
        if not generation_ids:
            return {}
        marks = ",".join("?" * len(generation_ids))
        rows = await self._db.fetchall(
            f"SELECT generation_id, thumbnail FROM shares WHERE generation_id IN ({marks}) "
            "AND thumbnail IS NOT NULL",
            tuple(generation_ids),
        )
        return {gid: bytes(data) for gid, data in rows}

    # --- lineage ---------------------------------------------------------------------------------

    async def lineage(self, generation_id: str, depth: int) -> list[Job]:
        columns = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))
        rows = await self._db.fetchall(
            "WITH RECURSIVE chain (id, parent, depth) AS ("
            "  SELECT generation_id, parent_id, 0 FROM jobs WHERE generation_id = ?"
            "  UNION ALL SELECT j.generation_id, j.parent_id, c.depth + 1"
            "  FROM jobs AS j JOIN chain AS c ON j.generation_id = c.parent WHERE c.depth < ?)"
            f"SELECT {columns} FROM chain AS c JOIN jobs AS j ON j.generation_id = c.id "
            "WHERE c.depth > 0 ORDER BY c.depth",
            (generation_id, depth),
        )
        return [job_from_row(row) for row in rows]

    async def remix_count(self, generation_id: str) -> int:
        return int(
            await self._db.scalar(
                "SELECT COUNT(*) FROM jobs AS c JOIN jobs AS p ON c.parent_id = p.generation_id "
                "WHERE p.generation_id = ? AND c.requester_id != p.requester_id",
                (generation_id,),
            )
        )

    async def remixes_of(self, guild_id: int, creator_id: int) -> int:
        return int(
            await self._db.scalar(
                "SELECT COUNT(*) FROM jobs AS c JOIN jobs AS p ON c.parent_id = p.generation_id "
                "WHERE p.guild_id = ? AND p.requester_id = ? AND c.requester_id != ?",
                (guild_id, creator_id, creator_id),
            )
        )

    # --- the weekly post -------------------------------------------------------------------------

    async def weekly(self) -> list[WeeklyPost]:
        rows = await self._db.fetchall("SELECT guild_id, monday, post_id FROM weekly_posts")
        return [WeeklyPost(guild_id, monday, post_id) for guild_id, monday, post_id in rows]

    async def record_weekly(self, guild_id: int, monday: float, post_id: int | None) -> None:
        await self._db.execute(
            "INSERT INTO weekly_posts (guild_id, monday, post_id) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET monday = excluded.monday, "
            "post_id = excluded.post_id",
            (guild_id, monday, post_id),
        )

    async def _shares(self, where: str, args: tuple[Any, ...]) -> list[Share]:
        rows = await self._db.fetchall(
            f"SELECT {SHARE_COUNT_COLUMNS} FROM shares AS s {where}", args
        )
        return [share_from_row(row) for row in rows]
