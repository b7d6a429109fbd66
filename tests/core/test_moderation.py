"""Banned words and patterns: folding, whole words, regex validation, the refusal text."""

from __future__ import annotations

import re

import pytest

from bot.core.errors import UserFacingError
from bot.core.moderation import (
    MAX_PATTERN_LENGTH,
    BannedTerms,
    InvalidPattern,
    compile_pattern,
    normalise,
    refusal_text,
)

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def refused(pattern: str) -> str:
    with pytest.raises(InvalidPattern) as info:
        compile_pattern(pattern)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ñandú", "nandu"),
        ("ＮＩＣＥ", "nice"),
        ("𝐃𝐫𝐚𝐠𝐨𝐧", "dragon"),  # casefold alone leaves these; NFKC first makes them letters
        ("Straße", "strasse"),
        ("cafe\u0301", "cafe"),
        ("b\u200ba\u00add", "bad"),
        ("  red \t\n  cube  ", "red cube"),
        ("한국어", "한국어"),  # Hangul decomposes into jamo, which must be put back together
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_matching_ignores_case():
    terms = BannedTerms(words=("Dragon",))
    assert terms.first_match("a DRAGON flying") == "Dragon"
    assert terms.first_match("a dragon flying") == "Dragon"


def test_fullwidth_letters_match():
    assert BannedTerms(words=("dragon",)).first_match("a ｄｒａｇｏｎ") == "dragon"


def test_accents_are_ignored_both_ways():
    assert BannedTerms(words=("cafe",)).first_match("a Café at night") == "cafe"
    assert BannedTerms(words=("cafe",)).first_match("a cafe\u0301 at night") == "cafe"
    assert BannedTerms(words=("café",)).first_match("a cafe at night") == "café"


@pytest.mark.parametrize("invisible", ZERO_WIDTH)
def test_zero_width_characters_inside_a_word_still_match(invisible):
    prompt = f"a dra{invisible}gon"
    assert BannedTerms(words=("dragon",)).first_match(prompt) == "dragon"


def test_whole_words_only():
    terms = BannedTerms(words=("ass",))
    assert terms.first_match("a class of students") is None
    assert terms.first_match("assorted sweets, a passage") is None
    assert terms.first_match("a kick-ASS robot!") == "ass"
    assert terms.first_match("ass") == "ass"
    # "_" separates words, so joining with it doesn't hide one.
    assert terms.first_match("bad_ass") == "ass"


def test_phrase_matches_with_odd_spacing():
    terms = BannedTerms(words=("red  cube",))
    assert terms.first_match("a RED   cube!") == "red  cube"
    assert terms.first_match("red\t\ncube") == "red  cube"
    assert terms.first_match("a redcube") is None
    assert terms.first_match("red cubes") is None
    assert terms.first_match("a red ball and a cube") is None


def test_words_with_symbols_match_literally():
    terms = BannedTerms(words=("f*ck", "a.b"))
    assert terms.first_match("what the F*CK") == "f*ck"
    assert terms.first_match("what the fck") is None
    assert terms.first_match("fuuck") is None
    assert terms.first_match("axb") is None
    assert terms.first_match("see a.b here") == "a.b"


def test_blank_words_match_nothing():
    terms = BannedTerms(words=("", "   ", "\u200b"))
    # Punctuation at the end is a place where an empty whole-word regex would match.
    assert terms.first_match("any prompt, at all.") is None


def test_first_match_returns_the_term_as_configured():
    terms = BannedTerms(words=("Crème Brûlée",))
    assert terms.first_match("creme brulee dessert") == "Crème Brûlée"


def test_no_terms_match_nothing():
    assert BannedTerms().first_match("anything", "at all") is None


def test_pattern_matches_normalised_text():
    terms = BannedTerms(patterns=(r"dr[a4]g[o0]ns?\b",))
    assert terms.first_match("two DR4G\u200bONS") == r"dr[a4]g[o0]ns?\b"
    assert terms.first_match("ｄｒａｇｏｎ") == r"dr[a4]g[o0]ns?\b"
    assert terms.first_match("a dragonfly") is None


def test_compile_pattern_ignores_case():
    assert compile_pattern("dragon").search("DRAGON") is not None
    assert compile_pattern("dragon").flags & re.IGNORECASE


def test_invalid_pattern_names_pattern_and_error():
    message = refused("(abc")
    assert message == (
        "`(abc` isn't a valid regular expression: missing ), unterminated subpattern at position 0."
    )


def test_invalid_pattern_is_shown_to_the_user():
    with pytest.raises(UserFacingError):
        compile_pattern("[a-z")


def test_invalid_pattern_is_truncated_in_the_message():
    message = refused("(" + "x" * 150)
    assert message.startswith("`(" + "x" * 58 + "…`")
    assert "x" * 60 not in message
    assert "unterminated subpattern" in message


def test_too_long_pattern_refused():
    assert compile_pattern("x" * MAX_PATTERN_LENGTH)
    message = refused("x" * (MAX_PATTERN_LENGTH + 1))
    assert f"{MAX_PATTERN_LENGTH + 1} characters long" in message
    assert f"at most {MAX_PATTERN_LENGTH}" in message


@pytest.mark.parametrize("pattern", ["", "   "])
def test_empty_pattern_refused(pattern):
    assert "empty" in refused(pattern)


@pytest.mark.parametrize("pattern", ["a*", "x?", "(?:)"])
def test_pattern_matching_everything_refused(pattern):
    assert "block every prompt" in refused(pattern)


def test_banned_terms_refuses_invalid_pattern_when_built():
    with pytest.raises(InvalidPattern):
        BannedTerms(patterns=("dragon", "(abc"))


def test_negative_prompt_is_checked():
    terms = BannedTerms(words=("dragon",))
    assert terms.first_match("a castle", "dragon, blurry") == "dragon"
    assert terms.first_match("a castle", "blurry") is None


def test_none_texts_are_skipped():
    terms = BannedTerms(words=("dragon",))
    assert terms.first_match(None, None) is None
    assert terms.first_match(None, "a dragon") == "dragon"
    assert terms.first_match("a dragon", None) == "dragon"


def test_refusal_text_names_no_banned_term():
    terms = BannedTerms(words=("dragon",), patterns=(r"cast[l1]e",))
    text = refusal_text()
    assert text
    assert terms.first_match(text) is None
    assert "rephrase" in text
