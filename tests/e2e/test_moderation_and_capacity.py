"""Issue 7, second part: spoilers, upload edits in NSFW channels only, the audit channel, use in
DMs (ALLOW_DMS) and the bot-wide cap with its own waiting line (MAX_GENERATIONS_IN_FLIGHT)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.e2e.conftest import RunningBot
from tests.e2e.test_experience import (
    buttons,
    delivered,
    ephemeral_reply,
    fill_modal,
    newest_generation,
    png,
    press,
)
from tests.e2e.test_fair_use import admin, with_owner
from tests.e2e.test_imagine import imagine, is_result, queued

SEND_MESSAGES = 1 << 11


async def restart(world, **settings):
    await world.bot.stop()
    world.bot = RunningBot(replace(world.bot.settings, **settings))
    await world.bot.start(world.discord)


async def edit_upload(world, channel):
    interaction = await world.discord.invoke_slash_command(
        world.alice, channel, "edit",
        options={"image": "me.png", "prompt": "make it night"},
        attachments={"image": ("me.png", png(), "image/png")},
    )  # fmt: skip
    await interaction.wait_acknowledged(timeout=3)
    return interaction


async def status_of(world, interaction, text, channel=None):
    return await world.discord.wait_for_message(
        channel or world.channel,
        lambda m: m.interaction_id == interaction.id and not m.ephemeral and text in m.content,
    )


# --- spoilers ----------------------------------------------------------------------------------


async def test_spoiler_setting_hides_every_result_until_turned_off(world):
    with_owner(world)
    answer = await admin(world, "spoilers", enabled=True)
    assert "Spoiler on results**: off → on" in answer

    await imagine(world, prompt="a surprise")
    [hidden] = await delivered(world)
    assert hidden.attachments[0].filename.startswith("SPOILER_")
    [embed] = hidden.embeds
    assert "image" not in embed  # Discord never blurs embed images: it stays out of the embed
    assert embed["description"] == "||a surprise||"

    await admin(world, "spoilers", enabled=False)
    await imagine(world, prompt="no surprise")
    shown = (await delivered(world, 2))[-1]
    assert not shown.attachments[0].filename.startswith("SPOILER_")
    assert shown.embeds[0]["image"]["url"].endswith(shown.attachments[0].filename)


# --- editing uploads only in NSFW channels ------------------------------------------------------


async def test_upload_edits_can_be_kept_to_nsfw_channels(world):
    with_owner(world)
    answer = await admin(world, "upload-edits", where="nsfw-channels-only")
    assert "Editing uploads**: anywhere → NSFW channels only" in answer

    refused = await edit_upload(world, world.channel)
    assert "age-restricted (NSFW)" in (await ephemeral_reply(world, refused)).content
    assert not world.oxen.generations  # nothing charged

    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    await edit_upload(world, late_night)
    await world.discord.wait_for_message(late_night, is_result, timeout=10)
    assert newest_generation(world)["input_image"].endswith("me.png")

    # The bot's own results may still be edited anywhere: they are not someone's upload.
    await imagine(world, prompt="a plain mug")
    [result] = await delivered(world)
    edit = await press(world, world.bob, result, "Edit")
    await fill_modal(world, world.bob, edit, "add a star")
    await delivered(world, 2)
    assert newest_generation(world)["input_image"] == result.attachments[0].url


# --- the audit channel -------------------------------------------------------------------------


async def test_audit_channel_logs_each_request_and_its_outcome_without_pinging(world):
    with_owner(world)
    audit = world.discord.create_channel(world.guild, "imagine-log")
    answer = await admin(world, "audit-channel", channel=audit)
    assert f"Audit channel**: off → <#{audit.id}>" in answer

    await imagine(world, prompt="a lighthouse", model="flux-1-dev", negative_prompt="fog")
    [result] = await delivered(world)
    entry = await world.discord.wait_for_message(audit, lambda m: bool(m.embeds))
    [embed] = entry.embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    generation_id = next(iter(world.oxen.generations))
    assert embed["description"] == "a lighthouse"
    assert fields["Requested by"] == f"<@{world.alice.id}>"
    assert fields["Channel"] == f"<#{world.channel.id}>"
    assert fields["Model"] == f"`{newest_generation(world)['model_name']}`"
    assert fields["Negative prompt"] == "fog"
    assert generation_id in fields["Generation"]
    assert "posted 1 of 1" in fields["Outcome"] and str(result.id) in fields["Outcome"]
    assert not entry.pinged_users and not entry.pinged_roles and not entry.pinged_everyone

    await admin(world, "banned", action="add", kind="word", value="kraken")
    await ephemeral_reply(world, await imagine(world, prompt="a kraken"))
    refused = await world.discord.wait_for_message(
        audit, lambda m: bool(m.embeds) and "kraken" in m.embeds[0]["description"]
    )
    outcome = {f["name"]: f["value"] for f in refused.embeds[0]["fields"]}["Outcome"]
    assert "refused: banned term `kraken`" in outcome  # admins may see which term matched

    assert f"Audit channel**: <#{audit.id}> → off" in await admin(world, "audit-channel")
    await imagine(world, prompt="unlogged")
    await delivered(world, 2)
    assert len([m for m in world.discord.messages(audit) if m.embeds]) == 2


async def test_audit_channel_the_bot_cannot_post_in_is_refused_by_name(world):
    with_owner(world)
    closed = world.discord.create_channel(world.guild, "closed")
    world.discord.set_overwrite(closed, world.discord.bot_user, deny=SEND_MESSAGES)
    answer = await admin(world, "audit-channel", channel=closed)
    assert "Send Messages" in answer
    show = await world.discord.invoke_slash_command(
        world.owner, world.channel, "imagine-admin", subcommand="show"
    )
    [embed] = (await ephemeral_reply(world, show)).embeds
    assert {f["name"]: f["value"] for f in embed["fields"]}["Audit channel"] == "off"


# --- DMs ---------------------------------------------------------------------------------------


def command(world, name):
    return next(c for c in world.discord.registered_commands() if c["name"] == name)


async def test_commands_are_not_offered_in_dms_unless_allowed(world):
    await restart(world, guild_ids=())  # global commands: the only ones Discord offers in DMs
    assert command(world, "imagine")["contexts"] == [0]
    assert command(world, "edit")["contexts"] == [0]
    with pytest.raises(AssertionError, match="does not offer 'imagine' in DMs"):
        await world.discord.invoke_slash_command(
            world.alice, world.discord.open_dm(world.alice), "imagine", options={"prompt": "x"}
        )

    await restart(world, guild_ids=(), allow_dms=True)
    assert sorted(command(world, "imagine")["contexts"]) == [0, 1]
    assert command(world, "imagine-admin")["contexts"] == [0]  # never in DMs

    dm = world.discord.open_dm(world.alice)
    interaction = await world.discord.invoke_slash_command(
        world.alice, dm, "imagine", options={"prompt": "a private fox"}
    )
    await interaction.wait_acknowledged(timeout=3)
    await world.discord.wait_for_message(dm, is_result, timeout=10)
    assert newest_generation(world)["prompt"] == "a private fox"


async def test_buttons_on_a_dm_result_are_refused_when_dms_are_not_allowed(world):
    await restart(world, guild_ids=(), allow_dms=True)
    dm = world.discord.open_dm(world.alice)
    await world.discord.invoke_slash_command(
        world.alice, dm, "imagine", options={"prompt": "a private fox"}
    )
    result = await world.discord.wait_for_message(dm, is_result, timeout=10)

    await restart(world, guild_ids=(), allow_dms=False)
    reroll = await world.discord.click_button(world.alice, result, buttons(result)["Reroll"])
    refusal = await world.discord.wait_for_message(
        dm, lambda m: m.interaction_id == reroll.id and m.ephemeral and bool(m.content)
    )
    assert "only make images in servers" in refusal.content
    assert len(world.oxen.generations) == 1


# --- the bot-wide cap and its waiting line ------------------------------------------------------


async def test_requests_past_the_cap_wait_in_line_with_their_place_shown(world):
    await restart(world, max_generations_in_flight=1)
    world.oxen.hold = True
    carol = world.discord.create_user("carol")
    world.discord.add_member(world.guild, carol)

    await queued(world, await imagine(world, prompt="first"))
    bob_asks = await imagine(world, user=world.bob, prompt="second")
    await status_of(world, bob_asks, "#1 in line")
    carol_asks = await imagine(world, user=carol, prompt="third")
    await status_of(world, carol_asks, "#2 in line")
    assert len(world.oxen.generations) == 1  # the cap holds

    jobs = await world.discord.invoke_slash_command(carol, world.channel, "jobs")
    listing = await ephemeral_reply(world, jobs)
    assert "third" in listing.content and "#2 in the bot's line" in listing.content

    first_id = next(iter(world.oxen.generations))
    await world.oxen.complete(first_id)  # room at Oxen: the front of the line goes
    await delivered(world)
    await status_of(world, bob_asks, "Queued")
    await status_of(world, carol_asks, "#1 in line")
    assert [g["prompt"] for g in world.oxen.generations.values()] == ["first", "second"]


async def test_a_request_in_line_can_be_cancelled_and_never_reaches_oxen(world):
    await restart(world, max_generations_in_flight=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="first"))
    waiting = await imagine(world, user=world.bob, prompt="changed my mind")
    status = await status_of(world, waiting, "#1 in line")

    refused = await press(world, world.alice, status, "Cancel")  # not alice's request
    assert "Only the person" in (await ephemeral_reply(world, refused)).content
    answer = await press(world, world.bob, status, "Cancel")
    assert "Cancelled" in (await ephemeral_reply(world, answer)).content
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == status.id and "cancelled by" in m.content
    )

    await world.oxen.complete(next(iter(world.oxen.generations)))
    await delivered(world)
    assert [g["prompt"] for g in world.oxen.generations.values()] == ["first"]


async def test_the_waiting_line_survives_a_restart(world):
    await restart(world, max_generations_in_flight=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="first"))
    waiting = await imagine(world, user=world.bob, prompt="patient")
    await status_of(world, waiting, "#1 in line")

    await restart(world)  # same settings, same database
    world.oxen.hold = False
    world.oxen.release()
    await delivered(world, 2, timeout=15)
    assert [g["prompt"] for g in world.oxen.generations.values()] == ["first", "patient"]


async def test_a_request_oxen_refuses_after_waiting_is_explained_to_its_requester(world):
    await restart(world, max_generations_in_flight=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="first"))
    waiting = await imagine(world, user=world.bob, prompt="unlucky")
    await status_of(world, waiting, "#1 in line")

    world.oxen.insufficient_credits = True
    await world.oxen.complete(next(iter(world.oxen.generations)))
    told = await world.discord.wait_for_message(
        world.channel, lambda m: "couldn't start" in m.content and not m.ephemeral
        and m.interaction_id is None
    )  # fmt: skip
    assert "out of credits" in told.content and told.pinged_users == [world.bob.id]
    await status_of(world, waiting, "couldn't start")
