"""What the watcher knows is open: the pass's read is the truth, changes during it are kept."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from bot.core.open_jobs import OpenJobs
from bot.core.types import Job, JobStatus


def job(generation_id: str, *, created_at: float = 1000.0, **changes) -> Job:
    base = Job(
        generation_id=generation_id, guild_id=1, channel_id=2, requester_id=3,
        status_message_id=None, prompt="p", model="m", params={}, batch_index=0, batch_size=1,
        status=JobStatus.PENDING, outcome=None, result_url=None, error=None, attempts=0,
        result_message_id=None, created_at=created_at, updated_at=created_at, finished_at=None,
        upload_limit=None, request_id=generation_id, started_at=None,
    )  # fmt: skip
    return replace(base, **changes)


def tracker(now: list[float]) -> OpenJobs:
    return OpenJobs(clock=lambda: now[0], monotonic=lambda: now[0])


def read(jobs: OpenJobs, rows: list[Job]) -> None:
    jobs.read_done(jobs.read_started(), rows)


def test_states_and_the_oldest_pending_come_from_the_read():
    now = [1100.0]
    jobs = tracker(now)
    read(
        jobs,
        [
            job("a", created_at=1000.0),
            job("b", created_at=1050.0, started_at=1060.0),
            job("c", created_at=900.0, status=JobStatus.DELIVERING, outcome="succeeded"),
        ],
    )
    assert jobs.by_state() == {"queued": 1, "processing": 1, "delivering": 1}
    assert jobs.oldest_pending_age() == 100.0  # "c" is done at Oxen: not pending
    read(jobs, [])
    assert jobs.by_state() == {"queued": 0, "processing": 0, "delivering": 0}
    assert jobs.oldest_pending_age() == 0.0


def test_between_reads_the_watcher_keeps_it_current():
    now = [1000.0]
    jobs = tracker(now)
    jobs.added(["a", "b"])
    assert jobs.by_state()["queued"] == 2
    jobs.started("a")
    now[0] = 1010.0
    jobs.outcome_known("b")
    assert jobs.by_state() == {"queued": 0, "processing": 1, "delivering": 1}
    now[0] = 1012.5
    assert jobs.closed("b") == 1010.0  # when its outcome was learnt: the delivery's start
    assert jobs.closed("a") is None  # never learnt here
    assert len(jobs) == 0


def test_changes_during_a_read_win_over_the_read():
    now = [1000.0]
    jobs = tracker(now)
    read(jobs, [job("old")])
    token = jobs.read_started()
    jobs.closed("old")  # delivered while the store was being read
    jobs.added(["new"])  # stored after the read's query ran
    jobs.read_done(token, [job("old")])
    assert jobs.by_state()["queued"] == 1
    assert jobs.oldest_pending_age() == 0.0  # "new" was just added; "old" is gone


def test_a_failed_read_changes_nothing():
    jobs = tracker([1000.0])
    jobs.added(["a"])
    token = jobs.read_started()
    jobs.read_failed(token)
    assert jobs.by_state()["queued"] == 1


def test_a_job_resumed_after_a_restart_has_no_delivery_start():
    jobs = tracker([1000.0])
    read(jobs, [job("a", status=JobStatus.DELIVERING, outcome="failed")])
    assert jobs.closed("a") is None


def test_the_counts_kept_along_the_way_match_a_recount():
    rng = random.Random(7)
    now = [1000.0]
    jobs = tracker(now)
    ids = [f"g{i}" for i in range(30)]
    token = None
    for _ in range(2000):
        now[0] += 1
        op = rng.choice(["add", "start", "outcome", "close", "read"])
        gid = rng.choice(ids)
        if op == "add":
            jobs.added([gid])
        elif op == "start":
            jobs.started(gid)
        elif op == "outcome":
            jobs.outcome_known(gid)
        elif op == "close":
            jobs.closed(gid)
        elif token is None:
            token = jobs.read_started()
        else:
            rows = [job(g, created_at=now[0]) for g in rng.sample(ids, 5)]
            jobs.read_done(token, rows)
            token = None
        recount = Counter(entry.state for entry in jobs._jobs.values())
        assert jobs.by_state() == {
            s: recount.get(s, 0) for s in ("queued", "processing", "delivering")
        }
