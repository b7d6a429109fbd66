"""LOG_FORMAT text and json: the ids a line is about, and secrets scrubbed in both formats."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bot.config import load_settings
from bot.core.log_context import log_context
from bot.core.ports import StoreUnavailable
from bot.logs import configure_logging

TOKEN = "discord-secret-token"
KEY = 'oxen"secret\\key'  # quotes and backslashes look different inside a JSON string
ENV = {"DISCORD_TOKEN": TOKEN, "OXEN_API_KEY": "oxen-plain-key"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def configure(stream: io.StringIO, log_format: str, *secrets: str) -> logging.Logger:
    settings = load_settings({**ENV, "LOG_FORMAT": log_format})
    if secrets:
        settings = replace(settings, oxen_api_key=secrets[0])
    configure_logging(settings)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return logging.getLogger("bot.test")


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_ids_of_what_they_are_about(captured):
    log = configure(captured, "json")
    log.info("no context")
    with log_context(guild_id=1, channel_id=2, user_id=3):
        log.info("request %s", "accepted")
        with log_context(generation_id="gen-1", request_id="gen-1"):
            log.warning("delivering")
    log.info("explicit", extra={"generation_id": "gen-2", "user_id": 9})
    first, request, delivering, explicit = json_lines(captured)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["logger"] == "bot.test" and first["level"] == "INFO"
    assert first["time"].endswith("+00:00")
    assert request["message"] == "request accepted"
    assert (request["guild_id"], request["channel_id"], request["user_id"]) == (1, 2, 3)
    assert "generation_id" not in request
    assert delivering["generation_id"] == "gen-1" and delivering["guild_id"] == 1
    assert delivering["level"] == "WARNING"
    assert explicit["generation_id"] == "gen-2" and explicit["user_id"] == 9


def test_json_carries_the_traceback(captured):
    log = configure(captured, "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("it failed")
    [line] = json_lines(captured)
    assert line["message"] == "it failed"
    assert "RuntimeError: boom" in line["exception"] and "Traceback" in line["exception"]


def test_text_is_the_default_and_unchanged(captured):
    settings = load_settings(ENV)
    assert settings.log_format == "text"
    log = configure(captured, "text")
    with log_context(generation_id="gen-1"):
        log.info("hello %s", "there")
    [line] = captured.getvalue().splitlines()
    assert line.endswith("INFO     bot.test: hello there")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_are_scrubbed_everywhere_in_both_formats(captured, log_format):
    log = configure(captured, log_format, KEY)
    log.info("the token is %s", TOKEN)
    log.info("the key is " + KEY)
    log.info("a url with it", extra={"generation_id": f"x{KEY}y"})
    try:
        raise ValueError(f"Oxen refused {KEY} and {TOKEN}")
    except ValueError:
        log.exception("failed with %r", KEY)
    text = captured.getvalue()
    shown = repr(KEY)[1:-1]
    escaped = {json.dumps(KEY)[1:-1], json.dumps(shown)[1:-1]}
    for secret in (TOKEN, KEY, shown, *escaped, "secret\\key", 'oxen"secret', "oxen\\"):
        assert secret not in text, (log_format, secret)
    assert text.count("[redacted]") >= 5
    if log_format == "json":
        lines = json_lines(captured)  # still valid JSON after scrubbing
        assert "[redacted]" in lines[-1]["exception"]


def test_an_unknown_log_context_field_is_refused():
    with pytest.raises(TypeError), log_context(password="x"):
        pass


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_database_outage_is_one_warning_line_and_other_errors_keep_their_traceback(
    captured, log_format
):
    log = configure(captured, log_format)
    try:
        raise StoreUnavailable("ConnectionRefusedError: [Errno 111] Connect call failed")
    except StoreUnavailable:
        log.exception("watcher pass failed; retrying in %.1fs", 3.0)
    try:
        raise KeyError("a bug")
    except KeyError:
        log.exception("something else failed")
    text = captured.getvalue()
    if log_format == "json":
        outage, bug = json_lines(captured)
        assert outage["level"] == "WARNING" and "exception" not in outage
        assert outage["message"] == (
            "watcher pass failed; retrying in 3.0s: the database cannot be reached "
            "(ConnectionRefusedError: [Errno 111] Connect call failed)"
        )
        assert bug["level"] == "ERROR" and "KeyError: 'a bug'" in bug["exception"]
    else:
        first, *rest = text.splitlines()
        assert "WARNING" in first and "retrying in 3.0s: the database cannot be reached" in first
        assert "ERROR" in rest[0] and "something else failed" in rest[0]
        assert text.count("Traceback") == 1 and "KeyError: 'a bug'" in text
