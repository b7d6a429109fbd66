"""VoteLabels: however many press, an image's ⭐ labels are edited at most once per gap, and soon
after the last press."""

from __future__ import annotations

import asyncio
import itertools

from bot.discord_app.gallery import VoteLabels
from tests.waiting import wait_until

GAP = 0.2


class Edits:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    async def refresh(self, generation_id: str) -> None:
        self.times.setdefault(generation_id, []).append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.01)  # an edit takes a moment


async def test_a_burst_of_presses_is_one_edit_then_one_more_after_the_gap():
    edits = Edits()
    labels = VoteLabels(edits.refresh, min_gap=GAP)
    loop = asyncio.get_running_loop()
    first_press = loop.time()
    for _ in range(30):
        labels.changed("g")
        await asyncio.sleep(0.005)
    last_press = loop.time()
    await labels.close()
    times = edits.times["g"]
    # The first press at once, the other 29 coalesced: one edit per gap at most.
    assert 2 <= len(times) <= (last_press - first_press) / GAP + 2
    assert all(b - a >= GAP - 0.01 for a, b in itertools.pairwise(times))
    assert times[-1] >= last_press - 0.01  # the last press is shown
    assert times[-1] - last_press <= GAP + 0.1


async def test_images_have_their_own_pace():
    edits = Edits()
    labels = VoteLabels(edits.refresh, min_gap=GAP)
    labels.changed("a")
    labels.changed("b")
    await wait_until(lambda: len(edits.times) == 2, timeout=2)
    await labels.close()
    assert abs(edits.times["a"][0] - edits.times["b"][0]) < GAP / 2


async def test_a_press_after_a_quiet_spell_is_shown_at_once():
    edits = Edits()
    labels = VoteLabels(edits.refresh, min_gap=GAP)
    labels.changed("g")
    await labels.close()
    await asyncio.sleep(GAP * 1.5)
    pressed = asyncio.get_running_loop().time()
    labels.changed("g")
    await labels.close()
    assert edits.times["g"][-1] - pressed < GAP / 2


async def test_a_failing_edit_does_not_stop_later_ones():
    calls = []

    async def refresh(generation_id: str) -> None:
        calls.append(generation_id)
        if len(calls) == 1:
            raise RuntimeError("Discord said no")

    labels = VoteLabels(refresh, min_gap=0.01)
    labels.changed("g")
    await labels.close()
    labels.changed("g")
    await labels.close()
    assert calls == ["g", "g"]
