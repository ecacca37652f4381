"""Bounded, prioritised, cancellable generation queue served by worker threads.

Requests for the same key share one job. A job is started only when a worker takes it; jobs whose
waiters have all gone (the browser cancelled the request) before that are dropped without running,
and a running job whose waiters have all gone is asked to stop (its ``should_stop`` callable
returns True; long jobs poll it between steps). Lower priority values run first; ties run in order
of arrival.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The queue holds ``max_queue`` waiting jobs already; try again later."""


class SchedulerClosed(RuntimeError):
    """The scheduler has been shut down."""


_PENDING, _RUNNING, _DONE, _CANCELLED = "pending", "running", "done", "cancelled"


@dataclass(eq=False)
class Job:
    """One unit of work: ``fn(should_stop)`` run once on a worker; its result goes to ``future``.

    ``cost()``, when given, tells how much work (level 0 tile renders for the explorer) the job
    still has to do; it is asked when the job is queued and, while the job runs, whenever
    :meth:`Scheduler.work_left` is.
    """

    key: Hashable
    fn: Callable[[Callable[[], bool]], Any]
    cost: Callable[[], int] | None = None
    future: Future = field(default_factory=Future)
    stop: threading.Event = field(default_factory=threading.Event)
    waiters: int = 1
    state: str = _PENDING
    queued_cost: int = 0


@dataclass
class SchedulerStats:
    """Counters since start."""

    submitted: int = 0
    coalesced: int = 0  # requests that joined an existing job
    completed: int = 0
    failed: int = 0
    cancelled: int = 0  # jobs dropped before running because nobody waited any more
    stopped: int = 0  # running jobs that stopped early because nobody waited any more
    rejected: int = 0  # requests refused because the queue was full


class Scheduler:
    """Runs jobs on ``workers`` threads in priority order with at most ``max_queue`` waiting.

    Args:
        workers: number of worker threads (one per device is the intended use).
        max_queue: most jobs waiting to start; further submissions raise :class:`QueueFull`.
        name: thread name prefix.
    """

    def __init__(
        self,
        workers: int = 1,
        max_queue: int = 256,
        *,
        name: str = "infinitygan-gen",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.max_queue = max_queue
        self.stats = SchedulerStats()
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._jobs: dict[Hashable, Job] = {}  # pending or running
        self._pending = 0
        self._running = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # ----------------------------------------------------------------------------------------
    def submit(
        self,
        key: Hashable,
        fn: Callable[[Callable[[], bool]], Any],
        priority: float = 0.0,
        cost: Callable[[], int] | None = None,
    ) -> Job:
        """Queue ``fn`` under ``key``, or join the pending or running job of the same key.

        ``fn`` is called with one argument, ``should_stop() -> bool``. ``cost()`` tells how much
        work the job has left (see :class:`Job`; called here, outside the lock, for a new job).

        Every successful call must be paired with :meth:`release` when the caller stops waiting
        before the job's future is done.

        Raises:
            QueueFull: when ``max_queue`` jobs are already waiting.
            SchedulerClosed: after :meth:`close`.
        """
        with self._cv:
            joining = key in self._jobs and not self._jobs[key].stop.is_set()
        queued_cost = cost() if cost is not None and not joining else 0
        with self._cv:
            if self._closed:
                raise SchedulerClosed("the generation queue is shut down")
            self.stats.submitted += 1
            job = self._jobs.get(key)
            if job is not None and not job.stop.is_set():
                job.waiters += 1
                self.stats.coalesced += 1
                if job.state == _PENDING:  # a closer request may raise the job's priority
                    heapq.heappush(self._heap, (priority, next(self._seq), job))
                return job
            if self._pending >= self.max_queue:
                self.stats.rejected += 1
                raise QueueFull(f"{self._pending} tiles are waiting already")
            job = Job(key=key, fn=fn, cost=cost, queued_cost=queued_cost)
            self._jobs[key] = job
            self._pending += 1
            heapq.heappush(self._heap, (priority, next(self._seq), job))
            self._cv.notify()
            return job

    def release(self, job: Job) -> None:
        """One waiter of ``job`` stopped waiting; a pending job nobody waits for is dropped and
        a running one is asked to stop."""
        with self._cv:
            job.waiters -= 1
            if job.waiters <= 0 and job.state == _RUNNING:
                job.stop.set()
            if job.waiters <= 0 and job.state == _PENDING:
                job.state = _CANCELLED
                self._pending -= 1
                self._jobs.pop(job.key, None)
                self.stats.cancelled += 1
                job.future.cancel()
                if len(self._heap) > 2 * self._pending + 64:
                    self._heap = [e for e in self._heap if e[2].state == _PENDING]
                    heapq.heapify(self._heap)

    @property
    def pending(self) -> int:
        """Jobs waiting to start."""
        with self._cv:
            return self._pending

    @property
    def running(self) -> int:
        """Jobs being run now."""
        with self._cv:
            return self._running

    def work_left(self) -> int:
        """Work still to do: the cost of every waiting job when it was queued plus the current
        cost of every running job."""
        with self._cv:
            jobs = list(self._jobs.values())
        total = 0
        for job in jobs:
            if job.state == _PENDING:
                total += job.queued_cost
            elif job.state == _RUNNING and job.cost is not None:
                total += job.cost()
        return total

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop taking jobs, cancel the waiting ones and join the workers."""
        with self._cv:
            self._closed = True
            for _, _, job in self._heap:
                if job.state == _PENDING:
                    job.state = _CANCELLED
                    job.future.cancel()
            self._heap.clear()
            self._pending = 0
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout)

    # ----------------------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._cv:
            while True:
                if self._closed:
                    return None
                while self._heap:
                    _, _, job = heapq.heappop(self._heap)
                    if job.state == _PENDING:
                        job.state = _RUNNING
                        self._pending -= 1
                        self._running += 1
                        return job
                self._cv.wait()

    def _work(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                result = job.fn(job.stop.is_set)
            except BaseException as err:  # delivered to the waiters, never kills the worker
                with self._cv:
                    if job.stop.is_set():
                        self.stats.stopped += 1
                    else:
                        self.stats.failed += 1
                        logger.exception("generation job %r failed", job.key)
                self._finish(job)
                job.future.set_exception(err)
                continue
            with self._cv:
                self.stats.completed += 1
            self._finish(job)
            job.future.set_result(result)

    def _finish(self, job: Job) -> None:
        with self._cv:
            job.state = _DONE
            self._running -= 1
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]
