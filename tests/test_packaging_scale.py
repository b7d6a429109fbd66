"""compose.scale.yaml (two bot processes on one PostgreSQL) keeps what the README promises."""

import re
from pathlib import Path

from bot.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "compose.scale.yaml"


def services() -> dict[str, str]:
    """Each service's block of text (the file is plain YAML: no anchors, two-space indents)."""
    text = FILE.read_text()
    body = text.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    blocks: dict[str, str] = {}
    for match in re.finditer(r"^  ([\w-]+):\n((?:    .*\n|\s*\n)*)", body + "\n", re.M):
        blocks[match.group(1)] = match.group(2)
    return blocks


def environment(block: str) -> dict[str, str]:
    env = block.split("    environment:\n", 1)[1]
    found = {}
    for line in env.splitlines():
        if not line.startswith("      ") or line.strip().startswith("#"):
            if not line.startswith("      "):
                break
            continue
        key, _, value = line.strip().partition(": ")
        found[key] = value.strip("\"'")
    return found


def bots() -> dict[str, str]:
    return {name: block for name, block in services().items() if name.startswith("imagine-bot")}


def test_postgres_keeps_its_data_in_a_volume_and_says_when_it_is_healthy():
    postgres = services()["postgres"]
    assert re.search(r"image:\s*postgres:\d+", postgres)
    assert "- imagine-postgres:/var/lib/postgresql/data" in postgres
    assert re.search(r"^volumes:\s*\n\s+imagine-postgres:", FILE.read_text(), re.M)
    assert re.search(r"healthcheck:\s*\n\s+test:.*pg_isready", postgres)
    # The password comes from .env, and compose refuses to start without one.
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in postgres


def test_two_bots_run_one_shard_each_of_the_same_count_on_that_database():
    found = bots()
    assert len(found) == 2
    shards: list[int] = []
    counts = set()
    for block in found.values():
        env = environment(block)
        url = env["DATABASE_URL"].replace(
            "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw"
        )
        assert url == "postgresql://imagine:pw@postgres:5432/imagine"
        settings = load_settings(
            {"DISCORD_TOKEN": "t", "OXEN_API_KEY": "k", **env, "DATABASE_URL": url}
        )
        assert settings.database_url == url and settings.http_host == "0.0.0.0"
        counts.add(settings.shard_count)
        shards += settings.shards.running
        assert re.search(r"depends_on:\s*\n\s+postgres:\s*\n\s+condition: service_healthy", block)
        assert re.search(r"env_file:\s*\.env", block)
    assert len(counts) == 1 and sorted(shards) == list(range(counts.pop() or 0))


def test_each_bot_restarts_after_a_crash_but_not_forever():
    for name, block in services().items():
        (policy,) = re.findall(r"^\s+restart:\s*[\"']?([\w:-]+)", block, re.M)
        kind, _, retries = policy.partition(":")
        assert kind == "on-failure" and retries.isdigit() and 1 <= int(retries) <= 10, name


def test_each_bot_publishes_health_and_metrics_on_the_hosts_loopback_only_on_its_own_port():
    published = []
    for block in bots().values():
        ports = re.findall(r"^\s+-\s*[\"']?([\d.]+:\d+:\d+)[\"']?\s*$", block, re.M)
        assert ports and all(p.startswith("127.0.0.1:") for p in ports)
        published += [p.split(":")[1] for p in ports]
    assert len(set(published)) == len(published)


def test_the_readme_shows_how_to_start_it():
    readme = (ROOT / "README.md").read_text()
    assert "docker compose -f compose.scale.yaml up -d --build" in readme
    assert "POSTGRES_PASSWORD" in readme
