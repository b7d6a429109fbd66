import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import RedactSecrets

ROOT = Path(__file__).resolve().parent.parent
VALID = {"DISCORD_TOKEN": "discord-secret-token", "OXEN_API_KEY": "oxen-secret-key"}


def test_defaults_when_only_secrets_are_set():
    settings = load_settings(VALID)
    assert settings.oxen_base_url == "https://hub.oxen.ai"
    assert settings.oxen_model == "black-forest-labs-flux-2-klein-4b"
    assert settings.database_path == Path("data/imagine-bot.sqlite3")
    assert settings.discord_api_base_url is None
    assert settings.guild_ids == ()
    assert settings.log_level == "INFO"
    assert settings.allow_dms is False
    assert settings.max_generations_in_flight == 0  # no cap
    assert settings.database_wait == 60  # seconds for a PostgreSQL started with the bot
    assert settings.database_pool_size == 10


@pytest.mark.parametrize("variable", ["DISCORD_TOKEN", "OXEN_API_KEY"])
def test_each_missing_secret_gets_its_own_message(variable):
    env = {k: v for k, v in VALID.items() if k != variable}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value) == f"{variable} is not set: copy .env.example to .env and fill it in"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OXEN_BASE_URL", "hub.oxen.ai"),
        ("DATABASE_URL", "postgres://x"),
        ("DISCORD_API_BASE_URL", "ftp://proxy"),
        ("DISCORD_GUILD_IDS", "123,abc"),
        ("LOG_LEVEL", "LOUD"),
        ("OXEN_MODEL", "two words"),
        ("POLL_INTERVAL_SECONDS", "-1"),
        ("ALLOW_DMS", "maybe"),
        ("MAX_GENERATIONS_IN_FLIGHT", "-3"),
        ("MAX_GENERATIONS_IN_FLIGHT", "ten"),
        ("SHUTDOWN_GRACE_SECONDS", "nan"),
        ("SHUTDOWN_GRACE_SECONDS", "inf"),
        ("DATABASE_WAIT_SECONDS", "-1"),
        ("DATABASE_WAIT_SECONDS", "nan"),
        ("DATABASE_WAIT_SECONDS", "a minute"),
        ("DATABASE_POOL_SIZE", "1"),
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "ten"),
    ],
)
def test_malformed_values_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as info:
        load_settings({**VALID, variable: value})
    assert str(info.value).startswith(f"{variable} ")
    assert ":" in str(info.value)  # followed by the fix


def test_database_pool_size_is_read():
    assert load_settings({**VALID, "DATABASE_POOL_SIZE": "3"}).database_pool_size == 3


def test_database_wait_of_0_tries_once():
    assert load_settings({**VALID, "DATABASE_WAIT_SECONDS": "0"}).database_wait == 0


def test_parsed_values():
    settings = load_settings(
        {
            **VALID,
            "DATABASE_URL": "sqlite:////var/lib/bot.sqlite3",
            "DISCORD_GUILD_IDS": "1, 22,333",
            "LOG_LEVEL": "debug",
            "ALLOW_DMS": "True",
            "MAX_GENERATIONS_IN_FLIGHT": "20",
            "OXEN_BASE_URL": "http://127.0.0.1:9/",
        }
    )
    assert settings.database_path == Path("/var/lib/bot.sqlite3")
    assert settings.guild_ids == (1, 22, 333)
    assert settings.log_level == "DEBUG"
    assert settings.oxen_base_url == "http://127.0.0.1:9"
    assert settings.allow_dms is True
    assert settings.max_generations_in_flight == 20


def test_secrets_do_not_appear_in_repr():
    text = repr(load_settings(VALID))
    assert "discord-secret-token" not in text and "oxen-secret-key" not in text


def test_log_filter_redacts_secrets():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "sent %s", ("oxen-secret-key",), None
    )
    RedactSecrets(("oxen-secret-key",)).filter(record)
    assert record.getMessage() == "sent [redacted]"


def test_env_example_lists_every_setting():
    example = (ROOT / ".env.example").read_text()
    # Set, or shown commented out (HTTP_HOST: a value would win over the Docker image's own).
    listed = set(re.findall(r"^(?:# )?([A-Z_]+)=", example, flags=re.M))
    source = (ROOT / "bot" / "config.py").read_text()
    read = set(re.findall(r'get\("([A-Z_]+)"\)', source))
    assert read and listed == read
    readme = (ROOT / "README.md").read_text()
    for name in read:
        assert f"`{name}`" in readme, f"{name} missing from the README configuration table"


def test_secrets_in_env_example_are_empty():
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^DISCORD_TOKEN=$", example, flags=re.M)
    assert re.search(r"^OXEN_API_KEY=$", example, flags=re.M)


def test_missing_setting_exits_2_with_one_line_and_no_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OXEN_API_KEY": "oxen-secret-key"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "imagine-bot: DISCORD_TOKEN is not set: copy .env.example to .env and fill it in"
    ]
    assert (
        "Traceback" not in result.stderr and "oxen-secret-key" not in result.stderr + result.stdout
    )


def test_web_gallery_settings_and_their_defaults():
    settings = load_settings(VALID)
    assert settings.public_base_url is None
    assert settings.gallery_files == Path("data/gallery")  # beside the SQLite file: the volume
    assert settings.gallery_rate_per_minute == 600
    assert settings.trusted_proxies == ("127.0.0.0/8", "::1/128")
    sqlite = load_settings({**VALID, "DATABASE_URL": "sqlite:////data/imagine-bot.sqlite3"})
    assert sqlite.gallery_files == Path("/data/gallery")
    postgres = load_settings({**VALID, "DATABASE_URL": "postgresql://u:p@db:5432/imagine"})
    assert postgres.gallery_files == Path("data/gallery")
    chosen = load_settings(
        {
            **VALID,
            "PUBLIC_BASE_URL": "https://imagine.example.com/bot/",
            "GALLERY_FILES_DIR": "/srv/shared/gallery",
            "GALLERY_RATE_PER_MINUTE": "120",
            "TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12",
        }
    )
    assert chosen.public_base_url == "https://imagine.example.com/bot"
    assert chosen.gallery_files == Path("/srv/shared/gallery")
    assert chosen.gallery_rate_per_minute == 120
    assert chosen.trusted_proxies == ("10.0.0.5/32", "172.16.0.0/12")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PUBLIC_BASE_URL", "imagine.example.com"),
        ("PUBLIC_BASE_URL", "ftp://imagine.example.com"),
        ("PUBLIC_BASE_URL", "https://imagine.example.com/?x=1"),
        ("PUBLIC_BASE_URL", "https://user:pw@imagine.example.com"),
        ("PUBLIC_BASE_URL", "https://imagine.example.com/#top"),
        ("GALLERY_RATE_PER_MINUTE", "0"),
        ("GALLERY_RATE_PER_MINUTE", "lots"),
        ("TRUSTED_PROXIES", "my-proxy"),
    ],
)
def test_malformed_web_gallery_settings_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as info:
        load_settings({**VALID, variable: value})
    assert str(info.value).startswith(f"{variable} ") and ":" in str(info.value)
