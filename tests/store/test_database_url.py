"""DATABASE_URL picks the store: sqlite:/// the embedded one, postgresql:// or postgres:// the
Postgres one. A malformed URL stops the bot with the variable's name and the fix, and the
database password never reaches a log line."""

import logging

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import RedactSecrets
from bot.store import open_store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

VALID = {"DISCORD_TOKEN": "discord-secret-token", "OXEN_API_KEY": "oxen-secret-key"}


def settings_for(url):
    return load_settings({**VALID, "DATABASE_URL": url})


async def test_sqlite_urls_open_the_embedded_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = settings_for("sqlite:///data/bot.sqlite3")
    assert relative.database_url is None and relative.store_url == "sqlite:///data/bot.sqlite3"
    store = await open_store(relative.store_url)
    try:
        assert isinstance(store, SqliteStore)
    finally:
        await store.close()
    assert (tmp_path / "data" / "bot.sqlite3").exists()
    absolute = settings_for(f"sqlite:///{tmp_path}/abs.sqlite3")  # sqlite:////tmp/...
    store = await open_store(absolute.store_url)
    await store.close()
    assert (tmp_path / "abs.sqlite3").exists()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_urls_open_the_postgres_store(postgres_url, scheme):
    url = scheme + "://" + postgres_url.partition("://")[2]
    settings = settings_for(url)
    assert settings.database_url == url and settings.store_url == url
    store = await open_store(settings.store_url)
    try:
        assert isinstance(store, PostgresStore)
        await store.meta.set("k", "v")
        assert await store.meta.get("k") == "v"
    finally:
        await store.close()


async def test_open_store_refuses_other_urls_without_showing_them():
    with pytest.raises(ValueError) as info:
        await open_store("mysql://bot:hunter2@db/imagine")
    assert "mysql" in str(info.value) and "hunter2" not in str(info.value)


def test_the_database_password_is_a_secret_kept_out_of_logs_and_repr():
    settings = settings_for("postgresql://bot:p%40ss%2Fw0rd@db.internal:5432/imagine")
    assert "p%40ss%2Fw0rd" in settings.secrets and "p@ss/w0rd" in settings.secrets
    assert "w0rd" not in repr(settings)
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "cannot reach %s (password %s)",
        (settings.store_url, "p@ss/w0rd"), None,
    )  # fmt: skip
    RedactSecrets(settings.secrets).filter(record)
    assert "w0rd" not in record.getMessage()
    assert "db.internal" in record.getMessage()
    assert settings_for("postgresql://db.internal/imagine").secrets == (
        "discord-secret-token",
        "oxen-secret-key",
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgres://x", "names no PostgreSQL database"),
        ("postgresql://db.internal/", "names no PostgreSQL database"),
        ("postgresql://bot:secret@db.internal/a/b", "names no PostgreSQL database"),
        ("postgresql://bot:secret@/imagine", "names no PostgreSQL server"),
        ("postgresql://bot:secret@db.internal:port/imagine", "has a malformed port"),
        ("mysql://bot:secret@db/imagine", "is not a SQLite or PostgreSQL URL"),
        ("sqlite://relative.sqlite3", "is not a SQLite or PostgreSQL URL"),
    ],
)
def test_malformed_urls_name_the_variable_and_the_fix_but_not_the_value(url, problem):
    with pytest.raises(ConfigError) as info:
        settings_for(url)
    message = str(info.value)
    assert message.startswith(f"DATABASE_URL {problem}: ")
    assert "postgresql://user:password@host:5432/dbname" in message
    assert "secret" not in message and "db.internal" not in message


def test_a_unix_socket_url_is_accepted():
    url = "postgresql:///imagine?host=/var/run/postgresql"
    assert settings_for(url).store_url == url
