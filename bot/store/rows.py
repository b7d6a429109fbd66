"""How a row of each table becomes a core value and back, for both stores.

The SQLite and Postgres schemas keep the same columns in the same order, so one reading of a
row (by position: aiosqlite rows and asyncpg records both iterate their values) serves both;
only the SQL around it differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.core.types import Job, JobStatus, NewJob, Order, Share, Waiting, WebShare

JOB_COLUMNS = (
    "generation_id, guild_id, channel_id, requester_id, status_message_id, prompt, model, params, "
    "batch_index, batch_size, status, outcome, result_url, error, attempts, result_message_id, "
    "created_at, updated_at, finished_at, upload_limit, request_id, started_at, parent_id, "
    "lease_owner, lease_expires_at"
)
# What `new_job_values` fills, in its order.
NEW_JOB_COLUMNS = (
    "generation_id, guild_id, channel_id, requester_id, status_message_id, prompt, model, "
    "params, batch_index, batch_size, status, created_at, updated_at, upload_limit, request_id, "
    "parent_id"
)
WAITING_COLUMNS = (
    "id, guild_id, channel_id, requester_id, prompt, model, params, count, upload_limit, "
    "status_message_id, created_at, owner_limit, parent_id"
)
WAITING_WIDTH = len(WAITING_COLUMNS.split(","))
# A share's columns, but for its vote count (a subquery in one list, a counter in the other).
SHARE_COLUMNS = (
    "s.generation_id, s.guild_id, s.gallery_channel_id, s.post_id, s.creator_id, "
    "s.creator_name, s.shared_by_id, s.title, s.prompt, s.model, s.nsfw, s.auto, s.hidden, "
    "s.shared_at"
)
WEB_SHARE_COLUMNS = f"{SHARE_COLUMNS}, s.vote_count, s.web_image"

# An aiosqlite row or an asyncpg record: read by position.
Row = Iterable[Any]


def new_job_values(job: NewJob, now: float) -> tuple[Any, ...]:
    return (
        job.generation_id, job.guild_id, job.channel_id, job.requester_id,
        job.status_message_id, job.prompt, job.model, json.dumps(job.params, sort_keys=True),
        job.batch_index, job.batch_size, JobStatus.PENDING.value, now, now, job.upload_limit,
        job.request_id or job.generation_id, job.parent_id,
    )  # fmt: skip


def job_from_row(row: Row) -> Job:
    (gid, guild, channel, requester, status_msg, prompt, model, params, b_index, b_size, status,
     outcome, result_url, error, attempts, result_msg, created, updated, finished,
     upload_limit, request_id, started_at, parent_id, lease_owner, lease_expires_at,
     ) = tuple(row)  # fmt: skip
    return Job(
        generation_id=gid,
        guild_id=guild,
        channel_id=channel,
        requester_id=requester,
        status_message_id=status_msg,
        prompt=prompt,
        model=model,
        params=json.loads(params),
        batch_index=b_index,
        batch_size=b_size,
        status=JobStatus(status),
        outcome=outcome,
        result_url=result_url,
        error=error,
        attempts=attempts,
        result_message_id=result_msg,
        created_at=created,
        updated_at=updated,
        finished_at=finished,
        upload_limit=upload_limit,
        request_id=request_id or gid,  # rows from before requests had ids
        started_at=started_at,
        parent_id=parent_id,
        lease_owner=lease_owner,
        lease_expires_at=lease_expires_at,
    )


def order_values(order: Order) -> tuple[Any, ...]:
    """The waiting row's columns from guild_id to upload_limit, and then parent_id."""
    return (
        order.guild_id, order.channel_id, order.requester_id, order.prompt, order.model,
        json.dumps(order.params, sort_keys=True), order.count, order.upload_limit,
        order.parent_id,
    )  # fmt: skip


def waiting_from_row(row: Row) -> Waiting:
    (wid, guild, channel, requester, prompt, model, params, count, upload_limit, status_msg,
     created, owner_limit, parent_id) = tuple(row)[:WAITING_WIDTH]  # fmt: skip
    order = Order(
        guild_id=guild,
        channel_id=channel,
        requester_id=requester,
        prompt=prompt,
        model=model,
        params=json.loads(params),
        count=count,
        upload_limit=upload_limit,
        parent_id=parent_id,
    )
    return Waiting(
        wid, order, status_message_id=status_msg, created_at=created, owner_limit=owner_limit
    )


def share_from_row(row: Row) -> Share:
    """A row of SHARE_COLUMNS followed by the share's vote count."""
    (gid, guild, channel, post, creator, name, by, title, prompt, model, nsfw, auto, hidden,
     shared_at, votes) = tuple(row)[:15]  # fmt: skip
    return Share(
        generation_id=gid,
        guild_id=guild,
        gallery_channel_id=channel,
        post_id=post,
        creator_id=creator,
        creator_name=name,
        shared_by_id=by,
        title=title,
        prompt=prompt,
        model=model,
        nsfw=bool(nsfw),
        auto=bool(auto),
        hidden=bool(hidden),
        shared_at=shared_at,
        votes=int(votes),
    )


def web_share_from_row(row: Row) -> WebShare:
    """A row of WEB_SHARE_COLUMNS."""
    values = tuple(row)
    return WebShare(share_from_row(values), str(values[15]))
