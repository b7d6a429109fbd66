"""The web gallery end to end, with the real bot: `/imagine-admin gallery web:` (on, off, new-link,
alone or with the other options, and without PUBLIC_BASE_URL), and the copies the Discord flow
keeps (made on Share, never for an NSFW image, deleted on Withdraw, kept but not served while
hidden), read over the bot's own web server."""

from __future__ import annotations

import re

import aiohttp

from tests.e2e.test_experience import press
from tests.e2e.test_fair_use import admin
from tests.e2e.test_gallery import post_of, reply_text, result_for, setup_gallery, share
from tests.e2e.test_moderation_and_capacity import restart
from tests.waiting import wait_until

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/gallery/[A-Za-z0-9_-]{43})")


async def with_public_address(world):
    """The bot restarted knowing the address its web server is reached at."""
    port = world.bot.settings.http_port
    await restart(world, public_base_url=f"http://127.0.0.1:{port}")


async def turn_on(world, **options):
    answer = await admin(world, "gallery", web="on", **options)
    found = LINK.search(answer)
    assert found, answer
    return found.group(1), answer


async def get(url):
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


def copies(world, generation_id=None):
    folder = world.bot.settings.gallery_files
    names = sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    return [n for n in names if generation_id is None or n.startswith(generation_id)]


def generation_of(result):
    [attachment] = result.attachments
    return attachment.filename.rsplit(".", 1)[0].removeprefix("SPOILER_")


async def test_web_on_answers_the_admin_alone_with_a_link_new_link_kills_it_off_ends_it(world):
    await with_public_address(world)
    await setup_gallery(world)
    link, answer = await turn_on(world)
    assert "**Web gallery**: off → on" in answer and "Anyone with this link" in answer
    assert "Nothing changed" not in answer  # given alone: no other setting was touched
    assert (await get(link))[0] == 200

    again = await admin(world, "gallery", web="on")
    assert link in again and "already on" in again

    renewed = await admin(world, "gallery", web="new-link")
    [new_link] = LINK.findall(renewed)
    assert new_link != link and "old link no longer works" in renewed
    assert (await get(link))[0] == 404
    assert (await get(new_link))[0] == 200

    off = await admin(world, "gallery", web="off")
    assert "on → off" in off
    assert (await get(new_link))[0] == 404


async def test_web_with_other_options_changes_both(world):
    await with_public_address(world)
    await setup_gallery(world)
    answer = await admin(world, "gallery", weekly=True, web="on")
    assert "**Top of the week post**: off → on" in answer
    assert "**Web gallery**: off → on" in answer and LINK.search(answer)


async def test_without_public_base_url_the_command_says_what_to_set(world):
    await setup_gallery(world)
    answer = await admin(world, "gallery", web="on")
    assert "PUBLIC_BASE_URL" in answer and "/gallery/" not in answer
    assert "off → on" not in answer


async def test_the_answer_with_the_link_is_private(world):
    await with_public_address(world)
    await setup_gallery(world)
    interaction = await world.discord.invoke_slash_command(
        world.owner, world.channel, "imagine-admin", options={"web": "on"}, subcommand="gallery"
    )
    answer = await reply_text(world, interaction)
    assert answer.ephemeral and LINK.search(answer.content)
    public = [m for m in world.discord.messages(world.channel) if not m.ephemeral]
    assert not any("/gallery/" in (m.content or "") for m in public)


async def test_share_keeps_copies_withdraw_deletes_them_hide_stops_serving_them(world):
    await with_public_address(world)
    await setup_gallery(world)
    link, _ = await turn_on(world)
    kite = await result_for(world, "an orange kite")
    await share(world, world.alice, kite, title="Kite")
    gid = generation_of(kite)
    assert copies(world, gid) == [f"{gid}.full.png", f"{gid}.thumb.webp"]
    status, html = await get(link)
    assert status == 200 and b"Kite" in html
    status, data = await get(f"{link}/files/{gid}/full.png")
    assert status == 200 and data == kite.attachments[0].data  # the very image, our own copy

    post, starter = post_of(world)
    hidden = await press(world, world.mod, starter, "Hide")
    assert "Hidden" in (await reply_text(world, hidden, post)).content
    assert b"Kite" not in (await get(link))[1]
    assert (await get(f"{link}/files/{gid}/thumb.webp"))[0] == 404
    assert copies(world, gid)  # kept for Unhide
    shown = await press(world, world.mod, world.discord.starter_message(post), "Unhide")
    assert "Shown again" in (await reply_text(world, shown, post)).content
    assert (await get(f"{link}/files/{gid}/thumb.webp"))[0] == 200

    withdrawn = await press(world, world.alice, world.discord.starter_message(post), "Withdraw")
    assert withdrawn.responses[0]["type"] == 4
    await wait_until(lambda: post.deleted)
    assert copies(world, gid) == []  # deleted at once
    assert b"Kite" not in (await get(link))[1]
    assert (await get(f"{link}/files/{gid}/full.png"))[0] == 404


async def test_an_nsfw_image_gets_no_copies_and_never_appears(world):
    await with_public_address(world)
    await setup_gallery(world)
    link, _ = await turn_on(world)
    late_night = world.discord.create_channel(world.guild, "late-night", nsfw=True)
    spicy = await result_for(world, "a spicy pepper", channel=late_night)
    answer = await share(world, world.alice, spicy, channel=late_night)
    assert "Shared to the gallery" in answer.content
    gid = generation_of(spicy)
    assert copies(world, gid) == []
    assert b"spicy" not in (await get(link))[1]
    assert (await get(f"{link}/image/{gid}"))[0] == 404


async def test_deleting_the_post_in_discord_deletes_the_copies(world):
    await with_public_address(world)
    await setup_gallery(world)
    result = await result_for(world, "a yellow sun")
    await share(world, world.alice, result, title="Sun")
    gid = generation_of(result)
    assert copies(world, gid)
    post, _ = post_of(world)
    world.discord.delete_channel(post)
    await wait_until(lambda: not copies(world, gid), timeout=10)
