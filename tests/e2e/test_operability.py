"""Health, metrics and logs end to end: the real bot on the local Discord and the fake Oxen,
asked over HTTP the way Prometheus and a container health check ask it."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.core.types import GuildSettings
from tests.e2e.conftest import set_server_limits, set_server_settings
from tests.e2e.process import BotProcess, bot_env
from tests.e2e.test_imagine import imagine, is_result, queued
from tests.e2e.test_moderation_and_capacity import restart
from tests.waiting import wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def scrape(world) -> Samples:
    status, text = await get(world.bot.settings.http_port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def metric_reaches(world, name: str, target: float, timeout: float = 10.0, **labels):
    async def reached() -> bool:
        return metric(await scrape(world), name, **labels) == target

    await wait_until(reached, timeout=timeout, interval=0.05)


async def health(world, path: str) -> tuple[int, dict]:
    status, text = await get(world.bot.settings.http_port, path)
    return status, json.loads(text)


# --- health -------------------------------------------------------------------------------------


async def test_live_and_ready_once_connected(world):
    assert await health(world, "/livez") == (200, {"ok": True, "failed": []})
    # Ready: the gateway is up, the store answers and Oxen's event stream is open.
    await wait_until(lambda: health_is(world, "/readyz", 200), timeout=10)
    samples = await scrape(world)
    assert metric(samples, "imagine_gateway_connected") == 1
    assert metric(samples, "imagine_oxen_events_connected") == 1


async def health_is(world, path: str, status: int) -> bool:
    return (await health(world, path))[0] == status


async def test_killing_the_watcher_task_fails_livez(world):
    await wait_until(lambda: health_is(world, "/livez", 200))
    [watcher] = [t for t in asyncio.all_tasks() if t.get_name() == "imagine-watcher"]
    watcher.cancel()
    await wait_until(lambda: watcher.done())
    assert await health(world, "/livez") == (503, {"ok": False, "failed": ["watcher"]})
    status, body = await health(world, "/readyz")
    assert status == 503 and "watcher" in body["failed"]


# --- metrics ------------------------------------------------------------------------------------


async def test_a_request_moves_the_counters_and_histograms(world):
    before = await scrape(world)
    assert metric(before, "imagine_generations_total", outcome="succeeded") == 0
    await imagine(world, prompt="a red cube")
    await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    await metric_reaches(world, "imagine_generations_total", 1, outcome="succeeded")
    after = await scrape(world)
    assert metric(after, "imagine_generations_enqueued_total") == 1
    assert metric(after, "imagine_request_seconds_count") == 1
    assert 0 < metric(after, "imagine_request_seconds_sum") < 10
    assert metric(after, "imagine_delivery_seconds_count") == 1
    assert metric(after, "imagine_delivery_seconds_bucket", le="+Inf") == 1
    enqueue = {"endpoint": "POST /api/ai/queue", "status": "200"}
    assert metric(after, "imagine_oxen_requests_total", **enqueue) == 1
    assert metric(after, "imagine_oxen_requests_total", endpoint="download", status="200") == 1
    assert metric(after, "imagine_oxen_requests_total", endpoint="GET /api/events", status="200")
    assert not [key for key in after if key[0] == "imagine_oxen_requests_total" and any(
        gid in dict(key[1])["endpoint"] for gid in world.oxen.generations)]  # fmt: skip
    for state in ("queued", "processing", "delivering"):
        assert metric(after, "imagine_jobs", state=state, scope="queue") == 0


async def test_held_generations_show_as_jobs_and_an_oldest_age(world):
    await set_server_limits(world, max_in_flight=4)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="two foxes", count=2), count=2)
    await metric_reaches(world, "imagine_jobs", 2, state="queued", scope="queue")
    await wait_until(
        lambda: scrape_value(world, "imagine_oldest_pending_age_seconds", above=0.0, scope="queue"),
        timeout=10,
    )
    for gid in list(world.oxen.generations):
        await world.oxen.complete(gid)
    await metric_reaches(world, "imagine_generations_total", 2, outcome="succeeded")
    await metric_reaches(world, "imagine_jobs", 0, state="queued", scope="queue")
    assert metric(await scrape(world), "imagine_oldest_pending_age_seconds", scope="queue") == 0


async def scrape_value(world, name: str, *, above: float, **labels: str) -> bool:
    return metric(await scrape(world), name, **labels) > above


async def test_stopping_oxens_event_stream_drops_the_gauge(world):
    await wait_until(lambda: health_is(world, "/readyz", 200), timeout=10)
    await metric_reaches(world, "imagine_oxen_events_connected", 1)
    world.oxen.events_enabled = False  # reconnects get 503
    world.oxen.drop_event_streams()
    await metric_reaches(world, "imagine_oxen_events_connected", 0)
    samples = await scrape(world)
    refused = {"endpoint": "GET /api/events", "status": "503"}
    await wait_until(lambda: scrape_value_of(world, "imagine_oxen_requests_total", refused))
    # Oxen still answered within the last few minutes (the bot polls now): still ready.
    assert (await health(world, "/readyz"))[0] == 200
    assert metric(samples, "imagine_oxen_events_reconnects_total") == 0
    world.oxen.events_enabled = True
    await metric_reaches(world, "imagine_oxen_events_connected", 1, timeout=40)
    assert metric(await scrape(world), "imagine_oxen_events_reconnects_total") == 1


async def scrape_value_of(world, name: str, labels: dict[str, str]) -> bool:
    return metric(await scrape(world), name, **labels) > 0


async def test_discords_429s_are_counted(world):
    world.discord.rate_limit("POST", r"^/channels/\d+/messages$", times=1, retry_after=0.05)
    await imagine(world, prompt="a patient snail")
    await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    assert world.discord.rate_limited_count >= 1
    await metric_reaches(
        world, "imagine_discord_rate_limited_total", world.discord.rate_limited_count
    )


async def test_refusals_are_counted_by_rule_never_by_the_banned_word(world):
    await set_server_settings(world, GuildSettings(banned_words=("kraken",)))
    interaction = await imagine(world, prompt="a kraken attacks")
    await world.discord.wait_for_message(
        world.channel, lambda m: m.ephemeral and m.interaction_id == interaction.id, timeout=10
    )
    await metric_reaches(world, "imagine_refusals_total", 1, rule="banned_term")
    _, text = await get(world.bot.settings.http_port, "/metrics")
    assert "kraken" not in text


async def test_requests_waiting_in_the_bots_line_are_a_gauge(world):
    await restart(world, max_generations_in_flight=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="first"))
    await imagine(world, user=world.bob, prompt="second")
    await metric_reaches(world, "imagine_waiting_requests", 1, scope="queue")
    await world.oxen.complete(next(iter(world.oxen.generations)))
    await metric_reaches(world, "imagine_waiting_requests", 0, scope="queue")


async def test_gateway_latency_is_reported_once_heartbeats_are_answered(world):
    samples = await scrape(world)
    latency = metric(samples, "imagine_gateway_latency_seconds")
    assert math.isnan(latency) or 0 <= latency < 5


# --- the real process: JSON logs, and /livez while it logs in ----------------------------------


async def test_json_logs_follow_one_image_and_carry_no_secret(discord_fake, oxen, tmp_path):
    guild = discord_fake.create_guild("Logs Guild")
    channel = discord_fake.create_channel(guild, "general")
    alice = discord_fake.create_user("alice")
    discord_fake.add_member(guild, alice)
    env = bot_env(discord_fake, oxen, guild.id, tmp_path / "bot.sqlite3", LOG_FORMAT="json")
    bot = BotProcess(env, tmp_path)
    try:
        await bot.start(discord_fake, guild)
        assert (await get(int(env["HTTP_PORT"]), "/livez"))[0] == 200
        interaction = await discord_fake.invoke_slash_command(
            alice, channel, "imagine", options={"prompt": "a logged lighthouse"}
        )
        await interaction.wait_acknowledged(timeout=3)
        await discord_fake.wait_for_message(channel, lambda m: bool(m.attachments), timeout=15)
        [gid] = list(oxen.generations)
        await wait_until(lambda: oxen.generations[gid]["status"] == "succeeded")
        assert await bot.terminate() == 0, bot.text
    finally:
        await bot.ensure_stopped()
    lines = [json.loads(line) for line in bot.text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [line for line in lines if line.get("generation_id") == gid]
    assert any("delivered" in line["message"] for line in about), about
    for line in about:
        ids = (line.get("guild_id"), line.get("channel_id"), line.get("user_id"))
        assert ids == (guild.id, channel.id, alice.id), line
    queued_line = [line for line in lines if gid in (line.get("generation_ids") or [])]
    assert queued_line and queued_line[0]["user_id"] == alice.id
    assert discord_fake.token not in bot.text and oxen.api_key not in bot.text


async def test_livez_answers_while_the_bot_is_still_logging_in(discord_fake, oxen, tmp_path):
    """Discord never answers the login: the process is alive (200), but not ready (503)."""
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    env = bot_env(discord_fake, oxen, 1, tmp_path / "bot.sqlite3")
    env["DISCORD_API_BASE_URL"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    bot = BotProcess(env, tmp_path)
    port = int(env["HTTP_PORT"])
    try:
        await bot.spawn()
        async with asyncio.timeout(20):
            await accepted.wait()
        await wait_until(lambda: answers(port, "/livez", 200), timeout=10)
        status, text = await get(port, "/readyz")
        assert status == 503 and "gateway" in json.loads(text)["failed"]
        assert await bot.terminate(timeout=10) == 0, bot.text
    finally:
        await bot.ensure_stopped()
        server.close()
        await server.wait_closed()


async def answers(port: int, path: str, status: int) -> bool:
    try:
        return (await get(port, path))[0] == status
    except aiohttp.ClientError:
        return False
