"""Busy channels, with the local Discord enforcing Discord's own rate limits (windows scaled down
so the tests stay short): results go out without a 429, together when the channel's bucket is
full, each image in a combined message keeps its buttons (across a restart), a 429 is waited out
without a duplicate, and a quiet channel still gets each image alone at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

from tests.e2e.test_experience import buttons, ephemeral_reply, fill_modal, press
from tests.e2e.test_gallery import reply_text, setup_gallery, share
from tests.e2e.test_imagine import imagine, is_result
from tests.e2e.test_moderation_and_capacity import restart
from tests.fakes.discord.interactions import iter_components
from tests.waiting import wait_until

SCALE = 0.2  # Discord's counts, every window a fifth as long: 5 messages per second per channel
CHANNEL_POSTS = "/channels/{channel_id}/messages"
CHANNEL_EDITS = "/channels/{channel_id}/messages/{message_id}"
TOKEN_EDITS = "/webhooks/{application_id}/{token}/messages/{message_id}"
RESULT_BUTTONS = {"Reroll", "Vary", "Edit", "Info", "Delete", "Share", "0"}


def members(world, count):
    """``count`` members who ask (alice and bob first)."""
    people = [world.alice, world.bob]
    for index in range(len(people), count):
        user = world.discord.create_user(f"member{index}")
        world.discord.add_member(world.guild, user)
        people.append(user)
    return people[:count]


async def burst(world, count, *, users=None):
    """``count`` /imagine from different members, all queued at Oxen and held there."""
    world.oxen.hold = True
    people = users or members(world, count)
    interactions = []
    for index in range(count):
        interactions.append(
            await imagine(world, user=people[index % len(people)], prompt=f"a lantern no. {index}")
        )
    await wait_until(
        lambda: (
            len(world.oxen.generations) == count
            and all(i.original is not None and not i.original.loading for i in interactions)
            and all(_status_of(world).values())
        ),  # the status messages recorded
        timeout=10,
    )
    return interactions


def images_by_generation(world):
    """Every message in the channel carrying a result file, by generation id."""
    found = {}
    for message in world.discord.messages(world.channel):
        for attachment in message.attachments:
            gid = attachment.filename.removeprefix("SPOILER_").rsplit(".", 1)[0]
            if gid in world.oxen.generations:
                found.setdefault(gid, []).append(message)
    return found


async def all_delivered(world, timeout=15.0):
    await wait_until(
        lambda: len(images_by_generation(world)) == len(world.oxen.generations), timeout=timeout
    )
    found = images_by_generation(world)
    assert all(len(messages) == 1 for messages in found.values()), "an image was posted twice"
    return {gid: messages[0] for gid, messages in found.items()}


def generation_of_embed(embed) -> str:
    return embed["footer"]["text"].removeprefix("Generation ")


def image_buttons(message) -> dict[str, str]:
    """A combined message's ⚙️ Image N buttons: label -> generation id."""
    return {
        c["label"]: c["custom_id"].removeprefix("ib:actions:")
        for c in iter_components(message.components)
        if c.get("custom_id", "").startswith("ib:actions:")
    }


def result_message_ids(world) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(world.bot.settings.database_path)) as db:
        rows = db.execute("SELECT generation_id, result_message_id FROM jobs").fetchall()
    return dict(rows)


async def open_actions(world, user, message, label):
    """Press ⚙️ Image N: the private message with that image's buttons."""
    pressed = await press(world, user, message, label)
    return await ephemeral_reply(world, pressed)


async def combined_after_expiry(world, count=12):
    """A burst whose interaction tokens have expired, so only the channel's own bucket carries
    the results: the ones past its first window go together."""
    world.discord.use_discord_limits(time_scale=SCALE)
    interactions = await burst(world, count)
    world.discord.clock.advance(15 * 60)  # every token dead: never used again
    await asyncio.gather(*(world.oxen.complete(gid) for gid in list(world.oxen.generations)))
    posted = await all_delivered(world)
    await wait_until(lambda: all(result_message_ids(world).values()))  # recorded too
    combined = {m.id: m for m in posted.values() if len(m.attachments) > 1}
    assert combined, "expected a message of several images"
    return interactions, posted, next(iter(combined.values()))


# --- a saturated channel -------------------------------------------------------------------------


async def test_a_saturated_channel_sends_images_together_without_a_429(world):
    interactions, _, message = await combined_after_expiry(world)
    assert world.discord.rate_limited_count == 0
    gids = [generation_of_embed(e) for e in message.embeds]
    assert 2 <= len(gids) == len(message.attachments) <= 10
    # One embed per image, its file in the embed, its requester credited.
    jobs = {row["generation_id"]: row for row in world.oxen.generations.values()}
    for embed, attachment, gid in zip(message.embeds, message.attachments, gids, strict=True):
        assert attachment.filename == f"{gid}.png"
        assert embed["image"]["url"] == f"attachment://{attachment.filename}"
        assert attachment.data == world.oxen.result_bytes(gid)
        assert gid in jobs
    asked_by = {i.original.id: i.user_id for i in interactions}  # status message -> who
    status_of = _status_of(world)
    requesters = {asked_by[status_of[gid]] for gid in gids}
    # Its content mentions just those requesters; each is notified, nobody else.
    assert set(message.pinged_users) == requesters
    for user_id in requesters:
        assert f"<@{user_id}>" in message.content
    assert not message.pinged_roles and not message.pinged_everyone
    # One button per image, numbered as its embed.
    assert image_buttons(message) == {f"Image {n}": gid for n, gid in enumerate(gids, 1)}
    for number, embed in enumerate(message.embeds, 1):
        assert embed["title"].startswith(f"{number}. ")
    # The store has the message for every image in it.
    await wait_until(lambda: all(result_message_ids(world)[gid] == message.id for gid in gids))
    # Every status message says it is finished, with a link to its image's message.
    await wait_until(
        lambda: all(
            world.discord.message(i.original.id).content.startswith("✅") for i in interactions
        )
    )
    # The tokens were never used after they expired.
    late = [r for r in world.discord.requests if "/webhooks/" in r.path and r.status == 401]
    assert late == []


def _status_of(world) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(world.bot.settings.database_path)) as db:
        rows = db.execute("SELECT generation_id, status_message_id FROM jobs").fetchall()
    return dict(rows)


async def test_each_image_of_a_combined_message_keeps_its_buttons_across_a_restart(world):
    await setup_gallery(world)
    _, _, message = await combined_after_expiry(world)
    labels = image_buttons(message)
    first_gid, second_gid, third_gid = (labels[f"Image {n}"] for n in (1, 2, 3))
    requester = {g: _requester(world, g) for g in (first_gid, second_gid, third_gid)}

    # ⚙️ Image 1: that image's seven buttons, for the presser only.
    own = await open_actions(world, world.alice, message, "Image 1")
    assert own.ephemeral and set(buttons(own)) == RESULT_BUTTONS
    assert all(cid.endswith(first_gid) for cid in buttons(own).values())

    # Info: its own details.
    info = await ephemeral_reply(world, await press(world, world.alice, own, "Info"))
    assert info.embeds[0]["footer"]["text"] == f"Generation {first_gid}"

    # Reroll: a new image with the same prompt, the presser's.
    before = set(world.oxen.generations)
    world.oxen.hold = False
    await press(world, world.alice, own, "Reroll")
    await wait_until(lambda: len(world.oxen.generations) == len(before) + 1, timeout=10)
    [new_gid] = set(world.oxen.generations) - before
    assert world.oxen.generations[new_gid]["prompt"] == world.oxen.generations[first_gid]["prompt"]

    # Share (its requester): the gallery post carries this image, not the message's first.
    owner = _user(world, requester[second_gid])
    second = await open_actions(world, owner, message, "Image 2")
    answer = await share(world, owner, second, title="Second lantern")
    assert "Shared to the gallery" in answer.content, answer.content
    post = world.discord.posts(world.forum)[-1]
    starter = world.discord.starter_message(post)
    assert starter.attachments[0].data == world.oxen.result_bytes(second_gid)

    # Delete: only its requester (or a moderator); it takes only that image out.
    stranger = next(u for u in members(world, 12) if u.id != requester[third_gid])
    third = await open_actions(world, stranger, message, "Image 3")
    refused = await ephemeral_reply(world, await press(world, stranger, third, "Delete"))
    assert "Only the person who asked" in refused.content
    owner = _user(world, requester[third_gid])
    third = await open_actions(world, owner, message, "Image 3")
    await press(world, owner, third, "Delete")
    await wait_until(lambda: len(world.discord.message(message.id).attachments) < len(labels))
    after = world.discord.message(message.id)
    assert not after.deleted
    kept = [a.filename for a in after.attachments]
    assert f"{third_gid}.png" not in kept and f"{first_gid}.png" in kept
    assert third_gid not in [generation_of_embed(e) for e in after.embeds]
    assert "Image 3" not in image_buttons(after) and "Image 1" in image_buttons(after)
    assert len(after.embeds) == len(after.attachments) == len(labels) - 1

    # After a restart the same buttons still work, and a vote leaves the message's buttons be.
    await restart(world)
    first = await open_actions(world, world.bob, after, "Image 1")
    info = await ephemeral_reply(world, await press(world, world.bob, first, "Info"))
    assert info.embeds[0]["footer"]["text"] == f"Generation {first_gid}"
    voted = await press(world, world.bob, first, "0")
    assert "Voted" in (await reply_text(world, voted)).content
    reopened = await open_actions(world, world.bob, after, "Image 1")
    assert "1" in buttons(reopened)  # its count, among its own buttons
    await asyncio.sleep(0.5)  # a label edit would have come by now
    assert image_buttons(world.discord.message(message.id)) == image_buttons(after)


async def test_edit_on_an_image_of_a_combined_message_edits_that_image(world):
    _, _, message = await combined_after_expiry(world)
    gid = image_buttons(message)["Image 2"]
    actions = await open_actions(world, world.alice, message, "Image 2")
    pressed = await press(world, world.alice, actions, "Edit")
    world.oxen.hold = False
    before = set(world.oxen.generations)
    await fill_modal(world, world.alice, pressed, "make it blue")
    await wait_until(lambda: len(world.oxen.generations) > len(before), timeout=10)
    [edit_gid] = set(world.oxen.generations) - before
    source = world.oxen.generations[edit_gid]["input_image"]
    assert source.endswith(f"{gid}.png")  # this image's file, not the message's first


async def test_deleting_the_last_images_of_a_combined_message_deletes_it(world):
    _, _, message = await combined_after_expiry(world)
    labels = image_buttons(message)
    for label, gid in labels.items():
        owner = _user(world, _requester(world, gid))
        actions = await open_actions(world, owner, world.discord.message(message.id), label)
        await press(world, owner, actions, "Delete")

        def gone(gid=gid) -> bool:
            now = world.discord.message(message.id)
            return now.deleted or all(not a.filename.startswith(gid) for a in now.attachments)

        await wait_until(gone)
    await wait_until(lambda: world.discord.message(message.id).deleted)


# --- the interaction's own bucket ----------------------------------------------------------------


async def test_while_tokens_are_valid_a_saturated_channel_uses_follow_ups_and_the_tokens(world):
    world.discord.use_discord_limits()  # Discord's own windows: the first one stays spent
    interactions = await burst(world, 10)
    gids = list(world.oxen.generations)
    # Five results spend the channel's window (each alone, at once: it could take them)...
    await asyncio.gather(*(world.oxen.complete(gid) for gid in gids[:5]))
    await wait_until(lambda: len(images_by_generation(world)) == 5, timeout=5)
    alone = images_by_generation(world)
    assert all(len(m.attachments) == 1 and m.webhook_id is None for [m] in alone.values())
    # ...so the next five would wait for it: they go on their interactions' own buckets.
    await asyncio.gather(*(world.oxen.complete(gid) for gid in gids[5:]))
    posted = await all_delivered(world)
    assert world.discord.rate_limited_count == 0
    followups = {m.id: m for m in posted.values() if m.webhook_id is not None}
    assert followups, "expected results as follow-ups of their interactions"
    by_interaction = {i.id: i for i in interactions}
    for message in followups.values():
        interaction = by_interaction[message.interaction_id]
        assert message.pinged_users == [interaction.user_id]  # a new message: notified
        assert set(buttons(message)) == RESULT_BUTTONS  # one image: its own seven buttons
        gids = [a.filename.rsplit(".", 1)[0] for a in message.attachments]
        assert all(_status_of(world)[g] == interaction.original.id for g in gids)
    # Status edits went on the interactions' tokens, not the channel's edit bucket.
    assert world.discord.requests_to("PATCH", TOKEN_EDITS)
    assert not world.discord.requests_to("PATCH", CHANNEL_EDITS)
    await wait_until(
        lambda: all(
            world.discord.message(i.original.id).content.startswith("✅") for i in interactions
        )
    )


# --- 429s and quiet channels ---------------------------------------------------------------------


async def test_an_injected_429_on_the_post_is_waited_out_and_retried_once(world):
    world.discord.use_discord_limits(time_scale=SCALE)
    world.discord.rate_limit("POST", r"^/channels/\d+/messages$", times=1, retry_after=0.3)
    await imagine(world, prompt="a stubborn mule")
    result = await world.discord.wait_for_message(world.channel, is_result, timeout=10)
    [gid] = list(world.oxen.generations)
    posts = world.discord.requests_to("POST", CHANNEL_POSTS)
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].json["nonce"] == gid.replace("-", "")[:25]  # its own nonce, as always
    assert posts[1].time - posts[0].time >= 0.3 - 0.05  # after its Retry-After
    assert [m.id for m in images_by_generation(world)[gid]] == [result.id]
    assert world.discord.rate_limited_count == 1
    await asyncio.sleep(0.3)  # nothing else comes
    assert len(world.discord.requests_to("POST", CHANNEL_POSTS)) == 2


async def test_a_quiet_channel_still_gets_each_image_alone_at_once(world):
    world.discord.use_discord_limits()  # Discord's own numbers: 5 per 5 s
    world.oxen.hold = True
    interaction = await imagine(world, prompt="a quiet pond", count=3)
    await wait_until(lambda: len(world.oxen.generations) == 3, timeout=5)
    status_id = await wait_until(lambda: interaction.original and interaction.original.id)
    await wait_until(lambda: set(_status_of(world).values()) == {status_id})  # recorded
    for gid in list(world.oxen.generations):
        started = time.time()
        await world.oxen.complete(gid)
        message = await world.discord.wait_for_message(
            world.channel,
            lambda m, gid=gid: any(a.filename.startswith(gid) for a in m.attachments),
            timeout=5,
        )
        assert message.created_at - started < 1.0
        assert len(message.attachments) == 1 and set(buttons(message)) == RESULT_BUTTONS
        assert message.webhook_id is None  # the bot's own post, replying to the status
        assert message.message_reference["message_id"] == str(status_id)
    assert world.discord.rate_limited_count == 0


def _requester(world, gid) -> int:
    with contextlib.closing(sqlite3.connect(world.bot.settings.database_path)) as db:
        (user_id,) = db.execute(
            "SELECT requester_id FROM jobs WHERE generation_id = ?", (gid,)
        ).fetchone()
    return int(user_id)


def _user(world, user_id):
    return world.discord.state.users[user_id]
