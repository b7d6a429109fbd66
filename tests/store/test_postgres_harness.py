"""The throwaway PostgreSQL harness: a real server, an empty database per test, loopback only."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.support import postgres
from tests.support.postgres import PostgresServer, fresh_database

USER_TABLES = (
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
)

seen_databases: list[str] = []


def dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def test_connects_with_asyncpg_and_runs_a_query(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
        assert await conn.fetchval("SELECT current_database()") == dbname(postgres_url)
    finally:
        await conn.close()


@pytest.mark.parametrize("which", ["one", "another"])
async def test_each_test_gets_its_own_empty_database(postgres_url: str, which: str) -> None:
    # Each run leaves a table behind; the other run must neither share its database nor see it.
    assert dbname(postgres_url) not in seen_databases
    seen_databases.append(dbname(postgres_url))
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval(USER_TABLES) == 0
        await conn.execute("CREATE TABLE left_behind (who text)")
        await conn.execute("INSERT INTO left_behind VALUES ($1)", which)
    finally:
        await conn.close()


async def test_fresh_database_is_dropped_afterwards(postgres_server: PostgresServer) -> None:
    async with fresh_database(postgres_server) as first, fresh_database(postgres_server) as second:
        assert dbname(first) != dbname(second)
    admin = await asyncpg.connect(postgres_server.admin_url)
    try:
        names = {r["datname"] for r in await admin.fetch("SELECT datname FROM pg_database")}
    finally:
        await admin.close()
    assert not {dbname(first), dbname(second)} & names


def listening_addresses(port: int) -> set[str] | None:
    """Local addresses with a TCP socket listening on the port, as Linux reports them."""
    if not Path("/proc/net/tcp").exists():
        return None
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(bytes.fromhex(addr_hex[i : i + 8])[::-1] for i in range(0, width * 2, 8))
            found.add(str(ipaddress.ip_address(raw)))
    return found


async def test_own_server_listens_on_loopback_only(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    if postgres_server.external:
        pytest.skip(f"server from {postgres.URL_ENV}: its listening is not ours to check")
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SHOW unix_socket_directories") == ""
        assert str(await conn.fetchval("SELECT inet_server_addr()")) == "127.0.0.1"
        assert await conn.fetchval("SHOW fsync") == "off"
    finally:
        await conn.close()
    assert listening_addresses(postgres_server.port) in ({"127.0.0.1"}, None)
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            assert s.connect_ex(("::1", postgres_server.port)) != 0


def make_bindir(root: Path, version: str, *binaries: str) -> Path:
    bindir = root / version / "bin"
    bindir.mkdir(parents=True)
    for name in binaries:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return bindir


def test_picks_the_highest_complete_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(postgres.ROOT_ENV, str(tmp_path))
    make_bindir(tmp_path, "9.6", "initdb", "postgres")
    best = make_bindir(tmp_path, "15", "initdb", "postgres")
    make_bindir(tmp_path, "16", "initdb")  # half-installed: no server binary
    assert postgres.find_bindir() == best


def test_missing_binaries_fail_in_ci_and_skip_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(postgres.ROOT_ENV, str(tmp_path))
    make_bindir(tmp_path, "16", "initdb")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"16/bin has no postgres.*apt-get install"):
        postgres.local_bindir()
    for value in ("", "false"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
            postgres.local_bindir()


def test_database_url_env_must_be_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.URL_ENV, "sqlite:///x.sqlite3")
    with pytest.raises(ValueError, match=postgres.URL_ENV):
        postgres.external_server()
    monkeypatch.setenv(postgres.URL_ENV, "postgres://u:p@db.example:6543/app?sslmode=disable")
    server = postgres.external_server()
    assert server is not None and server.external and server.port == 6543
    assert server.url_for("t1") == "postgres://u:p@db.example:6543/t1?sslmode=disable"
