"""Per-server banned words and regular expressions, checked on prompts before they reach Oxen.

Pure functions: no Discord, no I/O. Both the prompt and the banned words go through
``normalise`` so that case, fullwidth letters, accents, invisible characters and odd spacing
can't be used to slip a word past the list.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from bot.core.errors import UserFacingError
from bot.core.limits import MAX_BANNED_PATTERN_CHARS as MAX_PATTERN_LENGTH
from bot.core.text import inline_code

__all__ = [
    "MAX_PATTERN_LENGTH",
    "BannedTerms",
    "InvalidPattern",
    "compile_pattern",
    "normalise",
    "refusal_text",
]

_MAX_ECHO = 60  # how much of a pattern an error message repeats back
_CACHE_SIZE = 1024
# Invisible characters that split a word without showing: zero-width space, non-joiner,
# joiner, word joiner, BOM / zero-width no-break space, soft hyphen.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Letters and digits only: "_" counts as a separator, so "bad_word" still contains "bad".
_NOT_AFTER_ALNUM = r"(?<![^\W_])"
_NOT_BEFORE_ALNUM = r"(?![^\W_])"

_REFUSAL = (
    "This server doesn't allow that prompt: it contains a word or phrase the admins have "
    "blocked. Please rephrase it."
)


class InvalidPattern(UserFacingError):
    """A banned pattern an admin typed that can't be used; the text says which and why."""

    def __init__(self, pattern: str, message: str) -> None:
        super().__init__(message)
        self.pattern = pattern


def normalise(text: str) -> str:
    """``text`` folded so that look-alike spellings compare equal.

    NFKC (fullwidth "ｎ" -> "n", "ﬁ" -> "fi"), casefold ("ß" -> "ss"), combining marks removed
    ("café" -> "cafe"), zero-width characters and soft hyphens removed, and every run of
    whitespace turned into one space (leading and trailing whitespace dropped).
    """
    # Invisible characters go first so they can't sit between a letter and its accent.
    text = text.translate(_INVISIBLE)
    text = unicodedata.normalize("NFKC", text).casefold()
    # Decompose to split accents from letters, drop them, then recompose what is left
    # (Hangul syllables, for one, decompose into jamo that are not marks).
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFC", text).split())


@lru_cache(maxsize=_CACHE_SIZE)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled case-insensitively; raises InvalidPattern if it can't be used.

    Catastrophic backtracking (e.g. ``(a+)+$``) is NOT guarded against: the stdlib ``re`` has
    no timeout, so a hostile admin pattern could stall a check. Only admins can add patterns.
    """
    if not pattern.strip():
        raise InvalidPattern(
            pattern, "The pattern is empty: enter a regular expression such as `red\\s+cube`."
        )
    shown = inline_code(pattern, _MAX_ECHO)
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(
            pattern,
            f"{shown} is {len(pattern)} characters long; patterns can be at most "
            f"{MAX_PATTERN_LENGTH} characters.",
        )
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as err:
        message = f"{shown} isn't a valid regular expression: {err}."
        raise InvalidPattern(pattern, message) from err
    # A pattern that matches the empty string (like `a*`) matches every prompt somewhere.
    if compiled.search("") is not None:
        raise InvalidPattern(
            pattern, f"{shown} matches even an empty prompt, so it would block every prompt."
        )
    return compiled


@dataclass(frozen=True, slots=True)
class BannedTerms:
    """One server's banned words (whole words or phrases) and regular expressions."""

    words: tuple[str, ...] = ()  # matched as whole words/phrases after normalising both sides
    patterns: tuple[str, ...] = ()  # regular expressions, searched in the normalised text

    def __post_init__(self) -> None:
        # Fail when the list is built, not later on some unlucky user's prompt.
        for pattern in self.patterns:
            compile_pattern(pattern)

    def first_match(self, *texts: str | None) -> str | None:
        """The banned word or pattern, as configured, that one of ``texts`` contains, or None.

        Meant for the admin/audit log; never show it to the person who typed the prompt
        (use ``refusal_text``). None texts (an option left empty) are skipped.
        """
        for text in texts:
            if text is None:
                continue
            folded = normalise(text)
            for word in self.words:
                regex = _word_regex(word)
                if regex is not None and regex.search(folded):
                    return word
            for pattern in self.patterns:
                if compile_pattern(pattern).search(folded):
                    return pattern
        return None


def refusal_text() -> str:
    """What the person whose prompt was blocked sees; it doesn't name the word, so the
    block list isn't leaked and can't be probed one word at a time."""
    return _REFUSAL


@lru_cache(maxsize=_CACHE_SIZE)
def _word_regex(word: str) -> re.Pattern[str] | None:
    """A regex finding ``word`` as a whole word in normalised text; None for a blank word,
    which would otherwise match every prompt."""
    folded = normalise(word)
    if not folded:
        return None
    # Escaped, so "f*ck" or "c++" match literally; normalised text has single spaces only.
    return re.compile(_NOT_AFTER_ALNUM + re.escape(folded) + _NOT_BEFORE_ALNUM)
