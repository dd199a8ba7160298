"""Every file written is named safely: the rules of ``posix.guard``.

Each case is a reproduction that, before the rule, ended with a file lost
or replaced and exit 0: a checksum file over the input or the image, a
symbolic link replaced by the image, a stale checksum beside a new image,
two runs mixing their files.  Referees: the bytes on disk (sha256 of the
input before and after), ``sha256sum -c`` and qemu-img.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess

from diskimage_vhd.cli import commands
from diskimage_vhd import convert
from diskimage_vhd.posix import guard
from tests import base
from tests.unit.cli.test_errors import CommandErrorTestCase
from tests.unit.vhdutil.test_inplace_faults import strace

SYMLINK = 'is a symbolic link; refusing to replace it (name the file itself'


def digest(path: str) -> str:
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class OutputGuardTest(CommandErrorTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('small.raw'), 4 * base.MiB,
                                 [(0, base.random_bytes(base.MiB))])
        self.before = digest(self.raw)
        self.out = self.path('out.vhd')

    def run_cli(self, *args: str, stdout=None, **kwargs
                ) -> subprocess.CompletedProcess:
        if stdout is None:
            return base.run_module('diskimage_vhd', *args, **kwargs)
        return subprocess.run([*base.module_argv('diskimage_vhd'), *args],
                              stdout=stdout, stderr=subprocess.PIPE,
                              text=True, **kwargs)

    def assertInputKept(self) -> None:
        self.assertEqual(digest(self.raw), self.before)

    def test_a_checksum_file_cannot_be_the_input(self) -> None:
        result = self.run_cli('convert', self.raw, self.out,
                              '--checksum-file', f'sha256={self.raw}')
        self.assertOneLineError(result, self.raw, 'is the source itself')
        self.assertInputKept()
        self.assertNothingAt(self.tmp, {'small.raw'})

    def test_a_checksum_file_cannot_be_the_image(self) -> None:
        result = self.run_cli('convert', self.raw, self.out,
                              '--checksum-file', f'sha256={self.out}')
        self.assertOneLineError(result, self.out,
                                f'the same file as the output {self.out}')
        self.assertNothingAt(self.tmp, {'small.raw'})

    def test_an_image_cannot_overwrite_its_input_through_checksum(self) -> None:
        """``convert img.sha256 img --checksum sha256``: the checksum file
        beside the image is the input.
        """
        source = self.path('img.sha256')
        os.rename(self.raw, source)
        result = self.run_cli('convert', source, self.path('img'),
                              '--checksum', 'sha256')
        self.assertOneLineError(result, source, 'is the source itself')
        self.assertEqual(digest(source), self.before)
        self.assertNothingAt(self.tmp, {'img.sha256'})

    def test_a_stream_cannot_overwrite_its_input(self) -> None:
        with open(self.path('piped'), 'wb') as sink:
            result = self.run_cli('convert', self.raw, '-', '--checksum-file',
                                  f'sha256={self.raw}', stdout=sink)
        self.assertOneLineError(result, self.raw, 'is the source itself')
        self.assertInputKept()
        self.assertEqual(os.path.getsize(self.path('piped')), 0)

    def test_a_checksum_file_cannot_be_standard_output(self) -> None:
        """``convert SRC - --checksum-file sha256=out > out``."""
        piped = self.path('piped')
        with open(piped, 'wb') as sink:
            result = self.run_cli('convert', self.raw, '-', '--checksum-file',
                                  f'sha256={piped}', stdout=sink)
        self.assertOneLineError(result, piped, 'the same file as the output -')
        self.assertEqual(os.path.getsize(piped), 0)

    def test_standard_output_cannot_be_the_input(self) -> None:
        """``convert SRC - 1<>SRC``."""
        with open(self.raw, 'r+b') as same:
            result = self.run_cli('convert', self.raw, '-', stdout=same)
        self.assertOneLineError(result, 'standard output is', self.raw)
        self.assertInputKept()

    def test_a_symbolic_link_is_never_replaced(self) -> None:
        """``convert keep.raw /dev/stdout > redir.vhd`` as root put the
        image at /dev/stdout itself; here the link points at a bystander.
        """
        bystander = self.path('bystander')
        with open(bystander, 'wb') as handle:
            handle.write(b'keep me')
        link = self.path('link.vhd')
        os.symlink(bystander, link)
        cases = [
            ('convert', self.raw, link),
            ('convert', self.raw, self.out, '--checksum-file',
             f'sha256={link}'),
            ('convert', self.raw, '-', '--checksum-file', f'md5={link}'),
        ]
        for argv in cases:
            with self.subTest(argv=argv), open(os.devnull, 'wb') as sink:
                result = self.run_cli(*argv, stdout=sink)
                self.assertOneLineError(result, link, SYMLINK)
                self.assertTrue(os.path.islink(link))
                with open(bystander, 'rb') as handle:
                    self.assertEqual(handle.read(), b'keep me')
                self.assertNothingAt(self.tmp, {'small.raw', 'bystander',
                                                'link.vhd'})
        fixed = self.path('fixed.vhd')
        convert(self.raw, fixed, target_format='fixed')
        before = digest(fixed)
        for argv in (['create', '-n', link, '-s', '4'],
                     ['convert', '-s', '1', '-t', '2', '-i', fixed, '-o',
                      link],
                     ['convert', '-s', '1', '-t', '0', '-i', fixed, '-o',
                      link]):
            with self.subTest(argv=argv):
                result = base.run_module('diskimage_vhd.vhdutil.cli', *argv)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn('is a symbolic link', result.stderr)
                self.assertNotIn('Traceback', result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1)
                self.assertTrue(os.path.islink(link))
                self.assertEqual(digest(fixed), before)

    def test_a_bad_checksum_path_is_found_before_the_image(self) -> None:
        """Found only after the image had replaced the destination, each
        left a new image beside a stale checksum file.
        """
        with open(self.out, 'wb') as handle:
            handle.write(b'the old image')
        os.mkdir(self.path('adir'))
        cases = [
            (self.path('missing/out.sha256'), 'directory does not exist'),
            (self.path('adir'), 'is a directory'),
            (self.path('x' * 300), 'file name too long'),
            (self.path('adir') + '/', 'names a directory'),
        ]
        for path, problem in cases:
            with self.subTest(problem=problem):
                result = self.run_cli('convert', self.raw, self.out,
                                      '--checksum-file', f'sha256={path}')
                self.assertOneLineError(result, problem)
                with open(self.out, 'rb') as handle:
                    self.assertEqual(handle.read(), b'the old image')
                self.assertNothingAt(self.tmp, {'small.raw', 'out.vhd',
                                                'adir'})

    def test_a_read_only_checksum_directory_is_found_first(self) -> None:
        mountpoint = self.mount_tmpfs('ro,size=1M')
        result = self.run_cli('convert', self.raw, self.out, '--checksum-file',
                              f'sha256={mountpoint}/out.sha256')
        self.assertOneLineError(result, 'read-only file system')
        self.assertNothingAt(self.tmp, {'small.raw',
                                        os.path.basename(mountpoint)})

    def test_a_name_that_is_not_utf8(self) -> None:
        """Its checksum line holds the name's own bytes, as sha256sum's."""
        name = os.fsdecode(b'caf\xe9.vhd')
        result = self.run_cli('convert', '-q', self.raw, name, '--checksum',
                              'sha256', cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        check = subprocess.run(['sha256sum', '-c', '--quiet',
                                os.fsencode(name) + b'.sha256'],
                               cwd=self.tmp, capture_output=True)
        self.assertEqual(check.returncode, 0, check)

    def test_a_busy_directory_is_waited_for_then_refused(self) -> None:
        """A run committing into a directory another run is committing into
        waits, then refuses in one line; nothing is replaced meanwhile.
        """
        holder = os.open(self.tmp, os.O_RDONLY | os.O_DIRECTORY)
        self.addCleanup(os.close, holder)
        fcntl.flock(holder, fcntl.LOCK_EX)
        saved = guard.LOCK_WAIT
        guard.LOCK_WAIT = 0.0
        self.addCleanup(setattr, guard, 'LOCK_WAIT', saved)
        result = _in_process(['convert', '-q', self.raw, self.out,
                              '--checksum', 'sha256'])
        self.assertEqual(result[0], 1)
        self.assertIn('another run is committing into this directory',
                      result[1])
        self.assertNothingAt(self.tmp, {'small.raw'})
        fcntl.flock(holder, fcntl.LOCK_UN)
        result = _in_process(['convert', '-q', self.raw, self.out,
                              '--checksum', 'sha256'])
        self.assertEqual(result[0], 0, result[1])
        check = base.run(['sha256sum', '-c', 'out.vhd.sha256'], cwd=self.tmp)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_racing_runs_leave_a_matching_pair(self) -> None:
        """Several runs with different content on one destination at once:
        whichever is last, the checksum file matches the image.
        """
        other = base.make_raw(self.path('other.raw'), 4 * base.MiB,
                              [(0, base.random_bytes(base.MiB))])
        runs = [subprocess.Popen(
            [*base.module_argv('diskimage_vhd'), 'convert', '-q', source,
             self.out, '--checksum', 'sha256'], stderr=subprocess.PIPE)
            for source in (self.raw, other, self.raw, other)]
        for run in runs:
            _, err = run.communicate()
            self.assertEqual(run.returncode, 0, err)
        check = base.run(['sha256sum', '-c', 'out.vhd.sha256'], cwd=self.tmp)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_a_signal_after_the_commit_says_the_output_is_complete(self
                                                                   ) -> None:
        """SIGTERM while the summary is printed, after the rename."""
        argv = [*strace('write', signal.SIGTERM)[:-1],
                'inject=write:signal=TERM:when=1',
                *base.module_argv('diskimage_vhd'), 'convert', self.raw,
                self.out, '--checksum', 'sha256']
        # No .pyc written: its write and rename would take the signal.
        result = base.run(argv, env=dict(os.environ,
                                         PYTHONDONTWRITEBYTECODE='1'))
        self.assertEqual(result.returncode, 143, result.stderr)
        self.assertIn(f'terminated; {self.out} is complete', result.stderr)
        self.assertNotIn('nothing was written', result.stderr)
        check = base.run(['sha256sum', '-c', 'out.vhd.sha256'], cwd=self.tmp)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        base.qemu_compare(self, self.raw, self.out)


def _in_process(argv: list) -> tuple:
    """Run the command here (so a patched wait applies): status, stderr."""
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = commands.main(argv)
    return status, err.getvalue()
