"""The deployment files keep the properties the README and the design promise."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def test_dockerignore_keeps_secrets_and_data_out_of_the_build():
    lines = (ROOT / ".dockerignore").read_text().split()
    for needed in (".env", ".git", "data/", ".venv"):
        assert needed in lines


def test_compose_uses_env_file_and_named_volume():
    text = (ROOT / "compose.yaml").read_text()
    assert re.search(r"env_file:\s*\.env", text)
    assert re.search(r"-\s*imagine-data:/data", text)
    assert re.search(r"^volumes:\s*\n\s+imagine-data:", text, flags=re.M)


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
    from bot.permissions import INVITE_PERMISSIONS

    readme = (ROOT / "README.md").read_text()
    assert f"permissions={INVITE_PERMISSIONS.value}" in readme
    assert "scope=bot+applications.commands" in readme


def test_importing_the_package_needs_no_environment():
    code = "import bot.__main__, bot.app, bot.watcher, bot.delivery, cogs.imagine"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
