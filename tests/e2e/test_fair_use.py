"""Issue 7: per-server limits, moderation and /imagine-admin, on the local Discord."""

from __future__ import annotations

from tests.e2e.conftest import RunningBot
from tests.e2e.test_experience import ephemeral_reply
from tests.e2e.test_imagine import imagine, queued

MANAGE_GUILD = 1 << 5


async def admin(world, subcommand, **options):
    """Run /imagine-admin as the server owner (admin) and return the private answer's text."""
    interaction = await world.discord.invoke_slash_command(
        world.owner, world.channel, "imagine-admin", options=options, subcommand=subcommand
    )
    return (await ephemeral_reply(world, interaction)).content


async def refusal(world, user=None, **options):
    interaction = await imagine(world, user=user, **options)
    return (await ephemeral_reply(world, interaction)).content


def with_owner(world):
    owners = world.discord.create_role(world.guild, "admins", permissions=MANAGE_GUILD)
    world.owner = world.discord.create_user("owner")
    world.discord.add_member(world.guild, world.owner, roles=[owners])
    return world


async def test_admin_command_is_for_manage_server_only(world):
    commands = {c["name"]: c for c in world.discord.registered_commands(world.guild)}
    assert int(commands["imagine-admin"]["default_member_permissions"]) == MANAGE_GUILD
    subcommands = {o["name"] for o in commands["imagine-admin"]["options"]}
    assert {
        "show", "limits", "exempt-role", "banned", "channels", "default-model", "spoilers",
        "upload-edits", "audit-channel",
    } <= subcommands  # fmt: skip


async def test_per_user_limit_at_once_with_exempt_roles(world):
    with_owner(world)
    world.oxen.hold = True
    answer = await admin(world, "limits", per_user_at_once=1)
    assert "Images at once per user**: 4 → 1" in answer

    await queued(world, await imagine(world, prompt="first"))
    second = await imagine(world, prompt="second")  # waits its turn instead of being refused
    await world.discord.wait_for_message(
        world.channel,
        lambda m: m.interaction_id == second.id and "when one of yours finishes" in m.content,
    )
    assert len(world.oxen.generations) == 1  # nothing sent for the waiting one yet

    vips = world.discord.create_role(world.guild, "vip")
    world.discord.add_member(world.guild, world.alice, roles=[vips])
    await admin(world, "exempt-role", action="add", role=vips)
    interaction = await imagine(world, prompt="second, as a vip")
    await world.discord.wait_for_message(
        world.channel, lambda m: m.interaction_id == interaction.id and "Queued" in m.content
    )


async def test_daily_quota_counts_images_and_survives_a_restart(world):
    with_owner(world)
    await admin(world, "limits", per_user_daily=3, per_user_at_once=10)
    await queued(world, await imagine(world, prompt="two birds", count=2), count=2)
    text = await refusal(world, prompt="two more", count=2)
    assert "daily limit of 3 images" in text and "1 left" in text and "<t:" in text

    await world.bot.stop()
    world.bot = RunningBot(world.bot.settings)
    await world.bot.start(world.discord)
    assert "daily limit of 3 images" in await refusal(world, prompt="after restart", count=2)
    assert len(world.oxen.generations) == 2


async def test_cooldown_and_server_budget(world):
    with_owner(world)
    await admin(world, "limits", cooldown_seconds=600, per_user_at_once=4)
    await queued(world, await imagine(world, prompt="one"))
    text = await refusal(world, prompt="too soon")
    assert "600 s cooldown" in text and "<t:" in text

    await admin(world, "limits", server_daily=2)
    text = await refusal(world, user=world.bob, prompt="bob", count=2)
    assert "server's daily limit of 2 images" in text


async def test_banned_words_and_patterns_are_refused_without_naming_them(world):
    with_owner(world)
    await admin(world, "banned", action="add", kind="word", value="dragon")
    await admin(world, "banned", action="add", kind="regex", value=r"gr[ae]y\s*goo")
    for prompt, negative in [
        ("a DRAGON over a lake", None),
        ("a \uff24\uff52\uff41\uff47\uff4f\uff4e", None),  # fullwidth letters
        ("a lake", "no dragon please"),  # the negative prompt is checked too
        ("grey   goo everywhere", None),
    ]:
        options = {"prompt": prompt} | ({"negative_prompt": negative} if negative else {})
        text = await refusal(world, **options)
        assert "blocked" in text and "dragon" not in text.lower() and "goo" not in text
    assert not world.oxen.generations

    bad = await admin(world, "banned", action="add", kind="regex", value="([a-z")
    assert "isn't a valid regular expression" in bad
    show = await world.discord.invoke_slash_command(
        world.owner, world.channel, "imagine-admin", subcommand="show"
    )
    [embed] = (await ephemeral_reply(world, show)).embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Banned words"] == "1" and fields["Banned patterns"] == "1"


async def test_channel_allow_list_and_default_model(world):
    with_owner(world)
    art = world.discord.create_channel(world.guild, "art")
    answer = await admin(world, "channels", action="allow", channel=art)
    assert "Channels**: all → " in answer
    text = await refusal(world, prompt="here")
    assert f"<#{art.id}>" in text and not world.oxen.generations

    await admin(world, "channels", action="clear")
    answer = await admin(world, "default-model", model="flux-1-dev")
    assert "flux-1-dev" in answer
    await queued(world, await imagine(world, prompt="now anywhere"))
    [generation] = world.oxen.generations.values()
    assert generation["model_name"] == "flux-1-dev"
    assert "isn't an Oxen image model" in await admin(world, "default-model", model="nope")
