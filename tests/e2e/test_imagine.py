"""/imagine end to end: the real bot on the local Discord and the fake Oxen."""

from __future__ import annotations

import io

from PIL import Image

from bot.oxen import OxenClient

MODEL = "black-forest-labs-flux-2-klein-4b"
ATTACH_FILES = 1 << 15


def is_result(message) -> bool:
    return bool(message.attachments) and not message.ephemeral


async def imagine(world, user=None, channel=None, **options):
    options.setdefault("prompt", "a red cube")
    interaction = await world.discord.invoke_slash_command(
        user or world.alice, channel or world.channel, "imagine", options=options
    )
    await interaction.wait_acknowledged(timeout=3)
    return interaction


async def queued(world, interaction, count=1):
    """Wait for the status message: by then the jobs are at Oxen and in the store."""
    status = await world.discord.wait_for_message(
        world.channel,
        predicate=lambda m: m.interaction_id == interaction.id and "Queued" in m.content,
        timeout=5,
    )
    assert len(world.oxen.generations) == count
    return status


async def ephemeral_reply(world, interaction, timeout=10.0):
    message = await world.discord.wait_for_message(
        world.channel,
        predicate=lambda m: m.ephemeral and m.interaction_id == interaction.id,
        timeout=timeout,
    )
    return message


async def test_imagine_posts_the_image_in_the_same_channel(world):
    interaction = await imagine(world, prompt="a red cube")
    assert interaction.ack_latency is not None and interaction.ack_latency < 3
    assert interaction.responses[0]["type"] == 5  # deferred: acknowledged before Oxen is asked

    result = await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    [gid] = list(world.oxen.generations)
    [attachment] = result.attachments
    assert attachment.data == world.oxen.result_bytes(gid)
    assert attachment.filename == f"{gid}.png"
    with Image.open(io.BytesIO(attachment.data)) as image:
        red, green, blue = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert red > 150 and green < 100 and blue < 100  # a red cube, as asked

    [embed] = result.embeds
    assert "a red cube" in embed["description"]
    assert embed["image"]["url"] == f"attachment://{gid}.png"
    assert world.oxen.generations[gid]["model_name"] == MODEL
    assert set(result.pinged_users) == {world.alice.id}
    assert not result.pinged_roles and not result.pinged_everyone
    assert not interaction.errors


async def test_status_message_names_the_prompt_and_then_finishes(world):
    world.oxen.hold = True
    interaction = await imagine(world, prompt="a quiet lake")
    status = await queued(world, interaction)
    assert "a quiet lake" in status.content and not status.ephemeral
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    await world.discord.wait_for_message(
        world.channel, predicate=lambda m: m.id == status.id and "Finished" in m.content, timeout=5
    )


async def test_failed_generation_posts_oxens_error_to_the_requester(world):
    world.oxen.outcome_for_prompt("doomed", fail="The model refused this prompt")
    await imagine(world, prompt="a doomed castle")
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "refused this prompt" in m.content, timeout=10
    )
    assert message.content.startswith(f"<@{world.alice.id}>")
    assert "a doomed castle" in message.content
    assert set(message.pinged_users) == {world.alice.id}


async def test_cancelled_generation_is_said_so(world):
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="a slow snail"))
    [gid] = list(world.oxen.generations)
    async with OxenClient(world.oxen.api_key, base_url=world.oxen.base_url) as client:
        await client.cancel(gid)
    message = await world.discord.wait_for_message(
        world.channel, lambda m: "cancelled" in m.content, timeout=10
    )
    assert "a slow snail" in message.content and set(message.pinged_users) == {world.alice.id}


async def test_generation_longer_than_the_interaction_token_is_still_delivered(world):
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="a patient tortoise"))
    world.discord.clock.advance(16 * 60)  # the interaction token is dead now
    [gid] = list(world.oxen.generations)
    await world.oxen.complete(gid)
    result = await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    assert result.attachments[0].data == world.oxen.result_bytes(gid)
    assert not [e for e in world.discord.errors if e.get("code") == 50027]


async def test_several_images_are_each_delivered(world):
    await queued(world, await imagine(world, prompt="a red cube", count=3), count=3)
    for gid in world.oxen.generations:
        await world.discord.wait_for_message(
            world.channel,
            lambda m, gid=gid: is_result(m) and m.attachments[0].filename.startswith(gid),
            timeout=10,
        )


async def test_unknown_model_is_refused_privately_and_nothing_is_queued(world):
    interaction = await imagine(world, prompt="a red cube", model="no-such-model")
    reply = await ephemeral_reply(world, interaction)
    assert "no-such-model" in reply.content and "model" in reply.content
    assert world.oxen.count("POST", "/api/ai/queue") == 0
    # The public "thinking…" placeholder does not stay behind.
    assert not [m for m in world.discord.messages(world.channel) if not m.ephemeral]


async def test_text_only_model_is_refused(world):
    interaction = await imagine(world, prompt="a red cube", model="gpt-4o-mini")
    reply = await ephemeral_reply(world, interaction)
    assert "gpt-4o-mini" in reply.content
    assert world.oxen.generations == {}


async def test_oxen_refusing_the_key_says_the_bot_is_misconfigured(world):
    world.oxen.fail_next("POST", "/api/ai/queue", 401, body_format="A", message="unauthenticated")
    interaction = await imagine(world)
    reply = await ephemeral_reply(world, interaction)
    assert "misconfigured" in reply.content
    assert world.oxen.api_key not in reply.content
    assert world.oxen.generations == {}


async def test_oxen_unavailable_after_retries_says_busy_and_stores_nothing(world):
    world.oxen.fail_next("POST", "/api/ai/queue", 503, times=10)
    interaction = await imagine(world)
    reply = await ephemeral_reply(world, interaction, timeout=20)
    assert "busy" in reply.content and "nothing was queued" in reply.content
    assert world.oxen.count("POST", "/api/ai/queue") == 4  # first try + 3 retries
    assert world.oxen.generations == {}


async def test_missing_channel_permission_is_named_before_anything_is_charged(world):
    world.discord.set_overwrite(world.channel, target=world.discord.bot_user, deny=ATTACH_FILES)
    interaction = await world.discord.invoke_slash_command(
        world.alice, world.channel, "imagine", options={"prompt": "a red cube"}
    )
    await interaction.wait_acknowledged(timeout=3)
    reply = await ephemeral_reply(world, interaction)
    assert "Attach Files" in reply.content
    assert world.oxen.count("POST", "/api/ai/queue") == 0


async def test_prompt_with_everyone_pings_nobody_else(world):
    await imagine(world, prompt="@everyone a red cube <@&1234>")
    for message in [
        await world.discord.wait_for_message(world.channel, is_result, timeout=10),
        *world.discord.messages(world.channel),
    ]:
        assert not message.pinged_everyone and not message.pinged_roles
        assert set(message.pinged_users) <= {world.alice.id}


async def test_model_autocomplete_offers_only_image_models(world):
    choices = await world.discord.autocomplete(
        world.alice, world.channel, "imagine", options={"prompt": "x", "model": ""}, focused="model"
    )
    values = {choice["value"] for choice in choices}
    assert MODEL in values and "flux-1-dev" in values
    assert "gpt-4o-mini" not in values


async def test_command_definitions_are_synced_to_the_dev_guild(world):
    commands = {c["name"]: c for c in world.discord.registered_commands(world.guild)}
    command = commands["imagine"]
    options = {o["name"]: o for o in command["options"]}
    assert options["prompt"]["required"] is True and options["prompt"]["max_length"] == 1500
    assert options["count"]["min_value"] == 1 and options["count"]["max_value"] == 4
    assert options["model"]["autocomplete"] is True
    assert options["aspect_ratio"]["autocomplete"] is True  # the chosen model's own values
    assert options["steps"]["min_value"] == 1
    assert commands["Edit with imagine-bot"]["type"] == 3  # a message context menu
    edit = {o["name"]: o for o in commands["edit"]["options"]}
    assert edit["image"]["type"] == 11 and edit["image"]["required"] is True


async def test_control_characters_in_a_prompt_are_dropped(world):
    await queued(world, await imagine(world, prompt="a red\x00 cube\x07\nat dawn"))
    [generation] = world.oxen.generations.values()
    assert generation["prompt"] == "a red cube\nat dawn"
