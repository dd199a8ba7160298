"""The worker thread's promises: order, errors in the caller, a clean stop.

``BackgroundSink`` and ``BackgroundDigest`` rest on them; these tests hold
them on real threads, apart from any file.
"""

from __future__ import annotations

import threading
import time
import unittest

from diskimage_vhd.make.worker import Worker

NAME = 'worker under test'


def _alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate()
            if thread.name == NAME]


class TestWorker(unittest.TestCase):

    def test_jobs_are_done_in_order(self) -> None:
        done: list[int] = []
        worker: Worker[int] = Worker(done.append, NAME, 2)
        for job in range(500):
            worker.put(job)
        worker.finish()
        self.assertEqual(list(range(500)), done)
        self.assertEqual([], _alive())

    def test_an_error_is_raised_in_the_caller_once(self) -> None:
        done: list[int] = []

        def do(job: int) -> None:
            if job == 3:
                raise ValueError('job 3 failed')
            done.append(job)

        worker: Worker[int] = Worker(do, NAME, 2)
        with self.assertRaisesRegex(ValueError, 'job 3 failed'):
            for job in range(50):
                worker.put(job)
            worker.finish()
        # Failed, the worker did nothing more, and stays failed.
        self.assertFalse(worker.going)
        worker.finish()  # raised once: nothing left to raise
        self.assertEqual([0, 1, 2], done)
        self.assertEqual([], _alive())

    def test_stop_drops_what_is_queued(self) -> None:
        started, gate = threading.Event(), threading.Event()
        done: list[int] = []

        def do(job: int) -> None:
            if job == 0:
                started.set()
                gate.wait()
            done.append(job)

        worker: Worker[int] = Worker(do, NAME, 4)
        for job in range(4):
            worker.put(job)
        started.wait()
        self.assertTrue(worker.going)
        stopping = threading.Thread(target=worker.stop)
        stopping.start()
        while worker.going:  # until stop() has said so
            time.sleep(0.001)
        gate.set()  # job 0 ends; 1-3 are dropped
        stopping.join()
        self.assertEqual([0], done)
        self.assertEqual([], _alive())

    def test_idle_until_a_job_waits(self) -> None:
        gate = threading.Event()
        worker: Worker[int] = Worker(lambda job: gate.wait(), NAME, 4)
        self.assertTrue(worker.idle)
        worker.put(0)
        worker.put(1)  # behind job 0, which waits on the gate
        self.assertFalse(worker.idle)
        gate.set()
        worker.finish()
        self.assertTrue(worker.idle)
