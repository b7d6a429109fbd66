"""The deployment files keep the properties the README and the design promise."""

import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
# The image's interpreter and platform (python:3.11-slim), which scripts/lock resolves for.
IMAGE_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}


def dockerfile_instructions(stage: int = -1) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of one build stage, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages[stage]


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in instructions:
        if instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def main_dependencies() -> dict[str, Requirement]:
    """pyproject's [project] dependencies that apply in the image, by normalised name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(d) for d in project["dependencies"]]
    return {
        canonicalize_name(r.name): r
        for r in requirements
        if r.marker is None or r.marker.evaluate(IMAGE_MARKERS)
    }


def lock_entries() -> dict[str, dict]:
    """requirements.lock as {name: {"pin": Requirement, "hashes": [...], "via": [...]}}."""
    entries: dict[str, dict] = {}
    current: dict | None = None
    in_via = False
    for line in LOCK.read_text().splitlines():
        stripped = line.strip().removesuffix("\\").strip()
        if not stripped:
            continue
        if not line[0].isspace() and not stripped.startswith("#"):
            pin = Requirement(stripped)
            current = {"pin": pin, "hashes": [], "via": []}
            entries[canonicalize_name(pin.name)] = current
            in_via = False
        elif current is None:
            continue  # header comments
        elif stripped.startswith("--hash="):
            current["hashes"].append(stripped.removeprefix("--hash="))
        elif stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            current["via"] += [rest] if rest else []
            in_via = not rest
        elif in_via and stripped.startswith("#"):
            current["via"].append(stripped.lstrip("#").strip())
    return entries


def test_dockerfile_is_multistage_slim_nonroot_with_volume_and_exec_cmd():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M | re.I)
    assert len(stages) >= 2, "multi-stage build"
    assert all(image.startswith("python:3.11-slim") for image, _ in stages)
    assert "COPY --from=" in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^VOLUME\s+\["/data"\]', text, flags=re.M)
    cmd = re.findall(r"^CMD\s+(.+)$", text, flags=re.M)
    assert cmd and cmd[-1].startswith("["), "exec-form CMD so Python receives SIGTERM"
    assert not re.search(r"(DISCORD_TOKEN|OXEN_API_KEY)", text), "no secrets baked in"
    assert not re.search(r"COPY\s+\.env\b", text)


def test_dockerfile_has_no_syntax_directive():
    # "# syntax=docker/dockerfile:1" makes BuildKit pull a frontend image: fails offline.
    head = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", head, flags=re.M | re.I)


def test_image_installs_the_lock_with_hashes_then_the_project_without_dependencies():
    build = dockerfile_instructions(0)
    runs = [args for instruction, args in build if instruction == "RUN"]
    lock_install = r"pip install --require-hashes -r requirements\.lock\b"
    locked = [i for i, r in enumerate(runs) if re.search(lock_install, r)]
    project = [i for i, r in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", r)]
    assert locked, "dependencies from the lock, every file checked against its hash"
    assert project, "the project itself without resolving dependencies"
    assert locked[0] < project[0], "dependencies from the lock first, then the project alone"
    assert not any(re.search(r"pip install(?!.*(--require-hashes|--no-deps))", r) for r in runs), (
        "nothing installed outside the lock"
    )
    assert ("COPY", "requirements.lock ./") in build
    assert "requirements.lock" not in (ROOT / ".dockerignore").read_text().split()


def test_lock_is_current_with_pyprojects_main_dependencies():
    hint = "requirements.lock is out of date with pyproject.toml: run scripts/lock"
    entries = lock_entries()
    main = main_dependencies()
    for name, entry in entries.items():
        specs = list(entry["pin"].specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{name} not pinned with =="
        assert entry["hashes"] and all(h.startswith("sha256:") for h in entry["hashes"]), name
    direct = {name for name, e in entries.items() if any("(pyproject.toml)" in v for v in e["via"])}
    assert direct == set(main), hint  # exactly the main dependencies: no test extra, none stale
    for name, requirement in main.items():
        pinned = Version(next(iter(entries[name]["pin"].specifier)).version)
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"{name}=={pinned} does not satisfy {requirement}: {hint}"
        )
    assert "scripts/lock" in LOCK.read_text().split("\n", 2)[1], "the lock names its command"


def test_healthcheck_gets_livez_with_the_stdlib():
    runtime = dockerfile_instructions()
    (health,) = [args for instruction, args in runtime if instruction == "HEALTHCHECK"]
    options, _, command = health.partition(" CMD ")
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options
    argv = json.loads(command)  # exec form: no shell needed
    assert argv[:2] == ["python", "-c"]
    assert "/livez" in argv[2] and "127.0.0.1" in argv[2] and "HTTP_PORT" in argv[2]
    assert "8080" in argv[2], "defaults to the bot's default port"
    env = env_of(runtime)
    assert env["HTTP_HOST"] == "0.0.0.0", "reachable through a published port"
    assert ("EXPOSE", "8080") in runtime


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/livez" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _run_healthcheck(port: int) -> int:
    runtime = dockerfile_instructions()
    (health,) = [args for instruction, args in runtime if instruction == "HEALTHCHECK"]
    argv = json.loads(health.partition(" CMD ")[2])
    result = subprocess.run(
        [sys.executable, *argv[1:]],
        env={"PATH": "/usr/bin:/bin", "HTTP_PORT": str(port)},
        capture_output=True,
        timeout=30,
    )
    return result.returncode


def test_healthcheck_command_passes_on_200_and_fails_otherwise():
    for status, healthy in ((200, True), (503, False)):
        handler = type("Handler", (_Health,), {"status": status})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert (_run_healthcheck(server.server_address[1]) == 0) is healthy
        finally:
            server.shutdown()
            server.server_close()
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = closed.server_address[1]
    closed.server_close()
    assert _run_healthcheck(port) != 0, "nothing listening: unhealthy"


def test_database_lands_in_the_volume_with_compose_and_with_docker_run_env_file():
    """compose sets an absolute DATABASE_URL; docker run --env-file .env may pass .env.example's
    relative one, which is relative to the image's WORKDIR. Both, the image's own default and the
    bot's default (an empty DATABASE_URL) must be the same file inside VOLUME /data."""
    from bot.config import DEFAULT_DATABASE_URL, load_settings

    runtime = dockerfile_instructions()
    workdir = PurePosixPath("/")
    for instruction, args in runtime:
        if instruction == "WORKDIR":
            workdir = workdir / args
    assert ("VOLUME", '["/data"]') in runtime
    env_example = re.search(r"^DATABASE_URL=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    compose = re.search(r"^\s+DATABASE_URL:\s*(\S+)", (ROOT / "compose.yaml").read_text(), re.M)
    assert env_example and compose
    urls = {
        "Dockerfile ENV": env_of(runtime)["DATABASE_URL"],
        ".env.example": env_example.group(1).strip(),
        "compose.yaml": compose.group(1).strip("'\""),
        "bot default": DEFAULT_DATABASE_URL,
    }
    files = {}
    for where, url in urls.items():
        settings = load_settings({"DISCORD_TOKEN": "t", "OXEN_API_KEY": "k", "DATABASE_URL": url})
        files[where] = workdir / PurePosixPath(settings.database_path)
        assert files[where].is_relative_to("/data"), f"{where}: {url} -> {files[where]}"
    assert len(set(files.values())) == 1, files


def test_dockerignore_keeps_secrets_and_data_out_of_the_build():
    lines = (ROOT / ".dockerignore").read_text().split()
    for needed in (".env", ".git", "data/", ".venv"):
        assert needed in lines


def test_compose_uses_env_file_and_named_volume():
    text = (ROOT / "compose.yaml").read_text()
    assert re.search(r"env_file:\s*\.env", text)
    assert re.search(r"-\s*imagine-data:/data", text)
    assert re.search(r"^volumes:\s*\n\s+imagine-data:", text, flags=re.M)


def test_compose_restarts_after_crashes_but_not_forever():
    text = (ROOT / "compose.yaml").read_text()
    (policy,) = re.findall(r"^\s+restart:\s*[\"']?([\w:-]+)", text, flags=re.M)
    name, _, retries = policy.partition(":")
    assert name == "on-failure", "restarts on a non-zero exit status only"
    assert retries.isdigit() and 1 <= int(retries) <= 10, "a configuration error stops soon"


def test_compose_publishes_health_and_metrics_on_the_hosts_loopback_only():
    text = (ROOT / "compose.yaml").read_text()
    ports = re.findall(r"^\s+-\s*[\"']?([\d.]*:?[^\s\"']+:[^\s\"']+)[\"']?\s*$", text, re.M)
    published = [p for p in ports if "imagine-data" not in p]
    assert published and all(p.startswith("127.0.0.1:") for p in published)
    assert re.search(r"^\s+HTTP_HOST:\s*[\"']?0\.0\.0\.0", text, flags=re.M)


def test_console_script_and_distribution_name():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "imagine-bot"
    assert project["scripts"]["imagine-bot"] == "bot.__main__:main"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2, "two set-up commands: run the bot, run the tests"
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_invite_permissions_match_the_code():
    from bot.discord_app.permissions import INVITE_PERMISSIONS

    readme = (ROOT / "README.md").read_text()
    assert f"permissions={INVITE_PERMISSIONS.value}" in readme
    assert "scope=bot+applications.commands" in readme


def test_importing_the_package_needs_no_environment():
    code = "import bot.__main__, bot.discord_app.client, bot.core.watcher, bot.store, cogs.imagine"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_web_gallerys_templates_and_stylesheet_are_packaged():
    """The image installs the project with `pip install --no-deps .`: files that are not Python
    reach it only through package-data (the container smoke test builds the real image)."""
    from fnmatch import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["bot.web"]
    web = ROOT / "bot" / "web"
    files = [p.relative_to(web).as_posix() for p in web.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc")]  # fmt: skip
    assert any(f.startswith("templates/") for f in files) and "static/gallery.css" in files
    for name in files:
        assert any(fnmatch(name, g) for g in globs), f"{name} is not in package-data"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY bot ./bot" in dockerfile  # the build stage has them to package
