"""The gallery tables: shares (and the words search reads), votes, members' choices, the weekly
post, and remix lineage read from the jobs table.

Search finds what the SQLite store's FTS5 index finds: every term (a phrase when it holds
several words), the last one as a prefix, in the title or the shown prompt. Words are cut and
folded here as SQLite's unicode61 tokenizer (remove_diacritics 2) does for the usual scripts
(see ``words``), and kept in ``search_text`` as ``"  w1  w2  |  w3  "``: a phrase is then a
substring, and cannot run from the title into the prompt. Results are ordered by how much of the
post the terms make up, a simple stand-in for FTS5's bm25, then newest first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from bot.core.types import GalleryPrefs, Job, NewShare, Share, Vote, WeeklyPost
from bot.store.postgres.database import Database, Row
from bot.store.rows import JOB_COLUMNS, SHARE_COLUMNS, job_from_row, share_from_row

SHARE_COUNT_COLUMNS = (
    f"{SHARE_COLUMNS}, "
    "(SELECT count(*) FROM votes AS v WHERE v.generation_id = s.generation_id) AS votes"
)
_LISTED = "s.guild_id = $1 AND NOT s.hidden AND ($2 OR NOT s.nsfw)"  # $1 guild, $2 nsfw
_COMBINING_DIACRITICS = range(0x300, 0x370)


class Gallery:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- shares ----------------------------------------------------------------------------------

    async def add(self, share: NewShare, thumbnail: bytes | None = None) -> bool:
        # Searchable only when the prompt is shown. Either key taken: nothing written.
        text, count = search_text(share.title, share.prompt)
        added = await self._db.execute(
            "INSERT INTO shares (generation_id, guild_id, gallery_channel_id, post_id, "
            "creator_id, creator_name, shared_by_id, title, prompt, model, nsfw, auto, "
            "shared_at, thumbnail, search_text, search_words) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
            "ON CONFLICT DO NOTHING",
            share.generation_id, share.guild_id, share.gallery_channel_id, share.post_id,
            share.creator_id, share.creator_name, share.shared_by_id, share.title,
            share.prompt, share.model, share.nsfw, share.auto, self._db.clock(), thumbnail,
            text, count,
        )  # fmt: skip
        return added > 0

    async def get(self, generation_id: str) -> Share | None:
        found = await self._shares("WHERE s.generation_id = $1", generation_id)
        return found[0] if found else None

    async def by_post(self, post_id: int) -> Share | None:
        found = await self._shares("WHERE s.post_id = $1", post_id)
        return found[0] if found else None

    async def remove(self, generation_id: str) -> Share | None:
        # The DELETE decides: of two removing at once, one gets the share, the other None.
        row = await self._db.fetchrow(
            "WITH s AS (DELETE FROM shares WHERE generation_id = $1 RETURNING *) "
            f"SELECT {SHARE_COUNT_COLUMNS} FROM s",
            generation_id,
        )
        return share_from_row(row) if row is not None else None

    async def set_hidden(self, generation_id: str, hidden: bool) -> Share | None:
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE shares SET hidden = $1 WHERE generation_id = $2", hidden, generation_id
            )
            return await self.get(generation_id)

    # --- votes -----------------------------------------------------------------------------------

    async def toggle_vote(self, generation_id: str, voter_id: int, *, guild_id: int) -> Vote:
        # Two presses at the same moment (two processes) each see the other's vote: an INSERT
        # that finds the vote already there (committed meanwhile) goes round to take it back.
        async with self._db.transaction():
            while True:
                removed = await self._db.execute(
                    "DELETE FROM votes WHERE generation_id = $1 AND voter_id = $2",
                    generation_id,
                    voter_id,
                )
                if removed:
                    break
                added = await self._db.execute(
                    "INSERT INTO votes (generation_id, voter_id, guild_id, voted_at) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    generation_id,
                    voter_id,
                    guild_id,
                    self._db.clock(),
                )
                if added:
                    break
            count = await self.votes(generation_id)
        return Vote(voted=not removed, votes=count)

    async def votes(self, generation_id: str) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM votes WHERE generation_id = $1", generation_id
            )
        )

    # --- members' choices ------------------------------------------------------------------------

    async def prefs(self, guild_id: int, user_id: int) -> GalleryPrefs:
        return _prefs(
            await self._db.fetchrow(
                "SELECT auto_share, show_prompt FROM gallery_prefs "
                "WHERE guild_id = $1 AND user_id = $2",
                guild_id,
                user_id,
            )
        )

    async def update_prefs(
        self, guild_id: int, user_id: int, change: Callable[[GalleryPrefs], GalleryPrefs]
    ) -> tuple[GalleryPrefs, GalleryPrefs]:
        # The row is locked from the read to the commit (as servers.update does); a member with
        # no row yet gets one of NULLs (the defaults) to lock.
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO gallery_prefs (guild_id, user_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                guild_id,
                user_id,
            )
            before = _prefs(
                await self._db.fetchrow(
                    "SELECT auto_share, show_prompt FROM gallery_prefs "
                    "WHERE guild_id = $1 AND user_id = $2 FOR UPDATE",
                    guild_id,
                    user_id,
                )
            )
            after = change(before)
            if after != before:
                await self._db.execute(
                    "UPDATE gallery_prefs SET auto_share = $3, show_prompt = $4 "
                    "WHERE guild_id = $1 AND user_id = $2",
                    guild_id,
                    user_id,
                    after.auto_share,
                    after.show_prompt,
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
            f"WHERE {_LISTED} AND ($3::float8 IS NULL OR s.shared_at >= $3) "
            "AND ($4::float8 IS NULL OR s.shared_at < $4) "
            "ORDER BY votes DESC, s.shared_at, s.generation_id LIMIT $5",
            guild_id, nsfw, since, until, _limit(limit),
        )  # fmt: skip

    async def search(
        self, guild_id: int, terms: Sequence[str], *, nsfw: bool, limit: int
    ) -> list[Share]:
        patterns = search_patterns(terms)
        if not patterns:
            return []
        found, score = [], []
        for n, _pattern in enumerate(patterns, start=4):  # $1 guild, $2 nsfw, $3 limit
            found.append(f"s.search_text LIKE '%' || ${n} || '%'")
            # How often it occurs: what removing every occurrence takes off the text.
            score.append(
                f"(length(s.search_text) - length(replace(s.search_text, ${n}, ''))) / length(${n})"
            )
        return await self._shares(
            f"WHERE {_LISTED} AND s.search_text IS NOT NULL AND {' AND '.join(found)} "
            f"ORDER BY ({' + '.join(score)})::float8 / s.search_words DESC, "
            "s.shared_at DESC, s.generation_id LIMIT $3",
            guild_id, nsfw, _limit(limit), *patterns,
        )  # fmt: skip

    async def by_creator(
        self, guild_id: int, creator_id: int, *, nsfw: bool, limit: int
    ) -> list[Share]:
        return await self._shares(
            f"WHERE {_LISTED} AND s.creator_id = $3 "
            "ORDER BY s.shared_at DESC, s.generation_id LIMIT $4",
            guild_id, nsfw, creator_id, _limit(limit),
        )  # fmt: skip

    async def thumbnails(self, generation_ids: Sequence[str]) -> dict[str, bytes]:
        if not generation_ids:
            return {}
        rows = await self._db.fetch(
            "SELECT generation_id, thumbnail FROM shares WHERE generation_id = ANY($1::text[]) "
            "AND thumbnail IS NOT NULL",
            list(generation_ids),
        )
        return {row["generation_id"]: bytes(row["thumbnail"]) for row in rows}

    # --- lineage ---------------------------------------------------------------------------------

    async def lineage(self, generation_id: str, depth: int) -> list[Job]:
        columns = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))
        rows = await self._db.fetch(
            "WITH RECURSIVE chain (id, parent, depth) AS ("
            "  SELECT generation_id, parent_id, 0 FROM jobs WHERE generation_id = $1"
            "  UNION ALL SELECT j.generation_id, j.parent_id, c.depth + 1"
            "  FROM jobs AS j JOIN chain AS c ON j.generation_id = c.parent WHERE c.depth < $2) "
            f"SELECT {columns} FROM chain AS c JOIN jobs AS j ON j.generation_id = c.id "
            "WHERE c.depth > 0 ORDER BY c.depth",
            generation_id,
            depth,
        )
        return [job_from_row(row) for row in rows]

    async def remix_count(self, generation_id: str) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM jobs AS c JOIN jobs AS p ON c.parent_id = p.generation_id "
                "WHERE p.generation_id = $1 AND c.requester_id <> p.requester_id",
                generation_id,
            )
        )

    async def remixes_of(self, guild_id: int, creator_id: int) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM jobs AS c JOIN jobs AS p ON c.parent_id = p.generation_id "
                "WHERE p.guild_id = $1 AND p.requester_id = $2 AND c.requester_id <> $2",
                guild_id,
                creator_id,
            )
        )

    # --- the weekly post -------------------------------------------------------------------------

    async def weekly(self) -> list[WeeklyPost]:
        rows = await self._db.fetch("SELECT guild_id, monday, post_id FROM weekly_posts")
        return [WeeklyPost(row["guild_id"], row["monday"], row["post_id"]) for row in rows]

    async def record_weekly(self, guild_id: int, monday: float, post_id: int | None) -> None:
        await self._db.execute(
            "INSERT INTO weekly_posts (guild_id, monday, post_id) VALUES ($1, $2, $3) "
            "ON CONFLICT (guild_id) DO UPDATE SET monday = excluded.monday, "
            "post_id = excluded.post_id",
            guild_id,
            monday,
            post_id,
        )

    async def _shares(self, where: str, *args: Any) -> list[Share]:
        rows = await self._db.fetch(f"SELECT {SHARE_COUNT_COLUMNS} FROM shares AS s {where}", *args)
        return [share_from_row(row) for row in rows]


# --- search --------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The words of ``text`` as SQLite's FTS5 unicode61 tokenizer with remove_diacritics 2 cuts
    and folds them, for the usual scripts: letters, digits and private-use characters make up
    words, anything else separates them; lower case; Latin letters lose their accents, and a
    combining accent (U+0300-U+036F) is dropped. (unicode61 follows Unicode 6.1: for some
    symbols and marks of other scripts it decides otherwise; a search here is consistent with
    itself, since terms and posts are cut the same way.)"""
    found: list[str] = []
    word: list[str] = []
    for ch in text:
        if ord(ch) in _COMBINING_DIACRITICS:
            continue  # part of the word, dropped
        category = unicodedata.category(ch)
        if category[0] in "LN" or category == "Co":
            word.append(_fold(ch))
        elif word:
            found.append("".join(word))
            word = []
    if word:
        found.append("".join(word))
    return found


def _fold(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch)
    if (
        len(decomposed) > 1
        and unicodedata.name(decomposed[0], "").startswith("LATIN")
        and all(ord(mark) in _COMBINING_DIACRITICS for mark in decomposed[1:])
    ):
        ch = decomposed[0]
    return "".join(c for c in ch.lower() if ord(c) not in _COMBINING_DIACRITICS)


def search_text(title: str, prompt: str | None) -> tuple[str | None, int]:
    """What a share's search reads, and how many words it has; (None, 0): not searchable."""
    if prompt is None:
        return None, 0
    title_words, prompt_words = words(title), words(prompt)
    text = "  ".join(["", *title_words, "|", *prompt_words, ""])
    return f" {text} ", len(title_words) + len(prompt_words)


def search_patterns(terms: Sequence[str]) -> list[str]:
    """Each term as the substring of search_text it must be: `` w1  w2 `` for a phrase, the
    last one open at its end (a prefix). A term with no words is left out, as FTS5 does."""
    patterns = []
    for n, term in enumerate(terms, start=1):
        found = words(term)
        if found:
            last = n == len(terms)
            patterns.append(" " + "  ".join(found) + ("" if last else " "))
    return patterns


# --- rows ----------------------------------------------------------------------------------------


def _limit(limit: int) -> int | None:
    return limit if limit >= 0 else None  # SQLite's LIMIT -1 is no limit; Postgres' is NULL


def _prefs(row: Row | None) -> GalleryPrefs:
    default = GalleryPrefs()
    if row is None:
        return default
    auto_share, show_prompt = row["auto_share"], row["show_prompt"]
    return GalleryPrefs(
        default.auto_share if auto_share is None else auto_share,
        default.show_prompt if show_prompt is None else show_prompt,
    )
