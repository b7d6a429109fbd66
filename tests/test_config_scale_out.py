"""The settings for running several processes: SHARD_COUNT, SHARD_IDS and LEASE_SECONDS."""

import pytest

from bot.config import ConfigError, load_settings
from bot.core.shards import Shards

VALID = {"DISCORD_TOKEN": "discord-secret-token", "OXEN_API_KEY": "oxen-secret-key"}


def test_unsharded_with_a_30_s_lease_by_default():
    settings = load_settings(VALID)
    assert settings.shards == Shards() and not settings.shards.sharded
    assert settings.shards.serves(123) and settings.shards.serves(None)
    assert settings.lease_seconds == 30.0


def test_shard_count_alone_runs_every_shard_here():
    settings = load_settings({**VALID, "SHARD_COUNT": "3"})
    assert settings.shards == Shards(3, None)
    assert settings.shards.running == (0, 1, 2) and settings.shards.runs_first


@pytest.mark.parametrize(
    ("ids", "running"), [("0,1", (0, 1)), ("0-3", (0, 1, 2, 3)), ("5, 1-2", (1, 2, 5))]
)
def test_shard_ids_as_lists_and_ranges(ids, running):
    settings = load_settings({**VALID, "SHARD_COUNT": "6", "SHARD_IDS": ids})
    assert settings.shards.running == running


def test_a_process_serves_the_guilds_of_its_shards_and_dms_only_with_shard_0():
    shards = Shards(3, (1, 2))
    guild_on = {n: next(g << 22 for g in range(1, 10) if g % 3 == n) for n in range(3)}
    assert not shards.serves(guild_on[0]) and shards.serves(guild_on[1])
    assert shards.serves(guild_on[2]) and not shards.serves(None) and not shards.runs_first


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0,0-1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3-1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "a"}, "SHARD_IDS"),
        ({"LEASE_SECONDS": "0.5"}, "LEASE_SECONDS"),
        ({"LEASE_SECONDS": "-3"}, "LEASE_SECONDS"),
    ],
)
def test_malformed_scale_out_settings_name_the_variable_and_the_fix(env, variable):
    with pytest.raises(ConfigError) as raised:
        load_settings({**VALID, **env})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable) and ": " in str(raised.value)
