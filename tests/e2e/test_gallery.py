"""The server gallery end to end: setting it up, Share (credit, no pings, tags, the NSFW rule),
withdraw and hide, ⭐ votes (pacing, at once, after a restart), auto-share consent, remix lineage,
/gallery top|search|user|mine|prefs, and the weekly post on a moved clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3

from bot.core.gallery import WEEK, monday_of
from tests.e2e.test_experience import (
    buttons,
    delivered,
    ephemeral_reply,
    fill_modal,
    newest_generation,
    press,
)
from tests.e2e.test_fair_use import admin, with_owner
from tests.e2e.test_imagine import imagine, is_result
from tests.e2e.test_moderation_and_capacity import restart
from tests.fakes.discord import permissions as perms
from tests.fakes.discord.interactions import iter_components
from tests.waiting import wait_until

SUPPRESS_NOTIFICATIONS = 1 << 12
MODEL_TAG = "FLUX.2 [klein] 4B"  # the default model's display name (it fits a tag's 20)
BOT_PERMISSIONS = perms.DEFAULT_EVERYONE | perms.MANAGE_THREADS | perms.MANAGE_CHANNELS


# --- helpers --------------------------------------------------------------------------------------


async def setup_gallery(world, *, nsfw=True, **options):
    """An owner, the bot allowed to run a gallery, a forum (and an age-restricted media channel)
    set as the server's galleries, and an audit channel."""
    with_owner(world)
    world.discord.set_bot_permissions(world.guild, BOT_PERMISSIONS)
    world.forum = world.discord.create_channel(
        world.guild, "gallery", type="forum", available_tags=[MODEL_TAG, "space", "memes"]
    )
    world.nsfw_forum = world.discord.create_channel(
        world.guild, "gallery-after-dark", type="media", nsfw=True
    )
    world.audit = world.discord.create_channel(world.guild, "imagine-log")
    await admin(world, "audit-channel", channel=world.audit)
    if nsfw:
        options["nsfw_channel"] = world.nsfw_forum
    answer = await admin(world, "gallery", channel=world.forum, **options)
    mods = world.discord.create_role(world.guild, "mods", permissions=perms.MANAGE_MESSAGES)
    world.mod = world.discord.create_user("mod")
    world.discord.add_member(world.guild, world.mod, roles=[mods])
    return answer


def set_nick(world, user, nick):
    world.discord.state.guilds[world.guild.id].members[user.id].nick = nick


async def result_for(world, prompt, user=None, channel=None, **options):
    """Ask for an image and return its result message."""
    channel = channel or world.channel
    before = {m.id for m in world.discord.messages(channel) if is_result(m)}
    await imagine(world, user=user, channel=channel, prompt=prompt, **options)
    return await world.discord.wait_for_message(
        channel, lambda m: is_result(m) and m.id not in before, timeout=10
    )


def vote_button(message) -> tuple[str, str]:
    """(label, custom_id) of the message's ⭐ button."""
    [(label, custom_id)] = [
        (c.get("label"), c["custom_id"])
        for c in iter_components(message.components)
        if c.get("type") == 2 and c.get("custom_id", "").startswith("ib:vote:")
    ]
    return label, custom_id


async def vote(world, user, message):
    _, custom_id = vote_button(message)
    interaction = await world.discord.click_button(user, message, custom_id)
    await interaction.wait_acknowledged(timeout=3)
    return interaction


async def reply_text(world, interaction, channel=None):
    message = await world.discord.wait_for_message(
        channel or world.discord.state.channels[interaction.channel_id],
        lambda m: m.ephemeral and m.interaction_id == interaction.id and not m.loading
        and bool(m.content or m.embeds),
        timeout=10,
    )  # fmt: skip
    return message


async def share(world, user, result, *, title=None, show_prompt=True, channel=None):
    """Press Share, fill in the form, and return the private answer."""
    channel = channel or world.discord.state.channels[result.channel_id]
    pressed = await press(world, user, result, "Share")
    [response] = pressed.responses
    assert response["type"] == 9, f"expected the Share form, got {await reply_text(world, pressed)}"
    modal = response["data"]
    fields = {c["type"]: c for c in iter_components(modal["components"]) if c["type"] in (4, 23)}
    values = {fields[23]["custom_id"]: show_prompt}
    if title is not None:
        values[fields[4]["custom_id"]] = title
    submitted = await world.discord.submit_modal(
        user, channel, modal["custom_id"], values, message=result
    )
    await submitted.wait_acknowledged(timeout=3)
    return await reply_text(world, submitted, channel)


def post_of(world, forum=None):
    """The newest gallery post (thread) and its starter message."""
    post = world.discord.posts(forum or world.forum)[-1]
    return post, world.discord.starter_message(post)


async def slash(world, user, name, subcommand, channel=None, **options):
    interaction = await world.discord.invoke_slash_command(
        user, channel or world.channel, name, options=options, subcommand=subcommand
    )
    return await reply_text(world, interaction, channel or world.channel)


async def listed(world, subcommand, user=None, channel=None, **options):
    """/gallery <subcommand>: the private answer's embed lines."""
    answer = await slash(world, user or world.bob, "gallery", subcommand, channel, **options)
    [embed] = answer.embeds
    return embed.get("description", ""), answer


def fields(embed) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def audited(world, what):
    entry = await world.discord.wait_for_message(
        world.audit, lambda m: bool(m.embeds) and m.embeds[0]["title"] == f"Gallery: {what}"
    )
    assert not entry.pinged_users and not entry.pinged_roles
    return entry.embeds[0]


# --- setting it up --------------------------------------------------------------------------------


async def test_the_gallery_must_be_a_forum_or_media_channel_the_bot_can_run(world):
    with_owner(world)
    text = await admin(world, "gallery", channel=world.channel)
    assert "text channel" in text and "forum or media channel" in text

    forum = world.discord.create_channel(world.guild, "gallery", type="forum")
    missing = await admin(world, "gallery", channel=forum)
    assert "Manage Threads" in missing  # the bot has only @everyone's permissions here

    world.discord.set_bot_permissions(world.guild, BOT_PERMISSIONS)
    safe = world.discord.create_channel(world.guild, "not-nsfw", type="media")
    refused = await admin(world, "gallery", nsfw_channel=safe)
    assert "isn't age-restricted" in refused

    answer = await admin(world, "gallery", channel=forum, auto_share=3, weekly=True)
    assert f"**Gallery**: off → <#{forum.id}>" in answer
    assert "**Auto-share**: off → at 3 votes" in answer
    assert "**Top of the week post**: off → on" in answer
    assert "next Monday" in answer
    shown = await world.discord.invoke_slash_command(
        world.owner, world.channel, "imagine-admin", subcommand="show"
    )
    [embed] = (await ephemeral_reply(world, shown)).embeds
    assert fields(embed)["Gallery"] == f"<#{forum.id}>"

    off = await admin(world, "gallery", clear="gallery")
    assert f"**Gallery**: <#{forum.id}> → off" in off


async def test_the_bot_adds_a_few_tags_when_asked(world):
    with_owner(world)
    world.discord.set_bot_permissions(world.guild, BOT_PERMISSIONS)
    forum = world.discord.create_channel(world.guild, "gallery", type="forum")
    answer = await admin(world, "gallery", channel=forum, theme="space", create_tags=True)
    assert "**Gallery theme**: none → `space`" in answer
    names = [t["name"] for t in forum.available_tags]
    assert MODEL_TAG in names and "Qwen Image Edit" in names and "space" in names
    assert len(names) <= 20
    again = await admin(world, "gallery", create_tags=True)
    assert "already has the tags" in again
    assert len(forum.available_tags) == len(names)


async def test_a_theme_longer_than_a_tag_is_refused(world):
    with_owner(world)
    answer = await admin(world, "gallery", theme="a theme far too long to be a tag")
    assert "at most 20 characters" in answer


# --- Share ----------------------------------------------------------------------------------------


async def test_share_posts_the_image_with_credit_and_pings_nobody(world):
    await setup_gallery(world, theme="space")
    set_nick(world, world.alice, "Alice the Artist")
    result = await result_for(world, "a red cube in space", seed=42)

    answer = await share(world, world.alice, result, title="Cube in orbit")
    post, starter = post_of(world)
    assert post.name == "Cube in orbit"
    assert answer.content.endswith(f"/channels/{world.guild.id}/{post.id}")

    # The image is re-uploaded (the same bytes), never a link to Discord's CDN.
    [attachment] = starter.attachments
    assert attachment.data == result.attachments[0].data
    [embed] = starter.embeds
    assert embed["title"] == "Cube in orbit"
    assert embed["description"] == "a red cube in space"
    assert embed["image"]["url"] == f"attachment://{attachment.filename}"
    assert "cdn.discordapp" not in str(starter.embeds) and "/attachments/" not in str(embed)
    info = fields(embed)
    assert info["By"] == "Alice the Artist" and info["Seed"] == "42"
    assert "flux-2-klein-4b" in info["Model"]
    # Credit without a ping: a name, no mention, nothing parsed, a silent post.
    assert "<@" not in str(starter.embeds) + starter.content
    assert not starter.pinged_users and not starter.pinged_roles and not starter.pinged_everyone
    assert starter.allowed_mentions == {"parse": []}
    assert starter.flags & SUPPRESS_NOTIFICATIONS
    assert sorted(world.discord.applied_tag_names(post)) == sorted([MODEL_TAG, "space"])
    [request] = world.discord.requests_to("POST", "/channels/{channel_id}/threads")
    assert request.files and request.status == 201
    assert set(buttons(starter)) == {"0", "Info", "Withdraw", "Hide"}

    # The original now offers Withdraw instead of Share.
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and "Withdraw" in buttons(m)
    )
    audit = await audited(world, "shared")
    assert fields(audit)["Creator"] == f"<@{world.alice.id}>"


async def test_sharing_twice_gives_the_existing_post(world):
    await setup_gallery(world)
    result = await result_for(world, "a blue fox")
    await share(world, world.alice, result)
    post, _ = post_of(world)
    # A second press from the result as it was (Share still on it) is answered with the link.
    second = await press(world, world.alice, result, "Share")
    text = (await reply_text(world, second)).content
    assert "already in the gallery" in text and str(post.id) in text
    assert len(world.discord.posts(world.forum)) == 1


async def test_only_the_creator_or_a_moderator_shares_and_a_moderators_share_credits_the_creator(
    world,
):
    await setup_gallery(world)
    set_nick(world, world.alice, "Alice A.")
    result = await result_for(world, "a green tea cup")
    stranger = await press(world, world.bob, result, "Share")
    assert "Only the person who asked" in (await reply_text(world, stranger)).content
    assert world.discord.posts(world.forum) == []

    await share(world, world.mod, result)
    _, starter = post_of(world)
    assert fields(starter.embeds[0])["By"] == "Alice A."  # looked up: a name, not a mention


async def test_the_prompt_can_stay_private_and_then_is_not_searchable(world):
    await setup_gallery(world)
    result = await result_for(world, "my secret recipe for purple soup")
    await share(world, world.alice, result, title="Soup", show_prompt=False)
    post, starter = post_of(world)
    [embed] = starter.embeds
    assert "description" not in embed and "secret" not in str(embed)

    text, _ = await listed(world, "search", query="secret")
    assert "Soup" not in text
    text, _ = await listed(world, "search", query="soup")
    assert "Soup" not in text  # not even its title: the post is not in the search at all
    top, _ = await listed(world, "top", period="all")
    assert "Soup" in top  # still in the lists

    # Info on the post keeps it private too.
    info = await press(world, world.bob, starter, "Info")
    [details] = (await reply_text(world, info, post)).embeds
    assert "secret" not in str(details) and "private" in details["description"]


async def test_a_remix_is_credited_in_its_post(world):
    await setup_gallery(world)
    set_nick(world, world.alice, "Alice")
    set_nick(world, world.bob, "Bob")
    original = await result_for(world, "a paper crane")
    await share(world, world.alice, original)
    parent_post, _ = post_of(world)

    await press(world, world.bob, original, "Reroll")
    [_, remix] = await delivered(world, 2)
    await share(world, world.bob, remix, title="Crane again")
    _, starter = post_of(world)
    lineage = fields(starter.embeds[0])["Lineage"]
    assert lineage == f"Remix of [an image]({parent_post_url(world, parent_post)}) by Alice"
    assert fields(starter.embeds[0])["By"] == "Bob"


def parent_post_url(world, post):
    return f"https://discord.com/channels/{world.guild.id}/{post.id}"


# --- NSFW -----------------------------------------------------------------------------------------


async def test_nsfw_images_go_only_to_the_age_restricted_gallery_spoilered(world):
    await setup_gallery(world)
    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    result = await result_for(world, "a spicy pepper", channel=late_night)
    answer = await share(world, world.alice, result, channel=late_night)
    assert "Shared to the gallery" in answer.content
    assert world.discord.posts(world.forum) == []  # never the normal gallery
    _, starter = post_of(world, world.nsfw_forum)
    [attachment] = starter.attachments
    assert attachment.filename.startswith("SPOILER_")
    [embed] = starter.embeds
    assert "image" not in embed  # Discord never blurs embed images
    assert embed["description"] == "||a spicy pepper||"

    # Lists in a normal channel leave it out; in an age-restricted one they show it.
    text, _ = await listed(world, "top", period="all")
    assert "spicy" not in text
    text, answer = await listed(world, "top", period="all", channel=late_night)
    assert "a spicy pepper" in text
    assert all(a.filename.startswith("SPOILER_") for a in answer.attachments)


async def test_without_an_nsfw_gallery_share_says_why_and_posts_nothing(world):
    await setup_gallery(world, nsfw=False)
    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    result = await result_for(world, "a spicy pepper", channel=late_night)
    pressed = await press(world, world.alice, result, "Share")
    text = (await reply_text(world, pressed, late_night)).content
    assert "age-restricted gallery" in text and "nsfw_channel" in text
    assert world.discord.posts(world.forum) == []
    assert not world.discord.requests_to("POST", "/channels/{channel_id}/threads")


async def test_a_spoilered_servers_images_are_nsfw_too(world):
    await setup_gallery(world, nsfw=False)
    await admin(world, "spoilers", enabled=True)
    result = await result_for(world, "a surprise")
    pressed = await press(world, world.alice, result, "Share")
    assert "age-restricted gallery" in (await reply_text(world, pressed)).content
    assert world.discord.posts(world.forum) == []

    await admin(world, "gallery", nsfw_channel=world.nsfw_forum)
    await share(world, world.alice, result)
    assert world.discord.posts(world.forum) == []
    _, starter = post_of(world, world.nsfw_forum)
    assert starter.attachments[0].filename.startswith("SPOILER_")


async def test_an_nsfw_image_that_reached_its_requester_by_dm_is_still_nsfw(world):
    await setup_gallery(world, nsfw=False)
    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    world.oxen.hold = True
    await imagine(world, channel=late_night, prompt="a spicy pepper")
    await wait_until(lambda: world.oxen.generations)
    # The channel stops taking the bot's posts: the image goes to the requester by DM.
    world.discord.set_overwrite(late_night, world.discord.bot_user, deny=perms.SEND_MESSAGES)
    world.oxen.hold = False
    await world.oxen.complete(next(iter(world.oxen.generations)))
    dm = world.discord.open_dm(world.alice)
    result = await world.discord.wait_for_message(dm, is_result, timeout=10)
    pressed = await press(world, world.alice, result, "Share")
    text = (await reply_text(world, pressed, dm)).content
    assert "age-restricted gallery" in text  # pressed in a DM, made in an NSFW channel
    assert world.discord.posts(world.forum) == []


# --- withdraw, hide, delete -----------------------------------------------------------------------


async def test_withdraw_from_the_post_removes_it_from_every_list(world):
    await setup_gallery(world)
    result = await result_for(world, "an orange kite")
    await share(world, world.alice, result, title="Kite")
    await vote(world, world.bob, result)
    post, starter = post_of(world)
    for subcommand, options in (("top", {"period": "all"}), ("search", {"query": "kite"}),
                                ("user", {"member": world.alice})):  # fmt: skip
        assert "Kite" in (await listed(world, subcommand, **options))[0]

    stranger = await press(world, world.bob, starter, "Withdraw")
    assert "Only the person who made" in (await reply_text(world, stranger, post)).content
    moderator = await press(world, world.mod, starter, "Withdraw")
    assert "Hide" in (await reply_text(world, moderator, post)).content
    assert not post.deleted

    withdrawn = await press(world, world.alice, starter, "Withdraw")
    assert withdrawn.responses[0]["type"] == 4  # answered before the post goes
    await wait_until(lambda: post.deleted)
    for subcommand, options in (("top", {"period": "all"}), ("search", {"query": "kite"}),
                                ("user", {"member": world.alice})):  # fmt: skip
        assert "Kite" not in (await listed(world, subcommand, **options))[0]
    mine, _ = await listed(world, "mine", user=world.alice)
    assert "Kite" not in mine
    await audited(world, "withdrawn")
    # The original offers Share again.
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and "Share" in buttons(m)
    )


async def test_withdraw_from_the_original_and_deleting_the_original_withdraw_too(world):
    await setup_gallery(world)
    first = await result_for(world, "a first boat")
    await share(world, world.alice, first)
    first_post, _ = post_of(world)
    shown = await world.discord.wait_for_message(
        world.channel, lambda m: m.id == first.id and "Withdraw" in buttons(m)
    )
    await reply_text(world, await press(world, world.alice, shown, "Withdraw"))
    await wait_until(lambda: first_post.deleted)

    second = await result_for(world, "a second boat")
    await share(world, world.alice, second)
    second_post, _ = post_of(world)
    await press(world, world.alice, second, "Delete")
    await wait_until(lambda: second_post.deleted and world.discord.message(second.id).deleted)
    embed = await audited(world, "withdrawn")
    assert embed is not None
    text, _ = await listed(world, "top", period="all")
    assert "boat" not in text


async def test_without_manage_threads_withdraw_and_hide_say_so_and_change_nothing(world):
    await setup_gallery(world)
    result = await result_for(world, "a stubborn mule")
    await share(world, world.alice, result, title="Mule")
    post, starter = post_of(world)
    world.discord.set_bot_permissions(world.guild, perms.DEFAULT_EVERYONE)
    refused = await press(world, world.alice, starter, "Withdraw")
    assert "Manage Threads" in (await reply_text(world, refused, post)).content
    hide = await press(world, world.mod, starter, "Hide")
    assert "Manage Threads" in (await reply_text(world, hide, post)).content
    assert not post.deleted and not post.archived
    assert "Mule" in (await listed(world, "top", period="all"))[0]


async def test_moderators_hide_and_unhide_a_post(world):
    await setup_gallery(world)
    result = await result_for(world, "a loud trumpet")
    await share(world, world.alice, result, title="Trumpet")
    post, starter = post_of(world)

    refused = await press(world, world.alice, starter, "Hide")
    assert "Only moderators" in (await reply_text(world, refused, post)).content
    hidden = await press(world, world.mod, starter, "Hide")
    assert "Hidden" in (await reply_text(world, hidden, post)).content
    await wait_until(lambda: post.archived and post.locked)
    assert "Unhide" in buttons(world.discord.starter_message(post))
    assert "Trumpet" not in (await listed(world, "top", period="all"))[0]
    no_vote = await vote(world, world.bob, result)
    assert "hid" in (await reply_text(world, no_vote)).content
    await audited(world, "hidden")

    shown = await press(world, world.mod, world.discord.starter_message(post), "Unhide")
    assert "Shown again" in (await reply_text(world, shown, post)).content
    assert not post.archived and not post.locked
    assert "Trumpet" in (await listed(world, "top", period="all"))[0]
    await audited(world, "shown again")


async def test_a_post_deleted_in_discord_leaves_the_lists(world):
    await setup_gallery(world)
    result = await result_for(world, "a yellow sun")
    await share(world, world.alice, result, title="Sun")
    post, _ = post_of(world)
    world.discord.delete_channel(post)  # a moderator, in the Discord client

    async def gone():
        return "Sun" not in (await listed(world, "top", period="all"))[0]

    await wait_until(gone, timeout=10, interval=0.2)


# --- votes ----------------------------------------------------------------------------------------


async def test_a_vote_counts_once_can_be_taken_back_and_never_the_creators(world):
    await setup_gallery(world)
    result = await result_for(world, "a purple hat")
    own = await vote(world, world.alice, result)
    assert "your own image" in (await reply_text(world, own)).content

    voted = await vote(world, world.bob, result)
    assert "Voted" in (await reply_text(world, voted)).content
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and vote_button(m)[0] == "1", timeout=5
    )
    back = await vote(world, world.bob, world.discord.message(result.id))
    assert "taken back" in (await reply_text(world, back)).content
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and vote_button(m)[0] == "0", timeout=5
    )


async def test_votes_on_the_post_and_the_original_are_one_count_shown_on_both(world):
    await setup_gallery(world)
    result = await result_for(world, "a white whale")
    await share(world, world.alice, result)
    post, starter = post_of(world)
    await vote(world, world.bob, starter)  # on the gallery post
    await vote(world, world.mod, world.discord.message(result.id))  # on the original
    await wait_until(lambda: vote_button(world.discord.starter_message(post))[0] == "2")
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "2")


async def test_two_members_voting_at_the_same_moment_both_count(world):
    await setup_gallery(world)
    result = await result_for(world, "a twin star")
    _, custom_id = vote_button(result)
    both = await asyncio.gather(
        world.discord.click_button(world.bob, result, custom_id),
        world.discord.click_button(world.mod, result, custom_id),
    )
    for interaction in both:
        await interaction.wait_acknowledged(timeout=3)
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and vote_button(m)[0] == "2", timeout=5
    )


async def test_labels_follow_a_crowd_within_5_s_and_at_most_every_2_s(world):
    await setup_gallery(world)
    result = await result_for(world, "a famous painting")
    crowd = []
    for n in range(8):
        member = world.discord.create_user(f"fan{n}")
        world.discord.add_member(world.guild, member)
        crowd.append(member)
    loop = asyncio.get_running_loop()
    edits_before = len(world.discord.message(result.id).history)
    for member in crowd:
        await vote(world, member, world.discord.message(result.id))
    last_press = loop.time()
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == result.id and vote_button(m)[0] == "8", timeout=5
    )
    assert loop.time() - last_press < 5
    edits = [h["time"] for h in world.discord.message(result.id).history[edits_before:]
             if "components" in h["payload"]]  # fmt: skip
    assert 1 <= len(edits) < len(crowd)  # coalesced
    gaps = [b - a for a, b in itertools.pairwise(edits)]
    assert all(gap >= 1.9 for gap in gaps), gaps


async def test_votes_survive_a_restart(world):
    await setup_gallery(world)
    result = await result_for(world, "a patient snail")
    await vote(world, world.bob, result)
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "1")

    await restart(world)
    await vote(world, world.mod, world.discord.message(result.id))
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "2")
    back = await vote(world, world.bob, world.discord.message(result.id))  # remembered
    assert "taken back" in (await reply_text(world, back)).content
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "1")


# --- auto-share and consent -----------------------------------------------------------------------


async def test_auto_share_without_consent_never_posts(world):
    await setup_gallery(world, auto_share=2)
    result = await result_for(world, "a private sketch")
    await vote(world, world.bob, result)
    await vote(world, world.mod, world.discord.message(result.id))
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "2")
    carol = world.discord.create_user("carol")
    world.discord.add_member(world.guild, carol)
    await vote(world, carol, world.discord.message(result.id))
    await wait_until(lambda: vote_button(world.discord.message(result.id))[0] == "3")
    assert world.discord.posts(world.forum) == []
    assert not world.discord.requests_to("POST", "/channels/{channel_id}/threads")


async def test_auto_share_with_consent_posts_at_the_count(world):
    await setup_gallery(world, auto_share=2)
    prefs = await slash(world, world.alice, "gallery", "prefs", auto_share=True)
    assert "**Auto-share my images**: off → on" in prefs.content
    result = await result_for(world, "a public mural")
    await vote(world, world.bob, result)
    assert world.discord.posts(world.forum) == []
    await vote(world, world.mod, world.discord.message(result.id))
    await wait_until(lambda: world.discord.posts(world.forum), timeout=10)
    post, starter = post_of(world)
    assert post.name == "a public mural"
    assert fields(starter.embeds[0])["By"] == "alice"
    embed = await audited(world, "auto-shared at 2 votes, as its creator allowed")
    assert fields(embed)["By"] == f"<@{world.alice.id}>"
    await wait_until(lambda: vote_button(world.discord.starter_message(post))[0] == "2")


# --- lineage --------------------------------------------------------------------------------------


async def test_reroll_vary_and_edit_record_their_parent_and_info_shows_the_chain(world):
    await setup_gallery(world)
    original = await result_for(world, "a castle")
    await press(world, world.bob, original, "Reroll")
    [_, reroll] = await delivered(world, 2)
    vary = await press(world, world.mod, reroll, "Vary")
    await fill_modal(world, world.mod, vary, "a castle at night")
    [*_, varied] = await delivered(world, 3)
    edit = await press(world, world.alice, varied, "Edit")
    await fill_modal(world, world.alice, edit, "add snow")
    [*_, edited] = await delivered(world, 4)
    assert newest_generation(world)["prompt"] == "add snow"

    info = await press(world, world.bob, edited, "Info")
    [embed] = (await reply_text(world, info)).embeds
    chain = fields(embed)["Lineage"].splitlines()
    assert len(chain) == 3
    assert f"/{varied.id}) by <@{world.mod.id}>" in chain[0]
    assert f"/{reroll.id}) by <@{world.bob.id}>" in chain[1]
    assert f"/{original.id}) by <@{world.alice.id}>" in chain[2]

    first = await press(world, world.bob, original, "Info")
    assert fields((await reply_text(world, first)).embeds[0])["Remixed"] == "once by others"
    await share(world, world.alice, original)
    answer = await slash(world, world.alice, "gallery", "mine")
    # Bob's reroll of her castle; her own edit of the moderator's image counts for him.
    assert "Others remixed your images once" in answer.embeds[0]["footer"]["text"]
    assert "a castle" in answer.embeds[0]["description"]
    theirs = await slash(world, world.mod, "gallery", "mine")
    assert "Others remixed your images once" in theirs.embeds[0]["footer"]["text"]


# --- browsing -------------------------------------------------------------------------------------


async def test_top_search_user_and_mine(world):
    await setup_gallery(world)
    set_nick(world, world.bob, "Bobby")
    red = await result_for(world, "a red cube")
    blue = await result_for(world, "a blue sphere", user=world.bob)
    green = await result_for(world, "a green pyramid")
    for result, who, title in ((red, world.alice, "Red cube"), (blue, world.bob, "Blue sphere"),
                               (green, world.alice, "Green pyramid")):  # fmt: skip
        await share(world, who, result, title=title)
    await vote(world, world.bob, red)
    await vote(world, world.mod, red)
    await vote(world, world.mod, green)

    top, answer = await listed(world, "top", period="week")
    lines = top.splitlines()
    assert [line.split("](")[0].split("[")[1] for line in lines] == [
        "Red cube", "Green pyramid", "Blue sphere",
    ]  # fmt: skip
    assert lines[0].endswith("· ⭐ 2") and "by alice" in lines[0]
    assert "by Bobby" in lines[2]
    assert f"https://discord.com/channels/{world.guild.id}/" in lines[0]
    assert answer.ephemeral and not answer.pinged_users
    assert answer.attachments and answer.attachments[0].filename == "gallery.png"  # the grid
    assert answer.embeds[0]["image"]["url"] == "attachment://gallery.png"

    search, _ = await listed(world, "search", query="sph")
    assert "Blue sphere" in search and "Red cube" not in search
    nothing, _ = await listed(world, "search", query="octopus")
    assert "No shared image matches" in nothing
    bobs, _ = await listed(world, "user", member=world.bob)
    assert "Blue sphere" in bobs and "Red cube" not in bobs
    mine, _ = await listed(world, "mine", user=world.alice)
    assert "Red cube" in mine and "Green pyramid" in mine and "Blue sphere" not in mine


async def test_top_of_the_day_leaves_out_older_shares(world):
    await setup_gallery(world)
    result = await result_for(world, "an old photo")
    await share(world, world.alice, result, title="Old photo")
    world.discord.clock.advance(2 * 24 * 3600)  # the gallery's clock is the local Discord's
    day, _ = await listed(world, "top", period="day")
    assert "Old photo" not in day and "Nothing here yet" in day
    week, _ = await listed(world, "top", period="week")
    assert "Old photo" in week


# --- the weekly post ------------------------------------------------------------------------------


async def move_share_to(world, generation_id, when):
    """As if the image had been shared at ``when`` (the store's clock is the real one). In a
    thread: the bot on this loop must be able to finish its transaction while this waits."""
    database = world.bot.settings.database_path

    def write() -> None:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            db.execute(
                "UPDATE shares SET shared_at = ? WHERE generation_id = ?", (when, generation_id)
            )

    await asyncio.to_thread(write)


async def test_the_top_of_the_week_is_posted_and_pinned_every_monday(world):
    await restart(world, weekly_check_interval=0.05)
    await setup_gallery(world, weekly=True)
    set_nick(world, world.alice, "Alice @everyone")
    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    best = await result_for(world, "the best cat")
    await share(world, world.alice, best, title="Best cat")
    await vote(world, world.bob, best)
    spicy = await result_for(world, "a spicy cat", channel=late_night)
    await share(world, world.alice, spicy, title="Spicy cat", channel=late_night)
    for fan in (world.bob, world.mod):
        await vote(world, fan, spicy)

    now = world.discord.clock.now()
    first_monday = monday_of(now) + WEEK
    world.discord.clock.advance(first_monday + 30 - now)
    weekly = await wait_until(
        lambda: [p for p in world.discord.posts(world.forum) if p.name.startswith("⭐ Top")]
    )
    [first] = weekly
    starter = world.discord.starter_message(first)
    [embed] = starter.embeds
    assert "Best cat" in embed["description"] and "Spicy cat" not in embed["description"]
    assert "by Alice @\u200beveryone" in embed["description"]  # a name, made harmless
    assert not starter.pinged_users and not starter.pinged_everyone
    assert starter.allowed_mentions == {"parse": []} and starter.flags & SUPPRESS_NOTIFICATIONS
    assert starter.attachments[0].filename == "gallery.png"  # the week's grid
    await wait_until(lambda: first.pinned)
    assert world.discord.posts(world.nsfw_forum)[-1].name == "Spicy cat"  # no weekly there

    # The next Monday: a new post pinned, last week's unpinned.
    newer = await result_for(world, "a newer dog")
    await share(world, world.alice, newer, title="Newer dog")
    gid = newest_generation(world)["generation_id"]
    await move_share_to(world, gid, first_monday + 3600)
    world.discord.clock.advance(WEEK)
    await wait_until(
        lambda: len([p for p in world.discord.posts(world.forum) if p.name.startswith("⭐")]) == 2
    )
    second = [p for p in world.discord.posts(world.forum) if p.name.startswith("⭐")][-1]
    assert "Newer dog" in world.discord.starter_message(second).embeds[0]["description"]
    await wait_until(lambda: second.pinned and not first.pinned)
