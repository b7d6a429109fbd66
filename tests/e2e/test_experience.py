"""Issue 6: progress, buttons, schema checks, several images, editing, /jobs and /help."""

from __future__ import annotations

import io

from PIL import Image

from tests.e2e.conftest import RunningBot
from tests.e2e.test_imagine import imagine, is_result, queued
from tests.fakes.discord.interactions import iter_components
from tests.waiting import wait_until

MANAGE_MESSAGES = 1 << 13
EDIT_MODEL = "qwen-image-edit"


def buttons(message) -> dict[str, str]:
    """label -> custom_id of every button on a message."""
    return {
        c["label"]: c["custom_id"]
        for c in iter_components(message.components)
        if c.get("type") == 2 and "custom_id" in c
    }


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 128, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


async def press(world, user, message, label):
    interaction = await world.discord.click_button(user, message, buttons(message)[label])
    await interaction.wait_acknowledged(timeout=3)
    return interaction


async def fill_modal(world, user, interaction, value):
    """Submit the modal the bot showed in answer to ``interaction``, typing ``value``."""
    [response] = interaction.responses
    assert response["type"] == 9, "expected a modal"
    modal = response["data"]
    [field] = [c for c in iter_components(modal["components"]) if c.get("type") == 4]
    submitted = await world.discord.submit_modal(
        user, world.channel, modal["custom_id"], {field["custom_id"]: value}
    )
    await submitted.wait_acknowledged(timeout=3)
    return field, submitted


async def delivered(world, count=1, timeout=10.0):
    """Wait until ``count`` result messages are in the channel; return them."""
    await world.discord.wait_for_message(
        world.channel,
        lambda m: sum(is_result(x) for x in world.discord.messages(world.channel)) >= count,
        timeout=timeout,
    )
    return [m for m in world.discord.messages(world.channel) if is_result(m)]


async def ephemeral_reply(world, interaction, timeout=10.0):
    """The private answer to ``interaction``, once it says something ("thinking…" does not)."""
    return await world.discord.wait_for_message(
        world.channel,
        lambda m: m.ephemeral and m.interaction_id == interaction.id and not m.loading
        and bool(m.content or m.embeds),
        timeout=timeout,
    )  # fmt: skip


def newest_generation(world):
    return list(world.oxen.generations.values())[-1]


# --- progress ----------------------------------------------------------------------------------


async def test_status_shows_queue_position_then_processing_then_the_outcome(world):
    world.oxen.hold = True
    first = await queued(world, await imagine(world, prompt="a first lake"))
    second_interaction = await imagine(world, user=world.bob, prompt="a second lake")
    second = await world.discord.wait_for_message(
        world.channel, lambda m: m.interaction_id == second_interaction.id and "Queued" in m.content
    )
    assert "#1 in this server's queue" in first.content
    assert "#2 in this server's queue" in second.content
    gid_first, gid_second = list(world.oxen.generations)

    # Oxen starts the first: its message shows a relative timestamp, the second moves up.
    world.oxen.set_processing(gid_first)
    await world.discord.wait_for_message(
        world.channel,
        lambda m: m.id == first.id and "started <t:" in m.content and ":R>" in m.content,
    )
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == second.id and "#1 in this server's queue" in m.content
    )
    await world.oxen.complete(gid_first)
    await world.oxen.fail(gid_second, "the model refused")
    done = await world.discord.wait_for_message(
        world.channel, lambda m: m.id == first.id and "Finished" in m.content
    )
    failed = await world.discord.wait_for_message(
        world.channel, lambda m: m.id == second.id and "failed" in m.content
    )
    assert not buttons(done) and not buttons(failed)  # Cancel goes once it is over
    [result] = [m for m in world.discord.messages(world.channel) if is_result(m)]
    assert done.content.endswith(f"/{world.channel.id}/{result.id}).")  # a link to the image


async def test_unchanged_status_is_not_edited_again(world):
    world.oxen.hold = True
    status = await queued(world, await imagine(world))
    edits_before = status.edits
    polls = world.oxen.count("GET", "/api/ai/queue")
    # Several watcher passes (each lists Oxen's queue) with nothing new to say.
    await wait_until(lambda: world.oxen.count("GET", "/api/ai/queue") >= polls + 3, timeout=10)
    assert world.discord.message(status.id).edits == edits_before


# --- Cancel ------------------------------------------------------------------------------------


async def test_only_the_requester_or_a_moderator_can_cancel(world):
    world.oxen.hold = True
    status = await queued(world, await imagine(world, prompt="a slow tower"))
    [gid] = list(world.oxen.generations)

    refused = await press(world, world.bob, status, "Cancel")
    reply = await ephemeral_reply(world, refused)
    assert "Manage Messages" in reply.content
    assert world.oxen.generations[gid]["status"] == "queued"
    assert not world.oxen.requests_to("DELETE", "/api/ai/queue")

    cancel = await press(world, world.alice, status, "Cancel")
    reply = await ephemeral_reply(world, cancel)
    assert "Cancelled" in reply.content
    assert world.oxen.generations[gid]["status"] == "cancelled"
    after = await world.discord.wait_for_message(
        world.channel, lambda m: m.id == status.id and "cancelled by" in m.content
    )
    assert not buttons(after)
    assert not after.pinged_users  # naming who cancelled pings nobody
    assert not [m for m in world.discord.messages(world.channel) if is_result(m)]

    # A moderator may cancel someone else's request.
    mods = world.discord.create_role(world.guild, "mods", permissions=MANAGE_MESSAGES)
    mod = world.discord.create_user("mod")
    world.discord.add_member(world.guild, mod, roles=[mods])
    other = await imagine(world, prompt="another tower")
    other_status = await world.discord.wait_for_message(
        world.channel, lambda m: m.interaction_id == other.id and "Queued" in m.content
    )
    await ephemeral_reply(world, await press(world, mod, other_status, "Cancel"))
    assert newest_generation(world)["status"] == "cancelled"


# --- result buttons ----------------------------------------------------------------------------


async def test_result_buttons_work_after_a_restart(world):
    await imagine(world, prompt="a lighthouse at dusk", aspect_ratio="4:3", seed=1234)
    [result] = await delivered(world)
    # Share and the ⭐ vote (its label is the count) are the gallery's.
    assert set(buttons(result)) == {"Reroll", "Vary", "Edit", "Info", "Delete", "Share", "0"}
    assert all(len(custom_id) <= 100 for custom_id in buttons(result).values())

    await world.bot.stop()
    world.bot = RunningBot(world.bot.settings)
    await world.bot.start(world.discord)

    info = await press(world, world.bob, result, "Info")
    reply = await ephemeral_reply(world, info)
    [embed] = reply.embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "a lighthouse at dusk" in embed["description"]
    assert fields["Seed"] == "1234" and fields["Aspect ratio"] == "4:3"
    assert "black-forest-labs-flux-2-klein-4b" in fields["Model"]


async def test_reroll_makes_the_same_request_with_a_new_seed_for_the_presser(world):
    await imagine(world, prompt="a paper crane", aspect_ratio="1:1", seed=7)
    [result] = await delivered(world)
    reroll = await press(world, world.bob, result, "Reroll")
    assert reroll.responses[0]["type"] == 5  # acknowledged before Oxen is asked
    results = await delivered(world, 2)
    _, second = world.oxen.generations.values()
    assert second["prompt"] == "a paper crane" and second["aspect_ratio"] == "1:1"
    assert second["seed"] != 7
    assert set(results[1].pinged_users) == {world.bob.id}


async def test_vary_shows_the_prompt_to_change_and_queues_the_new_one(world):
    await imagine(world, prompt="a red fox", seed=3)
    [result] = await delivered(world)
    vary = await press(world, world.alice, result, "Vary")
    field, _ = await fill_modal(world, world.alice, vary, "a blue fox")
    assert field["value"] == "a red fox"  # prefilled with the prompt
    await delivered(world, 2)
    assert newest_generation(world)["prompt"] == "a blue fox"


async def test_edit_button_edits_this_result_with_an_edit_model(world):
    await imagine(world, prompt="a plain mug")
    [result] = await delivered(world)
    edit = await press(world, world.bob, result, "Edit")
    await fill_modal(world, world.bob, edit, "add a yellow star")
    await delivered(world, 2)
    generation = newest_generation(world)
    assert generation["model_name"] == EDIT_MODEL
    assert generation["prompt"] == "add a yellow star"
    assert generation["input_image"] == result.attachments[0].url


async def test_only_the_requester_or_a_moderator_can_delete(world):
    await imagine(world)
    [result] = await delivered(world)
    refused = await press(world, world.bob, result, "Delete")
    assert "Manage Messages" in (await ephemeral_reply(world, refused)).content
    assert not world.discord.message(result.id).deleted

    await press(world, world.alice, result, "Delete")
    await world.discord.wait_for_message(
        world.channel, lambda m: world.discord.message(result.id).deleted
    )


# --- options checked against the model ----------------------------------------------------------


async def test_options_the_model_does_not_take_are_refused_by_name(world):
    cases = [
        ({"aspect_ratio": "21:9"}, "1:1, 16:9, 9:16, 4:3, 3:4"),
        ({"steps": 80}, "between 1 and 50"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
    ]
    for options, expected in cases:
        interaction = await imagine(world, **options)
        reply = await ephemeral_reply(world, interaction)
        assert expected in reply.content, reply.content
    assert not world.oxen.generations  # nothing was charged


async def test_aspect_ratio_suggestions_follow_the_chosen_model(world):
    choices = await world.discord.autocomplete(
        world.alice, world.channel, "imagine",
        options={"prompt": "x", "model": "flux-1-dev", "aspect_ratio": ""}, focused="aspect_ratio",
    )  # fmt: skip
    assert "3:2" in {c["value"] for c in choices}
    choices = await world.discord.autocomplete(
        world.alice, world.channel, "imagine",
        options={"prompt": "x", "aspect_ratio": ""}, focused="aspect_ratio",
    )  # fmt: skip
    assert "3:2" not in {c["value"] for c in choices}  # the default model has no 3:2


# --- several images ---------------------------------------------------------------------------


async def test_count_posts_each_image_and_says_how_many_failed(world):
    world.oxen.hold = True
    interaction = await imagine(world, prompt="four cats", count=3)
    status = await queued(world, interaction, count=3)
    assert "3 images" in status.content
    a, b, c = list(world.oxen.generations)
    await world.oxen.complete(a)
    await world.oxen.fail(b, "the model refused")
    await world.oxen.complete(c)
    results = await delivered(world, 2)
    assert "image 1 of 3" in results[0].embeds[0]["title"]
    final = await world.discord.wait_for_message(
        world.channel, lambda m: m.id == status.id and "1 of 3 failed" in m.content
    )
    assert "2 images posted" in final.content
    assert any("the model refused" in m.content for m in world.discord.messages(world.channel))


# --- /edit and the context menu ----------------------------------------------------------------


async def test_edit_command_sends_the_attachment_to_an_edit_model(world):
    interaction = await world.discord.invoke_slash_command(
        world.alice, world.channel, "edit",
        options={"image": "photo.png", "prompt": "make it night"},
        attachments={"image": ("photo.png", png(), "image/png")},
    )  # fmt: skip
    await interaction.wait_acknowledged(timeout=3)
    await delivered(world)
    generation = newest_generation(world)
    assert generation["model_name"] == EDIT_MODEL
    assert generation["input_image"].endswith("photo.png")  # the Discord attachment's URL


async def test_edit_command_refuses_what_is_not_an_image(world):
    for filename, data, kind, expected in [
        ("notes.txt", b"hello", "text/plain", "not an image"),
        ("huge.png", b"\0" * (21 * 1024 * 1024), "image/png", "at most 20 MB"),
        ("photo.png", png(), "image/png", "can't edit images"),  # flux-1-dev only draws
    ]:
        model = {"model": "flux-1-dev"} if expected == "can't edit images" else {}
        interaction = await world.discord.invoke_slash_command(
            world.alice, world.channel, "edit",
            options={"image": filename, "prompt": "make it night", **model},
            attachments={"image": (filename, data, kind)},
        )  # fmt: skip
        reply = await ephemeral_reply(world, interaction)
        assert expected in reply.content, reply.content
    assert not world.oxen.generations


async def test_edit_model_suggestions_are_edit_models_only(world):
    choices = await world.discord.autocomplete(
        world.alice, world.channel, "edit",
        options={"prompt": "x", "model": ""}, focused="model",
    )  # fmt: skip
    values = {c["value"] for c in choices}
    assert EDIT_MODEL in values and "flux-1-dev" not in values


async def test_context_menu_edits_the_image_on_any_message(world):
    await imagine(world, prompt="a castle")
    [result] = await delivered(world)
    menu = await world.discord.invoke_message_command(world.bob, result, "Edit with imagine-bot")
    await menu.wait_acknowledged(timeout=3)
    await fill_modal(world, world.bob, menu, "add snow")
    await delivered(world, 2)
    assert newest_generation(world)["input_image"] == result.attachments[0].url

    text = world.discord.post_user_message(world.alice, world.channel, "just words")
    refused = await world.discord.invoke_message_command(world.bob, text, "Edit with imagine-bot")
    assert "no image" in (await ephemeral_reply(world, refused)).content


# --- /jobs and /help ---------------------------------------------------------------------------


async def test_jobs_lists_your_pending_requests_with_cancel_buttons(world):
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="one owl"))
    second = await imagine(world, prompt="two owls")
    second_status = await world.discord.wait_for_message(
        world.channel, lambda m: m.interaction_id == second.id and "Queued" in m.content
    )
    await imagine(world, user=world.bob, prompt="bob's owl")

    jobs = await world.discord.invoke_slash_command(world.alice, world.channel, "jobs")
    listing = await ephemeral_reply(world, jobs)
    assert "one owl" in listing.content and "two owls" in listing.content
    assert "bob's owl" not in listing.content
    assert set(buttons(listing)) == {"Cancel #1", "Cancel #2"}

    await ephemeral_reply(world, await press(world, world.alice, listing, "Cancel #2"))
    second_gid = list(world.oxen.generations)[1]
    assert world.oxen.generations[second_gid]["status"] == "cancelled"
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == second_status.id and "cancelled by" in m.content
    )

    empty = await world.discord.invoke_slash_command(world.bob, world.channel, "jobs")
    assert "bob's owl" in (await ephemeral_reply(world, empty)).content


async def test_help_explains_the_commands_and_limits(world):
    interaction = await world.discord.invoke_slash_command(world.alice, world.channel, "help")
    reply = await ephemeral_reply(world, interaction)
    [embed] = reply.embeds
    names = {f["name"] for f in embed["fields"]}
    assert {"/imagine", "/edit", "/jobs", "Limits"} <= names
    limits = next(f["value"] for f in embed["fields"] if f["name"] == "Limits")
    assert "black-forest-labs-flux-2-klein-4b" in limits and "15 min" in limits
    server = next(f["value"] for f in embed["fields"] if f["name"] == "On this server")
    assert "Images at once per user: 4" in server and "Daily images per user: 25" in server
