"""Whose turn it is in the waiting line (bot.core.turns.plan), on snapshots built by hand."""

from __future__ import annotations

from bot.core.turns import plan
from bot.core.types import LineSnapshot, Order, Waiting


def waiting(line_id, requester, guild=1, count=1, limit=4):
    order = Order(guild, 10, requester, f"p{line_id}", "m", {}, count)
    return Waiting(line_id, order, None, float(line_id), owner_limit=limit)


def snapshot(*line, in_flight=None, guild_last=None, owner_last=None):
    return LineSnapshot(
        waiting=list(line),
        in_flight=in_flight or {},
        guild_last_sent=guild_last or {},
        owner_last_sent=owner_last or {},
    )


def order_of(places):
    return [p.waiting.id for p in places if not p.waits_for_own]


def test_people_take_turns_within_a_server():
    line = [waiting(i, requester=1) for i in range(1, 5)] + [waiting(5, requester=2)]
    places = plan(snapshot(*line, owner_last={(1, 1): 100.0}))
    assert order_of(places)[:2] == [5, 1]  # never served goes first, then turns alternate


def test_servers_take_turns_before_people():
    line = [waiting(i, requester=i, guild=1) for i in range(1, 4)] + [waiting(4, 9, guild=2)]
    places = plan(snapshot(*line, guild_last={1: 50.0}))
    assert order_of(places)[0] == 4  # the quiet server's request first
    assert order_of(places)[1:] == [1, 2, 3]


def test_least_recently_served_person_goes_first():
    line = [waiting(1, requester=1), waiting(2, requester=2)]
    places = plan(snapshot(*line, owner_last={(1, 1): 200.0, (1, 2): 100.0}))
    assert order_of(places) == [2, 1]


def test_a_person_at_their_limit_waits_for_their_own():
    line = [waiting(1, requester=1, limit=2), waiting(2, requester=2, limit=2)]
    places = plan(snapshot(*line, in_flight={(1, 1): 2}))
    assert order_of(places) == [2]
    gated = next(p for p in places if p.waiting.id == 1)
    assert (gated.line_place, gated.own_place, gated.own_total) == (None, 1, 1)
    assert gated.owner_in_flight == 2


def test_a_persons_requests_keep_their_order_and_fill_up_to_the_limit():
    line = [waiting(i, requester=1, limit=2) for i in range(1, 4)]
    places = plan(snapshot(*line))
    assert order_of(places) == [1, 2]  # two fit their limit; the third waits for one of them
    third = next(p for p in places if p.waiting.id == 3)
    assert (third.line_place, third.own_place, third.owner_in_flight) == (None, 3, 0)


def test_a_request_larger_than_the_limit_is_in_turn_when_nothing_of_theirs_is_at_oxen():
    places = plan(snapshot(waiting(1, requester=1, count=4, limit=2)))
    assert order_of(places) == [1]


def test_images_being_sent_count_against_the_limit():
    line = [waiting(1, requester=1, limit=2, count=2)]
    assert order_of(plan(snapshot(*line), sending={(1, 1): 1})) == []


def test_exempt_owners_have_no_limit():
    line = [waiting(i, requester=1, limit=0) for i in range(1, 4)]
    assert order_of(plan(snapshot(*line, in_flight={(1, 1): 50}))) == [1, 2, 3]
