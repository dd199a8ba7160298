"""A worker thread whose errors are raised in its caller.

The copy (``background.BackgroundSink``) and the content digest
(``hashing.BackgroundDigest``) each run on a second core beside the walk
of the output.  Both need the same few promises, kept here once: jobs are
done in the order they are handed over, at most a few queued ahead; what
the worker meets is raised in the caller at its next call, never lost in
the thread; and once stopped or failed, the worker drops what is left and
can be waited for at once, so it never touches a file its caller has
closed.
"""

from __future__ import annotations

from collections.abc import Callable
import queue
import threading
from typing import Generic
from typing import TypeVar

Job = TypeVar('Job')


class Worker(Generic[Job]):
    """A daemon thread calling ``do`` on each job put, in order, with at
    most ``ahead`` jobs queued.
    """

    def __init__(self, do: Callable[[Job], None], name: str, ahead: int):
        self._do = do
        self._queue: queue.Queue[Job | None] = queue.Queue(ahead)
        self._error: BaseException | None = None  # to raise, once
        self._failed = False
        self._stopped = False
        self._thread = threading.Thread(target=self._work, daemon=True,
                                        name=name)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing is queued: the worker is busy with its last job, or
        waiting for one.
        """
        return self._queue.empty()

    @property
    def going(self) -> bool:
        """Neither stopped nor failed: a job made of many parts checks this
        between them, and gives up early when it turns False.
        """
        return not (self._stopped or self._failed)

    def put(self, job: Job) -> None:
        """Queue ``job``, waiting while ``ahead`` are queued; first raise
        what the worker met.
        """
        self._raise_error()
        self._queue.put(job)

    def finish(self) -> None:
        """Wait for every job, then raise what the worker met."""
        self._end()
        self._raise_error()

    def stop(self) -> None:
        """Drop what is queued and wait for the worker, dropping what it met
        too: the caller is already leaving on an error of its own.
        """
        self._stopped = True
        self._end()

    def _end(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not self.going:
                continue  # drained: the caller raises, or gave up
            try:
                self._do(job)
            except BaseException as error:  # raised in the caller
                self._error = error
                self._failed = True
