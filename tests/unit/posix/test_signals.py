"""Where a signal handler's exception would be dropped by Python."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from types import FrameType
from typing import List, Optional
import unittest

from diskimage_vhd.posix import signals


class _Finalised:
    """Records, from inside its own ``__del__``, what the rule says there."""

    seen: List[bool] = []

    def __del__(self) -> None:
        _Finalised.seen.append(signals.swallowed_here(sys._getframe()))


class SwallowedHereTest(unittest.TestCase):

    def test_a_plain_frame_is_not(self) -> None:
        self.assertFalse(signals.swallowed_here(sys._getframe()))
        self.assertFalse(signals.swallowed_here(None))

    def test_a_finaliser_and_what_it_calls_are(self) -> None:
        _Finalised.seen.clear()
        _Finalised()  # dropped at once: __del__ runs here
        gc.collect()
        self.assertEqual(_Finalised.seen, [True])


class DeliverLaterTest(unittest.TestCase):

    def test_the_handler_runs_again_outside(self) -> None:
        calls: List[Optional[FrameType]] = []

        def handler(number: int, frame: Optional[FrameType]) -> None:
            calls.append(frame)

        previous = signal.getsignal(signal.SIGALRM)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        signals.deliver_later(handler)
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            os.sched_yield()
        self.assertEqual(len(calls), 1)
