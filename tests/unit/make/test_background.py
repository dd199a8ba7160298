"""The copy on a worker thread: the same bytes, its errors the caller's.

A conversion hands its pieces to ``BackgroundSink``, which puts them on
a worker thread while the planning pass and the render walk go on.  These
tests hold what that must not change: the file is byte for byte the one
the sink writes by itself, in every target and with checksums, an error
met by the worker is raised in the caller, and once the sink is left the
worker writes nothing more.
"""

from __future__ import annotations

import os
import threading

from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.background import BackgroundSink
from diskimage_vhd.make.background import BATCH
from diskimage_vhd.make.background import HANDED_OVER_MIN
from diskimage_vhd.make.convert import planned
from diskimage_vhd.make import identity
from diskimage_vhd.make.render import render
from diskimage_vhd.make.sinks import ChecksumFileSink
from diskimage_vhd.make.sinks import FileSink
from diskimage_vhd.make.sinks import Hashes
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK
STAMP = identity.Stamp(base.FIXTURE_UNIX_TIMESTAMP,
                       base.FIXTURE_UUIDS['mixed.sparse.vhd'])


def _workers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate()
            if thread.name == 'diskimage-vhd copy']


class TestBackgroundSink(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        # More pieces than one batch, in many blocks, holes between: long
        # ones (handed to the worker) and, in every other block, a short
        # one too (made by the caller).
        writes = [(index * BLOCK + (index % 3) * 4096,
                   base.random_bytes(HANDED_OVER_MIN + index * 512, index))
                  for index in range(0, 4 * BATCH, 2)]
        writes += [(index * BLOCK + MiB + 512, base.random_bytes(9000, index))
                   for index in range(0, 4 * BATCH, 4)]
        self.raw = base.make_raw(self.path('in.raw'), 4 * BATCH * BLOCK + 512,
                                 writes)

    def write(self, name: str, target: str, background: bool,
              checksums: bool = False) -> tuple[bytes, dict[str, str]]:
        """Render ``self.raw`` as ``target`` into a new file, through the
        worker or not; the file's bytes and its checksums, if asked.
        """
        out = self.path(name)
        with RawSource(self.raw) as source, open(out, 'wb') as handle:
            rendering = planned(source, target, False, None, STAMP)
            sink = (ChecksumFileSink(handle.fileno(), source,
                                     Hashes(('sha256',)))
                    if checksums else FileSink(handle.fileno(), source))
            if background:
                with BackgroundSink(sink) as worker:
                    render(rendering, worker)
            else:
                render(rendering, sink)
        with open(out, 'rb') as handle:
            return handle.read(), (sink.hashes.hexdigests()
                                   if sink.hashes else {})

    def test_same_bytes_as_the_sink_alone(self) -> None:
        for target in ('dynamic', 'fixed', 'raw'):
            for checksums in (False, True):
                with self.subTest(target=target, checksums=checksums):
                    alone = self.write('alone', target, False, checksums)
                    worked = self.write('worked', target, True, checksums)
                    self.assertEqual(alone, worked)
                    self.assertGreater(len(alone[0]), 4 * BATCH * MiB)
        self.assertEqual(_workers(), [])

    def test_an_error_of_the_worker_reaches_the_caller(self) -> None:
        out = self.path('out.vhd')
        with RawSource(self.raw) as source, open(out, 'wb') as handle:
            rendering = planned(source, 'dynamic', False, None, STAMP)
            os.truncate(self.raw, BLOCK)  # the data can no longer be read
            with self.assertRaisesRegex(VhdError, 'changed size'):
                with BackgroundSink(FileSink(handle.fileno(),
                                             source)) as worker:
                    render(rendering, worker)
        self.assertEqual(_workers(), [])

    def test_a_signal_in_the_caller_stops_the_worker(self) -> None:
        out = self.path('out.vhd')

        def interrupted(offset: int) -> None:
            if offset > 2 * BATCH * BLOCK:
                raise KeyboardInterrupt  # as the SIGINT handler does

        with RawSource(self.raw) as source, open(out, 'wb') as handle:
            rendering = planned(source, 'dynamic', False, None, STAMP)
            with self.assertRaises(KeyboardInterrupt):
                with BackgroundSink(FileSink(handle.fileno(),
                                             source)) as worker:
                    render(rendering, worker, progress=interrupted)
            # Left: the worker is gone before the file can be closed.
            self.assertEqual(_workers(), [])
            self.assertLess(os.fstat(handle.fileno()).st_size,
                            rendering.plan.file_size)
