"""Settings: read once from the environment in the composition root, validated, frozen."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.core import limits
from bot.core.shards import Shards
from bot.oxen import DEFAULT_BASE_URL as DEFAULT_OXEN_BASE_URL

DEFAULT_MODEL = limits.DEFAULT_MODEL
DEFAULT_EDIT_MODEL = limits.DEFAULT_EDIT_MODEL
DEFAULT_DATABASE_URL = "sqlite:///data/imagine-bot.sqlite3"
POSTGRES_SCHEMES = ("postgresql", "postgres")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
# The health and metrics server: this machine only by default (the image sets 0.0.0.0).
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8080  # the Dockerfile's HEALTHCHECK and EXPOSE say the same
# The web gallery: a reverse proxy on this machine may say who the client is.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.0/8", "::1/128")
DEFAULT_GALLERY_FILES_DIR = Path("data/gallery")  # with PostgreSQL; relative to the working dir

_COPY_ENV_HINT = "copy .env.example to .env and fill it in"
MAX_SHARDS = 10_000  # far beyond any bot; a typo's extra digits are caught


class ConfigError(Exception):
    """A setting is missing or malformed. The text names the variable and the fix, never a value."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variable = variable
        super().__init__(f"{variable} {problem}: {fix}")


@dataclass(frozen=True)
class Settings:
    # repr=False keeps secrets out of logs and tracebacks that print the settings.
    discord_token: str = field(repr=False)
    oxen_api_key: str = field(repr=False)
    oxen_base_url: str = DEFAULT_OXEN_BASE_URL
    oxen_model: str = DEFAULT_MODEL
    oxen_edit_model: str = DEFAULT_EDIT_MODEL
    database_path: Path = Path("data/imagine-bot.sqlite3")  # the SQLite file, unless database_url
    # DATABASE_URL when it names PostgreSQL (it may hold a password); None: SQLite, database_path
    database_url: str | None = field(default=None, repr=False)
    discord_api_base_url: str | None = None
    guild_ids: tuple[int, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object a line
    http_host: str = DEFAULT_HTTP_HOST
    http_port: int = DEFAULT_HTTP_PORT  # 0: no health and metrics server
    poll_interval: float = limits.DEFAULT_POLL_INTERVAL_SECONDS
    max_generation_age: float = limits.DEFAULT_MAX_GENERATION_AGE_SECONDS
    max_download_bytes: int = limits.DEFAULT_MAX_DOWNLOAD_BYTES
    download_timeout: float = limits.DEFAULT_DOWNLOAD_TIMEOUT_SECONDS
    allow_dms: bool = False  # /imagine and friends in DMs with the bot
    max_generations_in_flight: int = 0  # for the whole bot; 0 = no cap
    shutdown_grace: float = limits.DEFAULT_SHUTDOWN_GRACE_SECONDS
    job_retention_days: int = limits.DEFAULT_JOB_RETENTION_DAYS  # 0 keeps every row
    # The web gallery: where the operator exposes the web server (None: no links can be given),
    # where the copies of shared images live (None: `gallery` beside the SQLite file, or
    # data/gallery with PostgreSQL), requests per minute per address, and the reverse proxies
    # whose X-Forwarded-For names the client.
    public_base_url: str | None = None
    gallery_files_dir: Path | None = None
    gallery_rate_per_minute: int = limits.DEFAULT_GALLERY_RATE_PER_MINUTE
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    # Several processes: Discord's shards in all (None: unsharded), the ones this process runs
    # (None: all of them), and how long a process's claim on a job lasts without renewal.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    lease_seconds: float = limits.DEFAULT_LEASE_SECONDS
    database_wait: float = limits.DEFAULT_DATABASE_WAIT_SECONDS  # for PostgreSQL, at start
    database_pool_size: int = limits.DEFAULT_DATABASE_POOL_SIZE  # PostgreSQL connections
    # Not read from the environment: Discord-friendly pacing, shortened only by tests.
    status_edit_interval: float = limits.DEFAULT_STATUS_EDIT_INTERVAL_SECONDS
    weekly_check_interval: float = limits.DEFAULT_WEEKLY_CHECK_SECONDS  # the gallery's weekly post

    @property
    def gallery_files(self) -> Path:
        """The folder of the shared images' copies (in the Docker volume by default)."""
        if self.gallery_files_dir is not None:
            return self.gallery_files_dir
        if self.database_url is None:
            return self.database_path.parent / "gallery"
        return DEFAULT_GALLERY_FILES_DIR

    @property
    def shards(self) -> Shards:
        return Shards(self.shard_count, self.shard_ids)

    @property
    def store_url(self) -> str:
        """What the store opens: the PostgreSQL URL, else the SQLite file as a sqlite:/// URL."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        password = urlsplit(self.database_url).password if self.database_url else None
        # As written in the URL and percent-decoded, as a driver or an error might show it.
        database = (password, unquote(password)) if password else ()
        return (self.discord_token, self.oxen_api_key, *database)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; raise ConfigError on the first bad value."""

    def get(name: str) -> str:
        return environ.get(name, "").strip()

    database_path, database_url = _database(get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    shard_count, shard_ids = _sharding(get("SHARD_COUNT"), get("SHARD_IDS"))
    return Settings(
        discord_token=_required_secret(get("DISCORD_TOKEN"), "DISCORD_TOKEN"),
        oxen_api_key=_required_secret(get("OXEN_API_KEY"), "OXEN_API_KEY"),
        oxen_base_url=_http_url(get("OXEN_BASE_URL") or DEFAULT_OXEN_BASE_URL, "OXEN_BASE_URL"),
        oxen_model=_model_id(get("OXEN_MODEL") or DEFAULT_MODEL),
        oxen_edit_model=_model_id(get("OXEN_EDIT_MODEL") or DEFAULT_EDIT_MODEL, "OXEN_EDIT_MODEL"),
        database_path=database_path,
        database_url=database_url,
        discord_api_base_url=(
            _http_url(value, "DISCORD_API_BASE_URL")
            if (value := get("DISCORD_API_BASE_URL"))
            else None
        ),
        guild_ids=_guild_ids(get("DISCORD_GUILD_IDS")),
        log_level=_log_level(get("LOG_LEVEL") or "INFO"),
        log_format=_log_format(get("LOG_FORMAT") or "text"),
        http_host=_http_host(get("HTTP_HOST") or DEFAULT_HTTP_HOST),
        http_port=_http_port(get("HTTP_PORT")),
        poll_interval=_positive_number(
            get("POLL_INTERVAL_SECONDS"),
            "POLL_INTERVAL_SECONDS",
            limits.DEFAULT_POLL_INTERVAL_SECONDS,
        ),
        max_generation_age=_positive_number(
            get("MAX_GENERATION_AGE_SECONDS"),
            "MAX_GENERATION_AGE_SECONDS",
            limits.DEFAULT_MAX_GENERATION_AGE_SECONDS,
        ),
        max_download_bytes=int(
            _positive_number(
                get("MAX_DOWNLOAD_MB"),
                "MAX_DOWNLOAD_MB",
                limits.DEFAULT_MAX_DOWNLOAD_BYTES / limits.MIB,
            )
            * limits.MIB
        ),
        download_timeout=_positive_number(
            get("DOWNLOAD_TIMEOUT_SECONDS"),
            "DOWNLOAD_TIMEOUT_SECONDS",
            limits.DEFAULT_DOWNLOAD_TIMEOUT_SECONDS,
        ),
        allow_dms=_flag(get("ALLOW_DMS"), "ALLOW_DMS"),
        max_generations_in_flight=_count(
            get("MAX_GENERATIONS_IN_FLIGHT"), "MAX_GENERATIONS_IN_FLIGHT"
        ),
        shutdown_grace=_positive_number(
            get("SHUTDOWN_GRACE_SECONDS"),
            "SHUTDOWN_GRACE_SECONDS",
            limits.DEFAULT_SHUTDOWN_GRACE_SECONDS,
        ),
        job_retention_days=_count(
            get("JOB_RETENTION_DAYS"),
            "JOB_RETENTION_DAYS",
            default=limits.DEFAULT_JOB_RETENTION_DAYS,
            zero="0 to keep every job",
        ),
        public_base_url=(_public_base_url(value) if (value := get("PUBLIC_BASE_URL")) else None),
        gallery_files_dir=Path(value) if (value := get("GALLERY_FILES_DIR")) else None,
        gallery_rate_per_minute=_count(
            get("GALLERY_RATE_PER_MINUTE"),
            "GALLERY_RATE_PER_MINUTE",
            default=limits.DEFAULT_GALLERY_RATE_PER_MINUTE,
            zero=str(limits.DEFAULT_GALLERY_RATE_PER_MINUTE),
            positive=True,
        ),
        trusted_proxies=_networks(get("TRUSTED_PROXIES")),
        shard_count=shard_count,
        shard_ids=shard_ids,
        lease_seconds=_lease_seconds(get("LEASE_SECONDS")),
        database_wait=_non_negative_number(
            get("DATABASE_WAIT_SECONDS"),
            "DATABASE_WAIT_SECONDS",
            limits.DEFAULT_DATABASE_WAIT_SECONDS,
        ),
        database_pool_size=_pool_size(get("DATABASE_POOL_SIZE")),
    )


def _pool_size(value: str) -> int:
    size = _count(
        value,
        "DATABASE_POOL_SIZE",
        default=limits.DEFAULT_DATABASE_POOL_SIZE,
        zero=str(limits.DEFAULT_DATABASE_POOL_SIZE),
        positive=True,
    )
    if size < limits.MIN_DATABASE_POOL_SIZE:
        raise ConfigError(
            "DATABASE_POOL_SIZE",
            f"must be at least {limits.MIN_DATABASE_POOL_SIZE}",
            f"use {limits.DEFAULT_DATABASE_POOL_SIZE}, or e.g. 4",
        )
    return size


def _sharding(count: str, ids: str) -> tuple[int | None, tuple[int, ...] | None]:
    """SHARD_COUNT and SHARD_IDS: (all shards, this process's) or (None, None) unsharded."""
    if not count:
        if ids:
            raise ConfigError(
                "SHARD_IDS",
                "is set without SHARD_COUNT",
                "set SHARD_COUNT to the total number of shards",
            )
        return None, None
    if not count.isdigit() or not 1 <= int(count) <= MAX_SHARDS:
        raise ConfigError(
            "SHARD_COUNT",
            f"must be a whole number from 1 to {MAX_SHARDS}",
            "use the number of shards all processes run together, e.g. 2",
        )
    total = int(count)
    if not ids:
        return total, None
    fix = f"use shard ids from 0 to {total - 1}, e.g. 0,1 or 0-3"
    chosen: list[int] = []
    for part in ids.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ConfigError("SHARD_IDS", "must be comma-separated ids or ranges", fix)
        first, last = int(low), int(high) if dash else int(low)
        if first > last:
            raise ConfigError("SHARD_IDS", "has a range that ends before it starts", fix)
        if last >= total:
            raise ConfigError("SHARD_IDS", f"names shards outside 0-{total - 1}", fix)
        chosen += range(first, last + 1)
    if len(set(chosen)) != len(chosen):
        raise ConfigError("SHARD_IDS", "names a shard twice", fix)
    return total, tuple(sorted(chosen))


def _lease_seconds(value: str) -> float:
    seconds = _positive_number(value, "LEASE_SECONDS", limits.DEFAULT_LEASE_SECONDS)
    if seconds < limits.MIN_LEASE_SECONDS:
        raise ConfigError(
            "LEASE_SECONDS",
            f"must be at least {limits.MIN_LEASE_SECONDS:g}",
            f"remove it to use {limits.DEFAULT_LEASE_SECONDS:g}",
        )
    return seconds


def _required_secret(value: str, name: str) -> str:
    if not value:
        raise ConfigError(name, "is not set", _COPY_ENV_HINT)
    if any(ch.isspace() for ch in value) or value.startswith(("'", '"')):
        raise ConfigError(
            name, "is malformed (spaces or quotes)", "paste the value exactly, without quotes"
        )
    return value


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, "is not an http(s) URL", "use a value like https://host[:port]")
    return value.rstrip("/")


def _public_base_url(value: str) -> str:
    """Where people reach the bot's web server: http(s)://host[:port][/path], nothing more."""
    url = _http_url(value, "PUBLIC_BASE_URL")
    parts = urlsplit(url)
    if parts.username or parts.password or "?" in url or "#" in url:
        raise ConfigError(
            "PUBLIC_BASE_URL",
            "must be a plain address",
            "use e.g. https://imagine.example.com (no user, query or #fragment)",
        )
    return url


def _networks(value: str) -> tuple[str, ...]:
    if not value:
        return DEFAULT_TRUSTED_PROXIES
    networks = []
    for part in value.split(","):
        try:
            networks.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise ConfigError(
                "TRUSTED_PROXIES",
                "must be comma-separated IP addresses or networks",
                "use e.g. 127.0.0.1,::1 or 172.16.0.0/12 (your reverse proxy's address)",
            ) from None
    return tuple(networks)


def _model_id(value: str, name: str = "OXEN_MODEL") -> str:
    if any(ch.isspace() for ch in value):
        raise ConfigError(
            name, "is not a model id", f"use an Oxen model id such as {DEFAULT_MODEL}"
        )
    return value


_POSTGRES_EXAMPLE = "postgresql://user:password@host:5432/dbname"


def _database(value: str) -> tuple[Path, str | None]:
    """DATABASE_URL as (the SQLite file, the PostgreSQL URL or None for SQLite)."""
    if urlsplit(value).scheme.lower() in POSTGRES_SCHEMES:
        return Settings.database_path, _postgres_url(value)
    return _sqlite_path(value), None


def _sqlite_path(value: str) -> Path:
    prefix = "sqlite:///"
    if not value.startswith(prefix) or len(value) == len(prefix):
        raise ConfigError(
            "DATABASE_URL",
            "is not a SQLite or PostgreSQL URL",
            "use sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3 or "
            + _POSTGRES_EXAMPLE,
        )
    return Path(value[len(prefix) :])


def _postgres_url(value: str) -> str:
    # Checked here so a typo stops the bot before it starts; the value itself is never shown.
    parts = urlsplit(value)
    encode = "percent-encode @ : / ? # in the user name and password"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ConfigError(
            "DATABASE_URL", "has a malformed port", f"use {_POSTGRES_EXAMPLE} ({encode})"
        ) from None
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(
            "DATABASE_URL", "names no PostgreSQL server", f"use {_POSTGRES_EXAMPLE} ({encode})"
        )
    dbname = parts.path.removeprefix("/")
    if not dbname or "/" in dbname:
        raise ConfigError(
            "DATABASE_URL",
            "names no PostgreSQL database",
            f"end it with the database's name: {_POSTGRES_EXAMPLE} ({encode})",
        )
    return value


def _guild_ids(value: str) -> tuple[int, ...]:
    if not value:
        return ()
    ids: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ConfigError(
                "DISCORD_GUILD_IDS",
                "must be comma-separated numeric guild ids",
                "copy each server id (Developer Mode → right-click the server → Copy Server ID)",
            )
        ids.append(int(part))
    return tuple(ids)


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", "is not a log level", f"use one of {', '.join(LOG_LEVELS)}")
    return level


def _log_format(value: str) -> str:
    form = value.lower()
    if form not in LOG_FORMATS:
        raise ConfigError(
            "LOG_FORMAT", "is not a log format", "use text (the default) or json (one per line)"
        )
    return form


def _http_host(value: str) -> str:
    """An IP address or a host name to listen on (not a URL)."""
    try:
        return str(ipaddress.ip_address(value.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if all(_HOST_LABEL.fullmatch(label) for label in labels):
        return value
    raise ConfigError(
        "HTTP_HOST",
        "is not an IP address or host name",
        "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface, e.g. in a container)",
    )


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _http_port(value: str) -> int:
    if not value:
        return DEFAULT_HTTP_PORT
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(
            "HTTP_PORT",
            "is not a port number from 0 to 65535",
            f"use e.g. {DEFAULT_HTTP_PORT}, or 0 to turn the health and metrics server off",
        )
    return int(value)


def _positive_number(value: str, name: str, default: float) -> float:
    return _number(value, name, default, zero_allowed=False)


def _non_negative_number(value: str, name: str, default: float) -> float:
    return _number(value, name, default, zero_allowed=True)


def _number(value: str, name: str, default: float, *, zero_allowed: bool) -> float:
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
        wanted = "0 or a positive number" if zero_allowed else "a positive number"
        raise ConfigError(name, f"must be {wanted}", f"remove it to use {default:g}")
    return number


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(value: str, name: str) -> bool:
    if not value:
        return False
    if value.lower() not in _TRUE + _FALSE:
        raise ConfigError(name, "is not true or false", "use true or false (or remove it: false)")
    return value.lower() in _TRUE


def _count(
    value: str,
    name: str,
    *,
    default: int = 0,
    zero: str = "0 for no limit",
    positive: bool = False,
) -> int:
    """A whole number >= 0 (``positive``: >= 1); empty means ``default``."""
    if not value:
        return default
    if not value.isdigit() or (positive and int(value) < 1):
        kind = "a whole number of at least 1" if positive else "a whole number"
        raise ConfigError(name, f"must be {kind}", f"use {zero}, or e.g. 20")
    return int(value)
