"""A real, throwaway PostgreSQL for tests.

Fixtures (imported by tests/conftest.py):

- ``postgres_server`` (session): the server, started once per pytest session.
- ``postgres_url`` (function): the URL of a fresh, empty database on it, dropped after the test;
  ``postgresql://user:pass@127.0.0.1:port/dbname``, ready for ``asyncpg.connect``.

Where the server comes from:

- ``IMAGINE_TEST_DATABASE_URL=postgresql://user:pass@host:port/db`` uses an existing server (its
  own name, so the bot's ``DATABASE_URL`` never points tests at real data). The role needs
  CREATEDB, and the server PostgreSQL 13 or later (``DROP DATABASE ... WITH (FORCE)``).
- Otherwise a server is started from the highest ``/usr/lib/postgresql/*/bin`` (Debian's layout;
  ``IMAGINE_TEST_PG_ROOT`` searches another folder instead, else ``initdb`` on PATH is used), in
  a temporary folder, on a free port of 127.0.0.1 only, with no unix socket. As root, initdb and
  postgres run as the ``postgres`` system user, because both refuse to run as root.
- Neither: the tests that need it skip, except under ``CI`` (set and not false), where they fail.
  Install the binaries with ``apt-get install postgresql``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import pytest

URL_ENV = "IMAGINE_TEST_DATABASE_URL"
ROOT_ENV = "IMAGINE_TEST_PG_ROOT"
DEFAULT_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "install PostgreSQL's server binaries (Debian/Ubuntu: `apt-get install postgresql`), "
    f"or set {URL_ENV}=postgresql://user:pass@host:port/db to use an existing server"
)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SERVER_USER = "postgres"  # the system account the server runs as when we are root
ROLE = "imagine_test"
SCHEMES = ("postgresql", "postgres")
# Throwaway data: durability costs time and buys nothing.
SPEED_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresNotFound(Exception):
    """No PostgreSQL server binaries on this machine."""


class PostgresStartError(RuntimeError):
    """The binaries are there, but the server did not come up."""


@dataclass(frozen=True)
class PostgresServer:
    """A server the tests may create databases on."""

    admin_url: str  # a database the role can connect to, to CREATE and DROP test databases
    pid: int | None = None  # our own postmaster's; None for a server from IMAGINE_TEST_DATABASE_URL
    started_in: float | None = None  # seconds from initdb to accepting connections

    @property
    def external(self) -> bool:
        return self.pid is None

    @property
    def port(self) -> int:
        return urlsplit(self.admin_url).port or 5432

    def url_for(self, dbname: str) -> str:
        return urlsplit(self.admin_url)._replace(path="/" + dbname).geturl()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def external_server() -> PostgresServer | None:
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    if urlsplit(url).scheme not in SCHEMES:
        raise ValueError(f"{URL_ENV} must be a postgresql:// or postgres:// URL, got {url!r}")
    return PostgresServer(admin_url=url)


def _version(name: str) -> tuple[int, ...] | None:
    return tuple(int(p) for p in name.split(".")) if re.fullmatch(r"\d+(\.\d+)*", name) else None


def find_bindir() -> Path:
    """The bin folder of the highest installed PostgreSQL version that has initdb and postgres."""
    override = os.environ.get(ROOT_ENV)
    root = Path(override) if override else DEFAULT_ROOT
    found: list[tuple[tuple[int, ...], Path]] = []
    notes: list[str] = []
    for bindir in root.glob("*/bin") if root.is_dir() else []:
        version = _version(bindir.parent.name)
        if version is None:
            continue
        missing = [b for b in ("initdb", "postgres") if not os.access(bindir / b, os.X_OK)]
        if missing:
            notes.append(f"{bindir} has no {' or '.join(missing)}")
        else:
            found.append((version, bindir))
    if found:
        return max(found)[1]
    where = f"{root}/*/bin"
    # Other layouts (Homebrew, Fedora) put initdb on PATH; not when a folder was named on purpose.
    initdb = None if override else shutil.which("initdb")
    if initdb and os.access(Path(initdb).parent / "postgres", os.X_OK):
        return Path(initdb).parent
    if not override:
        where += " or on PATH"
    detail = f" ({'; '.join(notes)})" if notes else ""
    raise PostgresNotFound(
        f"no PostgreSQL server binaries (initdb, postgres) in {where}{detail}: " + INSTALL_HINT
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, start: int = 0, limit: int = 4000) -> str:
    try:
        text = path.read_bytes()[start:].decode(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return text[-limit:].strip() or "(empty log)"


class LocalPostgres:
    """One server process in its own temporary folder; ``with`` it, or start() and stop()."""

    def __init__(self, bindir: Path, *, timeout: float = START_TIMEOUT) -> None:
        self.bindir = bindir
        self.timeout = timeout
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> PostgresServer:
        began = time.monotonic()
        deadline = began + self.timeout
        self._tmp = tmp = Path(tempfile.mkdtemp(prefix="imagine-test-pg-"))
        try:
            prefix = self._server_user_prefix(tmp)
            password = secrets.token_urlsafe(18)  # URL-safe: goes into the URL unquoted
            self._initdb(prefix, tmp, password, deadline)
            port = self._run_server(prefix, tmp, deadline)
        except BaseException:
            self.stop()
            raise
        assert self._proc is not None
        return PostgresServer(
            admin_url=f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/postgres",
            pid=self._proc.pid,
            started_in=time.monotonic() - began,
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            # SIGINT is PostgreSQL's fast shutdown; escalate if it hangs.
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                proc.send_signal(sig)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=STOP_TIMEOUT)
            proc.wait()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    @property
    def _env(self) -> dict[str, str]:
        # Nothing of ours (PGDATA, PGPORT, a locale that may not exist) leaks into the server.
        return {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "LANG": "C"}

    def _server_user_prefix(self, tmp: Path) -> list[str]:
        setpriv = shutil.which("setpriv")
        if os.geteuid() != 0:
            # Linux: take the server down with us if pytest itself is killed.
            return [setpriv, "--pdeathsig=SIGINT"] if setpriv else []
        try:
            import pwd

            account = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresStartError(
                f"running as root, but there is no {SERVER_USER!r} system user to run initdb and "
                "postgres as (both refuse root); Debian's postgresql package creates it"
            ) from None
        if setpriv is None:
            raise PostgresStartError(
                "running as root needs setpriv (util-linux) to run initdb and postgres as "
                f"{SERVER_USER!r}"
            )
        os.chown(tmp, account.pw_uid, account.pw_gid)
        # setpriv execs in place, so the PID we hold is the postmaster's own.
        return [
            setpriv,
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--init-groups",
            "--pdeathsig=SIGINT",
        ]

    def _initdb(self, prefix: list[str], tmp: Path, password: str, deadline: float) -> None:
        pwfile = tmp / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            stat = tmp.stat()
            os.chown(pwfile, stat.st_uid, stat.st_gid)
        argv = [
            *prefix,
            str(self.bindir / "initdb"),
            f"--pgdata={tmp / 'data'}",
            f"--username={ROLE}",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        try:
            result = subprocess.run(
                argv,
                cwd=tmp,
                env=self._env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=max(deadline - time.monotonic(), 1.0),
            )
        except subprocess.TimeoutExpired:
            raise PostgresStartError(f"initdb took over {self.timeout:.0f} s: {argv}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {result.returncode}): {' '.join(argv)}\n"
                f"{result.stdout}{result.stderr}".strip()
            )

    def _run_server(self, prefix: list[str], tmp: Path, deadline: float) -> int:
        log = tmp / "server.log"
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",  # TCP only: no socket path to place or clean up
            **SPEED_SETTINGS,
        }
        # A free port can be taken between our check and the server's bind: try a new one.
        for _attempt in range(3):
            port = _free_port()
            argv = [
                *prefix,
                str(self.bindir / "postgres"),
                "-D",
                str(tmp / "data"),
                "-p",
                str(port),
            ]
            for name, value in settings.items():
                argv += ["-c", f"{name}={value}"]
            offset = log.stat().st_size if log.exists() else 0
            with log.open("ab") as out:
                self._proc = subprocess.Popen(
                    argv,
                    cwd=tmp,
                    env=self._env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C meant for pytest does not stop it mid-teardown.
                    start_new_session=True,
                )
            if self._wait_ready(self._proc, tmp / "data", port, deadline):
                return port
            output = _tail(log, offset)
            self._proc.wait()
            self._proc = None
            if "already in use" not in output:
                raise PostgresStartError(f"postgres exited at start: {' '.join(argv)}\n{output}")
        raise PostgresStartError(f"postgres found no free port after 3 tries\n{_tail(log)}")

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], data: Path, port: int, deadline: float
    ) -> bool:
        """True once it accepts connections, False if it exited; raises on timeout."""
        while proc.poll() is None:
            if self._pid_file_status(data) == "ready" and _accepts(port):
                return True
            if time.monotonic() > deadline:
                log = _tail(data.parent / "server.log")
                raise PostgresStartError(
                    f"postgres did not accept connections on 127.0.0.1:{port} within "
                    f"{self.timeout:.0f} s\n{log}"
                )
            time.sleep(0.05)
        return False

    @staticmethod
    def _pid_file_status(data: Path) -> str:
        # Line 8 of postmaster.pid is the postmaster's state: "starting", "ready", "stopping".
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[7].strip() if len(lines) > 7 else ""


@asynccontextmanager
async def fresh_database(server: PostgresServer) -> AsyncIterator[str]:
    """Create an empty database on the server; yield its URL; drop it afterwards."""
    import asyncpg  # here, so the rest of the suite does not need it to import conftest

    name = f"imagine_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(server.admin_url, timeout=10)
    try:
        # template0 is pristine even on a shared server; C locale is valid with any encoding.
        await admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'", timeout=30
        )
    finally:
        await admin.close()
    try:
        yield server.url_for(name)
    finally:
        admin = await asyncpg.connect(server.admin_url, timeout=10)
        try:
            # FORCE: a connection the code under test left open must not keep the database alive.
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", timeout=30)
        finally:
            await admin.close()


def local_bindir() -> Path:
    """find_bindir(), or skip the test, except in CI, where a missing PostgreSQL is a failure."""
    try:
        return find_bindir()
    except PostgresNotFound as exc:
        message = str(exc)  # fail/skip outside the except: no chained traceback in the report
    if in_ci():
        pytest.fail(f"{message} (CI is set: tests that need PostgreSQL never skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL per session: IMAGINE_TEST_DATABASE_URL's, else our own throwaway one."""
    problem = ""
    try:
        external = external_server()
    except ValueError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    if external is not None:
        yield external
        return
    local = LocalPostgres(local_bindir())
    try:
        server = local.start()
    except PostgresStartError as exc:
        problem = f"could not start a test PostgreSQL: {exc}"
    if problem:
        pytest.fail(problem, pytrace=False)
    print(
        f"\ntest PostgreSQL (pid {server.pid}) on 127.0.0.1:{server.port}, "
        f"up in {server.started_in:.2f} s",
        file=sys.stderr,
    )
    try:
        yield server
    finally:
        local.stop()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database for this test alone: postgresql://user:pass@127.0.0.1:port/db."""
    async with fresh_database(postgres_server) as url:
        yield url
