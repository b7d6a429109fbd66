import discord

from bot.core.types import Job, JobStatus
from bot.discord_app import render


def make_job(**overrides) -> Job:
    values = dict(
        generation_id="0b8f5eb7-361e-4e13-ab73-67457bc8057e",
        guild_id=1,
        channel_id=2,
        requester_id=42,
        status_message_id=None,
        prompt="a red cube",
        model="flux",
        params={"seed": 5},
        batch_index=0,
        batch_size=1,
        status=JobStatus.DELIVERING,
        outcome="succeeded",
        result_url=None,
        error=None,
        attempts=0,
        result_message_id=None,
        created_at=0.0,
        updated_at=0.0,
        finished_at=None,
        upload_limit=None,
        request_id="0b8f5eb7-361e-4e13-ab73-67457bc8057e",
        started_at=None,
    )
    values.update(overrides)
    return Job(**values)


def test_result_embed_shows_prompt_model_seed_requester_and_image():
    embed = render.result_embed(make_job(created_at=100.0, updated_at=175.0), filename="x.png")
    assert embed.description == "a red cube"
    fields = {f.name: f.value for f in embed.fields}
    assert fields == {"Model": "`flux`", "Seed": "5", "Requested by": "<@42>", "Time": "75 s"}
    assert embed.image.url == "attachment://x.png"
    assert "0b8f5eb7-361e-4e13-ab73-67457bc8057e" in (embed.footer.text or "")
    assert len(embed) <= 6000


def test_long_prompt_is_truncated_within_discord_limits():
    job = make_job(prompt="word " * 2000)
    assert len(render.result_embed(job, filename=None).description or "") <= 4096
    assert len(render.failure_content(job, "x" * 5000)) <= 2000


def test_prompt_cannot_ping_or_format():
    text = render.progress_status(render.Progress("@everyone look **here** <@&123>", "m", 1))
    assert "@everyone" not in text and "**here**" not in text


def test_only_the_requester_may_be_pinged():
    mentions = render.mention_only(42).to_dict()
    assert mentions["parse"] == []
    assert mentions["users"] == [42]
    assert "roles" not in mentions or mentions["roles"] == []


def test_messages_name_the_requester_and_reason():
    job = make_job(batch_index=1, batch_size=3)
    text = render.failure_content(job, "Insufficient credits")
    assert text.startswith("<@42>") and "Insufficient credits" in text and "2 of 3" in text
    assert "cancelled" in render.cancelled_content(job)
    assert isinstance(render.mention_only(job.requester_id), discord.AllowedMentions)
