"""Issue 13: a person's extra requests wait their turn instead of being refused; at the bot's cap
servers and people take turns; the status message tells the truth. On the local Discord."""

from __future__ import annotations

from dataclasses import replace

from tests.e2e.conftest import RunningBot
from tests.e2e.test_experience import delivered, ephemeral_reply, press
from tests.e2e.test_fair_use import admin, refusal, with_owner
from tests.e2e.test_imagine import imagine, queued
from tests.waiting import wait_until


async def status_saying(world, interaction, text, timeout=10.0):
    return await world.discord.wait_for_message(
        world.channel,
        lambda m: m.interaction_id == interaction.id and text in m.content,
        timeout=timeout,
    )


async def ask(world, prompt, user=None, channel=None):
    """/imagine as a person types it: the next one after the bot has answered this one."""
    interaction = await imagine(world, user=user, channel=channel, prompt=prompt)
    await world.discord.wait_for_message(
        channel or world.channel, lambda m: m.interaction_id == interaction.id and m.content
    )  # its status message, not the "thinking…" placeholder
    return interaction


def prompts_at_oxen(world):
    return [g["prompt"] for g in world.oxen.generations.values()]


async def restart(world, **settings):
    await world.bot.stop()
    world.bot = RunningBot(replace(world.bot.settings, **settings))
    await world.bot.start(world.discord)


# --- per person: queue, don't refuse ------------------------------------------------------------


async def test_a_new_install_runs_count_4(world):
    await queued(world, await imagine(world, prompt="four foxes", count=4), count=4)
    assert len(await delivered(world, 4)) == 4


async def test_a_persons_5th_and_6th_requests_wait_and_then_run_without_asking_again(world):
    world.oxen.hold = True
    for n in range(1, 5):
        await queued(world, await imagine(world, prompt=f"fox {n}"), count=n)
    fifth = await ask(world, "fox 5")
    await status_saying(world, fifth, "you have 4 images being made here")
    await status_saying(world, fifth, "#1 of your 1 waiting")
    sixth = await ask(world, "fox 6")
    await status_saying(world, sixth, "#2 of your 2 waiting")
    await status_saying(world, fifth, "#1 of your 2 waiting")
    assert len(world.oxen.generations) == 4  # nothing past the limit went to Oxen

    first, second = list(world.oxen.generations)[:2]
    await world.oxen.complete(first)  # one of hers finishes: her 5th starts
    await wait_until(lambda: "fox 5" in prompts_at_oxen(world))
    await status_saying(world, fifth, "Queued")
    await status_saying(world, sixth, "#1 of your 1 waiting")
    await world.oxen.complete(second)
    await wait_until(lambda: "fox 6" in prompts_at_oxen(world))
    world.oxen.hold = False
    for gid in list(world.oxen.generations)[2:]:
        await world.oxen.complete(gid)
    assert len(await delivered(world, 6, timeout=15)) == 6


async def test_a_request_larger_than_a_lower_limit_runs_alone(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=2)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="three at once", count=3), count=3)


async def test_the_waiting_cap_refuses_with_how_many_wait(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1, per_user_waiting=2)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="at oxen"))
    await status_saying(world, await imagine(world, prompt="waits", count=2), "of your 1 waiting")
    text = await refusal(world, prompt="one too many")
    assert "2 images waiting their turn" in text and "will all run" in text
    assert "try again" not in text.lower()
    assert len(world.oxen.generations) == 1


async def test_a_request_larger_than_the_waiting_cap_waits_alone(world):
    """As a request larger than the at-once limit runs alone: with nothing of hers waiting,
    never "you already have 0 waiting"."""
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1, per_user_waiting=2)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="at oxen"))
    await status_saying(world, await imagine(world, prompt="three", count=3), "of your 1 waiting")
    assert len(world.oxen.generations) == 1


async def test_a_waiting_cap_of_0_says_that_nothing_may_wait(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1, per_user_waiting=0)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="at oxen"))
    text = await refusal(world, prompt="would wait")
    assert "lets no request wait its turn" in text and "1 image being made" in text, text
    assert "0 images" not in text
    assert len(world.oxen.generations) == 1


async def test_a_waiting_request_can_be_cancelled_and_is_listed_in_jobs(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="at oxen"))
    waiting = await imagine(world, prompt="changed my mind")
    status = await status_saying(world, waiting, "starts when one of yours finishes")

    jobs = await world.discord.invoke_slash_command(world.alice, world.channel, "jobs")
    listing = await ephemeral_reply(world, jobs)
    assert "changed my mind" in listing.content and "waiting for one of yours" in listing.content

    answer = await press(world, world.alice, status, "Cancel")
    assert "Cancelled" in (await ephemeral_reply(world, answer)).content
    await world.discord.wait_for_message(
        world.channel, lambda m: m.id == status.id and "cancelled by" in m.content
    )
    await world.oxen.complete(next(iter(world.oxen.generations)))
    await delivered(world)
    assert prompts_at_oxen(world) == ["at oxen"]


async def test_a_restart_keeps_a_persons_line(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="at oxen"))
    waiting = await imagine(world, prompt="patient")
    await status_saying(world, waiting, "starts when one of yours finishes")
    await restart(world)
    await world.oxen.complete(next(iter(world.oxen.generations)))
    await wait_until(lambda: "patient" in prompts_at_oxen(world), timeout=10)
    await status_saying(world, waiting, "Queued")


async def test_quotas_still_refuse_and_waiting_images_count_towards_them(world):
    with_owner(world)
    await admin(world, "limits", per_user_at_once=1, per_user_daily=3)
    world.oxen.hold = True
    await queued(world, await imagine(world, prompt="one"))
    await status_saying(world, await imagine(world, prompt="two", count=2), "waiting")
    text = await refusal(world, prompt="four")
    assert "daily limit of 3 images" in text and "0 left" in text


# --- at capacity: fair shares -------------------------------------------------------------------


async def test_at_the_cap_one_request_goes_before_a_heavy_users_tenth(world):
    await restart(world, max_generations_in_flight=2)
    world.oxen.hold = True
    heavy = [await ask(world, f"a{n}") for n in range(10)]
    await status_saying(world, heavy[2], "#1 in line")  # alice has room for two more...
    await status_saying(world, heavy[9], "when one of yours finishes")  # ...then her own limit
    once = await ask(world, "bob once", user=world.bob)
    await status_saying(world, once, "#1 in line")
    assert len(world.oxen.generations) == 2
    for _ in range(3):  # the next three to start
        running = [g for g, row in world.oxen.generations.items() if row["status"] != "succeeded"]
        before = len(world.oxen.generations)
        await world.oxen.complete(running[0])
        await wait_until(lambda before=before: len(world.oxen.generations) > before, timeout=10)
    assert "bob once" in prompts_at_oxen(world)[2:5]


async def test_at_the_cap_servers_take_turns(world):
    other = world.discord.create_guild("Other Guild")
    elsewhere = world.discord.create_channel(other, "general")
    carol = world.discord.create_user("carol")
    world.discord.add_member(other, carol)
    await restart(world, max_generations_in_flight=2, guild_ids=(world.guild.id, other.id))
    world.oxen.hold = True
    for n in range(6):
        await ask(world, f"busy {n}", user=world.alice if n % 2 else world.bob)
    assert len(world.oxen.generations) == 2
    await ask(world, "quiet server", user=carol, channel=elsewhere)
    await world.oxen.complete(next(iter(world.oxen.generations)))
    await wait_until(lambda: len(world.oxen.generations) == 3, timeout=10)
    assert prompts_at_oxen(world)[2] == "quiet server"


# --- a status message that tells the truth --------------------------------------------------------


async def test_being_made_shows_while_events_flow_and_places_move_up_at_once(world):
    world.oxen.hold = True
    await world.oxen.wait_for_subscribers(1)  # completion events flow
    first = await imagine(world, prompt="first")
    await queued(world, first)
    second = await imagine(world, user=world.bob, prompt="second")
    await status_saying(world, second, "#2 in this server's queue")
    gid_first, gid_second = list(world.oxen.generations)
    world.oxen.set_processing(gid_first)
    await status_saying(world, first, "Making", timeout=6)  # without waiting for a slow tick
    await world.oxen.complete(gid_first)  # a completion event: the one ahead has left
    await status_saying(world, second, "#1 in this server's queue", timeout=6)
    world.oxen.set_processing(gid_second)
    await status_saying(world, second, "Making", timeout=6)
