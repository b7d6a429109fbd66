"""The per-channel outbox on its own: its picture of a bucket, the follow-up budget, messages of
several images, and a channel's worker (results alone when it can, together when saturated;
status edits merged, the final one kept, intermediate ones dropped) against a stub channel."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.core.limits import DISCORD_EMBEDS_TOTAL_CHARS
from bot.core.types import Job, JobStatus
from bot.discord_app.buttons import Buttons
from bot.discord_app.combined import combined_message, image_label
from bot.discord_app.interaction_routes import InteractionRoutes
from bot.discord_app.outbox import CREATE, EDIT, Bucket, Outbox, SlidingWindow
from bot.discord_app.posts import Edit, EditOutcome, Outgoing, Post
from tests.waiting import wait_until

CHANNEL = 42


def job(gid: str, requester: int = 7, prompt: str = "a lantern", **changes) -> Job:
    base = Job(
        generation_id=gid, guild_id=1, channel_id=CHANNEL, requester_id=requester,
        status_message_id=None, prompt=prompt, model="m", params={"seed": 1}, batch_index=0,
        batch_size=1, status=JobStatus.DELIVERING, outcome="succeeded", result_url="u",
        error=None, attempts=0, result_message_id=None, created_at=1000.0, updated_at=1003.0,
        finished_at=None, upload_limit=None, request_id=gid, started_at=1001.0,
    )  # fmt: skip
    return replace(base, **changes)


def image(gid: str) -> Outgoing:
    return Outgoing(f"<@7> {gid}", image=b"png-bytes", filename=f"{gid}.png")


async def nothing(*_: object) -> None:
    return None


# --- the picture of a bucket ---------------------------------------------------------------------


def test_a_fresh_bucket_is_ready_and_a_spent_one_waits_for_its_reset():
    bucket = Bucket(limit=5, per=5.0)
    assert bucket.ready_at(100.0, busy=False) == 100.0
    for _ in range(5):
        bucket.took(100.0)
    assert bucket.left(100.0) == 0
    assert 105.0 < bucket.ready_at(101.0, busy=False) < 105.2  # the reset, and a margin
    assert bucket.left(105.0) == 5  # the window rolled


def test_discords_headers_correct_the_picture():
    bucket = Bucket()  # assumed 5 per 5 s
    bucket.took(10.0)
    bucket.learn(10.0, limit=50, remaining=49, reset_after=1.0)  # the window's first answer
    assert (bucket.limit, bucket.per, bucket.left(10.0)) == (50, 1.0, 49)
    bucket.limited(10.5, 2.0)  # a 429 anyway: nothing until its Retry-After
    assert bucket.ready_at(10.6, busy=False) >= 12.5


def test_a_busy_bucket_spreads_its_window_instead_of_spending_it_at_once():
    bucket = Bucket(limit=5, per=5.0)
    bucket.took(0.0)  # the window opens: 4 left until 5.0
    assert bucket.ready_at(0.1, busy=False) == 0.1  # a quiet channel: at once
    assert bucket.ready_at(0.1, busy=True) == 1.0  # a busy one: one per second
    bucket.took(1.0)
    assert bucket.ready_at(1.1, busy=True) == 2.0


def test_the_follow_up_budget_is_a_sliding_window():
    window = SlidingWindow(limit=2, per=10.0)
    assert window.free_at(0.0) == 0.0
    window.took(0.0)
    window.took(1.0)
    assert window.free_at(2.0) == 10.0
    assert window.free_at(10.5) == 10.5
    window.limited(10.5, 5.0)  # a shared 429 on a follow-up
    assert window.free_at(11.0) == 15.5


# --- messages of several images ------------------------------------------------------------------


async def test_ten_images_with_long_prompts_fit_one_message():
    buttons = Buttons(on_press=nothing)
    loop = asyncio.get_running_loop()
    posts = [
        Post(
            job(f"gen-{n}", requester=100 + n % 3, prompt="*wide* " + "x" * 1490),
            image(f"gen-{n}"),
            None,
            loop.create_future(),
        )
        for n in range(10)
    ]
    combined = combined_message(posts, buttons)
    assert len(combined.embeds) == len(combined.files) == 10
    assert sum(len(e) for e in combined.embeds) <= DISCORD_EMBEDS_TOTAL_CHARS
    for number, (embed, post) in enumerate(zip(combined.embeds, posts, strict=True), 1):
        gid = post.job.generation_id
        assert embed.title is not None and embed.title.startswith(f"{number}. ")
        assert embed.footer.text == f"Generation {gid}"
        assert embed.image.url == f"attachment://{gid}.png"
    assert [f.filename for f in combined.files] == [f"gen-{n}.png" for n in range(10)]
    # The content mentions each requester once; only they may be pinged.
    assert combined.content.split(" your images")[0].split() == ["<@100>", "<@101>", "<@102>"]
    assert combined.mentions.everyone is False and combined.mentions.roles is False
    assert combined.mentions.users is not True and combined.mentions.users is not False
    assert sorted(u.id for u in combined.mentions.users) == [100, 101, 102]
    assert combined.view is not None
    rows = combined.view.to_components()
    assert len(rows) == 2  # ten buttons, five a row
    buttons_ = [c for row in rows for c in row["components"]]
    assert [b["custom_id"] for b in buttons_] == [f"ib:actions:gen-{n}" for n in range(10)]
    assert [b["label"] for b in buttons_] == [image_label(n) for n in range(1, 11)]


async def test_spoilered_images_stay_out_of_their_embeds():
    buttons = Buttons(on_press=nothing)
    loop = asyncio.get_running_loop()
    posts = [
        Post(
            job(gid),
            Outgoing("<@7>", image=b"x", filename=f"SPOILER_{gid}.png", spoiler=True),
            None,
            loop.create_future(),
        )
        for gid in ("a", "b")
    ]
    combined = combined_message(posts, buttons)
    assert all(not e.image.url for e in combined.embeds)
    assert all((e.description or "").startswith("||") for e in combined.embeds)


# --- a channel's worker against a stub channel ---------------------------------------------------


class StubMessage:
    def __init__(self, message_id: int) -> None:
        self.id = message_id


class StubChannel:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.edits: list[tuple[int, dict]] = []
        self._next = 1000

    async def send(self, **kwargs) -> StubMessage:
        self.sent.append(kwargs)
        self._next += 1
        return StubMessage(self._next)

    def get_partial_message(self, message_id: int) -> StubPartial:
        return StubPartial(self, message_id)


class StubPartial:
    def __init__(self, channel: StubChannel, message_id: int) -> None:
        self._channel, self._id = channel, message_id

    async def edit(self, **fields) -> None:
        self._channel.edits.append((self._id, fields))


class StubClient:
    def __init__(self) -> None:
        self.channel = StubChannel()

    def get_partial_messageable(self, channel_id: int, guild_id: int | None = None):
        return self.channel


def outbox(client: StubClient, **options) -> Outbox:
    return Outbox(client, InteractionRoutes(), Buttons(on_press=nothing), **options)  # type: ignore[arg-type]


async def test_a_quiet_channel_posts_each_result_alone():
    client = StubClient()
    box = outbox(client)
    ids = await asyncio.gather(*(box.post(job(g), image(g), reply_to=None) for g in "abc"))
    assert len(set(ids)) == 3
    assert [len(s.get("files", [s.get("file")])) for s in client.channel.sent] == [1, 1, 1]
    assert all("embeds" not in s and "file" in s for s in client.channel.sent)
    await box.close()


async def test_results_waiting_for_a_saturated_channel_go_together():
    client = StubClient()
    box = outbox(client)
    box.bucket(CHANNEL, CREATE).limited(asyncio.get_running_loop().time(), 0.2)
    posts = [box.post(job(g, requester=n), image(g), reply_to=None) for n, g in enumerate("abcd")]
    ids = await asyncio.gather(*posts)
    assert len(set(ids)) == 1  # one message for the four
    [sent] = client.channel.sent
    assert len(sent["files"]) == len(sent["embeds"]) == 4
    assert sent["nonce"] and sent["content"].count("<@") == 4
    assert box.layout(ids[0]) is True
    await box.close()


async def test_a_saturated_channel_merges_and_drops_intermediate_edits_but_never_the_final():
    client = StubClient()
    box = outbox(client, edit_max_wait=0.1)
    box.bucket(CHANNEL, EDIT).limited(asyncio.get_running_loop().time(), 0.4)
    outcomes: dict[str, EditOutcome] = {}

    def edit(name: str, message_id: int, content: str, *, final: bool = False) -> None:
        queued = Edit(CHANNEL, 1, message_id, {"content": content}, final=final)
        queued.done.append(lambda outcome: outcomes.__setitem__(name, outcome))
        box.edit(queued)

    edit("a1", 1, "queued")
    edit("a2", 1, "making")  # replaces a1 (merged)
    edit("b", 2, "queued")
    edit("c", 3, "finished", final=True)
    await wait_until(lambda: len(outcomes) == 4, timeout=3)
    assert outcomes == {
        "a1": EditOutcome.DROPPED,
        "a2": EditOutcome.DROPPED,
        "b": EditOutcome.DROPPED,
        "c": EditOutcome.SENT,
    }
    assert client.channel.edits == [(3, {"content": "finished"})]
    await box.close()


async def test_edits_of_one_message_coalesce_into_the_newest():
    client = StubClient()
    box = outbox(client)
    box.bucket(CHANNEL, EDIT).limited(asyncio.get_running_loop().time(), 0.1)
    done: list[EditOutcome] = []
    for content in ("one", "two", "three"):
        queued = Edit(CHANNEL, 1, 5, {"content": content, "view": None})
        queued.done.append(done.append)
        box.edit(queued)
    await wait_until(lambda: len(done) == 3, timeout=3)
    assert client.channel.edits == [(5, {"content": "three", "view": None})]
    assert done == [EditOutcome.SENT] * 3
    await box.close()


async def test_an_idle_channel_worker_stops():
    client = StubClient()
    box = outbox(client, idle_after=0.05)
    await box.post(job("a"), image("a"), reply_to=None)
    await wait_until(lambda: box.lanes == 0, timeout=2)
    await box.post(job("b"), image("b"), reply_to=None)  # a new one starts
    await box.close()
    assert box.lanes == 0
