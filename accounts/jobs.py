"""Exchange work a web request asks for, done by a worker.

The web process serves HTTP on WEB_THREADS request threads (4). A request that called
the exchange itself held one of them for as long as the exchange took - up to
EXCHANGE_TIMEOUT_MS - and four slow calls from one user stalled every other user's API
for seconds. So no request calls the exchange: it starts a job - a task on the ``sync``
queue (accounts.* and positions.* in CELERY_TASK_ROUTES), never ``orders``, so a slow
exchange delays no order either - and answers at once, saying where the outcome will
show.

A job has a name saying what it does to what (``connection-test:<account id>``,
``candles:<venue>:<symbol>:<timeframe>:<limit>``). Asking again while it is queued or
running joins it instead of queueing another. Each user has at most
EXCHANGE_JOBS_PER_USER jobs queued or running at once; past that the request is refused
(``TooManyJobs``, 429), so one user's burst cannot fill the sync workers' queue either.
Both are cache entries (Redis) taken with an atomic add and given back when the task
ends; their lifetime (JOB_SECONDS) frees those of a task whose worker died.

A task that has a result for the asker leaves it, under the job's name, for
RESULT_SECONDS (``job_status``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from common.exceptions import ApplicationError, ServiceUnavailable

logger = logging.getLogger(__name__)

# Longer than a task may run (CELERY_TASK_TIME_LIMIT, 120 s) plus a wait in the queue.
JOB_SECONDS = 300
RESULT_SECONDS = 3600


class TooManyJobs(ApplicationError):
    """The user has EXCHANGE_JOBS_PER_USER jobs queued or running already."""

    status_code = 429
    code = "throttled"
    retry_after = 2  # seconds: about what one job takes on a healthy exchange


@dataclass(frozen=True)
class Job:
    name: str
    id: str
    requested_at: datetime
    queued: bool  # False: joined the same job, already queued or running


@dataclass(frozen=True)
class JobStatus:
    status: str  # "running" (queued or running) or "done"
    requested_at: datetime | None
    finished_at: datetime | None
    result: Any


def _record_key(name: str) -> str:
    return f"exchange-job:{name}"


def _result_key(name: str) -> str:
    return f"exchange-job-result:{name}"


def _slot_key(user_id: int, n: int) -> str:
    return f"exchange-jobs:user:{user_id}:{n}"


def _claim_slot(user_id: int, job_id: str) -> str:
    limit = settings.EXCHANGE_JOBS_PER_USER
    for n in range(limit):
        key = _slot_key(user_id, n)
        if cache.add(key, job_id, timeout=JOB_SECONDS):
            return key
    raise TooManyJobs(
        f"You have {limit} requests to the exchange queued or running; wait for one to "
        f"finish (seconds) and try again.",
        extra={"retry_after": TooManyJobs.retry_after},
    )


def _release_slot(slot: str, job_id: str) -> None:
    if slot and cache.get(slot) == job_id:
        cache.delete(slot)


def _publish(task, args: tuple) -> None:
    # A job still queued after JOB_SECONDS is dropped unrun: its name and slot are gone,
    # and nobody waits for its answer any more. (Tests hold jobs here: conftest.py.)
    task.apply_async(args=args, expires=JOB_SECONDS)


def job_start(*, name: str, task, args: tuple = (), user_id: int | None = None) -> Job:
    """Queue ``task(*args, job_id)`` as the job ``name``, or join it if it is queued or
    running. ``user_id``: the user it counts against (None: nobody's - work shared by
    every user, bounded by its name alone).

    Raises TooManyJobs when the user has no job left, ServiceUnavailable when the broker
    does not take the task. Never calls the exchange; a few cache round trips.
    """
    for _ in range(2):
        current = cache.get(_record_key(name))
        if current is not None:
            return Job(name, current["id"], current["requested_at"], queued=False)
        job_id = uuid.uuid4().hex
        slot = _claim_slot(user_id, job_id) if user_id is not None else ""
        record = {"id": job_id, "requested_at": timezone.now(), "slot": slot}
        if cache.add(_record_key(name), record, timeout=JOB_SECONDS):
            break
        _release_slot(slot, job_id)  # another request queued it just now: join that one
    else:
        raise ServiceUnavailable("Could not queue the request for a worker; try again.")
    try:
        _publish(task, (*args, job_id))
    except Exception as exc:
        cache.delete(_record_key(name))
        _release_slot(slot, job_id)
        raise ServiceUnavailable(
            "Could not queue the request for a worker; try again shortly."
        ) from exc
    logger.info("job %s queued (%s)", name, job_id)
    return Job(name, job_id, record["requested_at"], queued=True)


def job_finish(*, name: str, job_id: str, result: Any = None, keep: bool = False) -> None:
    """The task of job ``name`` is over: leave ``result`` for ``job_status`` when
    ``keep``, then free the name and the user's slot. Runs in the worker, also when the
    task failed (call it from a ``finally``). ``job_id`` "": the same work done outside a
    job, whose result is left all the same. A job forgotten meanwhile (``job_forget``)
    leaves nothing."""
    record = cache.get(_record_key(name))
    mine = record is not None and record["id"] == job_id
    if keep and (mine or not job_id):
        # Written before the record goes, so that a reader never sees neither.
        cache.set(
            _result_key(name),
            {
                "requested_at": record["requested_at"] if mine else None,
                "finished_at": timezone.now(),
                "result": result,
            },
            timeout=RESULT_SECONDS,
        )
    if mine:
        cache.delete(_record_key(name))
        _release_slot(record["slot"], job_id)


def job_status(name: str) -> JobStatus | None:
    """The job ``name``: running (queued or running), done with its result, or None
    when none was asked for within RESULT_SECONDS."""
    found = cache.get_many([_record_key(name), _result_key(name)])
    if (record := found.get(_record_key(name))) is not None:
        return JobStatus("running", record["requested_at"], None, None)
    if (done := found.get(_result_key(name))) is not None:
        return JobStatus("done", done["requested_at"], done["finished_at"], done["result"])
    return None


def job_forget(name: str) -> None:
    """Forget job ``name`` - the one queued or running and the result left - because it
    no longer describes its subject: the next request starts it afresh."""
    record = cache.get(_record_key(name))
    cache.delete_many([_record_key(name), _result_key(name)])
    if record is not None:
        _release_slot(record["slot"], record["id"])
