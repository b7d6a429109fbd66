"""Small wording helpers shared by every message the bot writes (no Discord types)."""

from __future__ import annotations

import unicodedata


def images(count: int) -> str:
    """``1 image`` / ``3 images``."""
    return "1 image" if count == 1 else f"{count} images"


def inline_code(text: str, limit: int = 50) -> str:
    """Text that may come from a user, as inline code: one line, bounded, no backticks to break
    out of."""
    text = " ".join(text.split()).replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def duration(seconds: float) -> str:
    """``45 seconds`` / ``15 minutes``."""
    value, unit = (round(seconds), "second") if seconds < 120 else (round(seconds / 60), "minute")
    return f"{value} {unit}" + ("" if value == 1 else "s")


_KEEP = frozenset("\n\t")


def printable(text: str) -> str:
    """``text`` without control characters (NUL and the like) that a database may refuse and a
    model cannot use; newlines and tabs stay."""
    return "".join(ch for ch in text if ch in _KEEP or unicodedata.category(ch) != "Cc")
