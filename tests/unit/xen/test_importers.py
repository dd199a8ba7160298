"""The rules of xapi's vhd-tool, Xen Orchestra's import and Rackspace's
import how-to, on libvhd-written disks bent one field at a time."""

from __future__ import annotations

import shutil

from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen.targets import assess
from tests import base


def codes(readiness) -> list[str]:
    return [f.code for f in readiness.findings]


def rewrite_footers(path: str, *, copy_only: bool = False, **fields) -> None:
    """Change footer fields (checksums kept right) at the end, and in the
    copy at the start unless ``copy_only`` says the copy alone.
    """
    with open(path, 'r+b') as handle:
        data = bytearray(handle.read())
        places = [0] if copy_only else [0, len(data) - 512]
        for place in places:
            footer = Footer.parse(bytes(data[place:place + 512]))
            footer = footer.replace(**fields)
            footer.checksum = footer.computed_checksum()
            data[place:place + 512] = footer.pack()
        handle.seek(0)
        handle.write(data)
        handle.truncate()


class ImporterRulesTest(base.TempDirTestCase):

    def disk(self, name: str = 'mixed.sparse.vhd') -> str:
        path = self.path(name)
        shutil.copy(base.fixture(name), path)
        return path

    def test_a_libvhd_disk_breaks_none(self) -> None:
        xen = assess(self.disk(), 'xenserver')
        self.assertEqual(xen.problems, [])
        note = [f for f in xen.notes if f.code == 'vdi-import']
        self.assertEqual(len(note), 1)
        self.assertIn('virtual-size=6291456', note[0].text)

    def test_footer_copy_differs(self) -> None:
        path = self.disk()
        rewrite_footers(path, copy_only=True, timestamp=1)
        self.assertIn('footer-copy-differs', codes(assess(path, 'xenserver')))

    def test_original_size_over_current(self) -> None:
        path = self.disk()
        rewrite_footers(path, original_size=8 * base.MiB)
        found = assess(path, 'xenserver')
        self.assertIn('original-over-current', codes(found))
        self.assertNotIn('footer-copy-differs', codes(found))

    def test_header_after_the_bat(self) -> None:
        """The header moved to the end of an empty disk: qemu-img still
        reads it, a reader of a stream cannot go back for the BAT.
        """
        path = self.disk('empty-100m.vhd')
        with open(path, 'r+b') as handle:
            data = bytearray(handle.read())
            footer = data[-512:]
            header = data[512:1536]
            moved = len(data) - 512
            data[-512:] = header + footer
            handle.seek(0)
            handle.write(data)
        rewrite_footers(path, data_offset=moved)
        qemu = base.run([base.require_qemu_img(self), 'info', '-f', 'vpc',
                         path])
        self.assertEqual(qemu.returncode, 0, qemu.stderr)
        found = codes(assess(path, 'xenserver'))
        self.assertIn('header-not-at-512', found)
        self.assertIn('stream-order', found)

    def test_rackspace_properties_and_system_disk(self) -> None:
        rack = assess(self.disk(), 'rackspace')
        self.assertEqual(rack.image_properties['vm_mode'], 'hvm')
        self.assertEqual(rack.image_properties['img_config_drive'],
                         'mandatory')
        note = [f for f in rack.notes if f.code == 'image-properties'][0]
        self.assertIn('vm_mode=hvm img_config_drive=mandatory', note.text)
        self.assertNotIn('system-disk-over-160gb', codes(rack))
        path = self.disk('empty-100m.vhd')
        rewrite_footers(path, current_size=161 * 1024 ** 3)
        self.assertIn('system-disk-over-160gb',
                      codes(assess(path, 'rackspace')))

    def test_too_large_says_what_to_use_instead(self) -> None:
        path = self.disk('empty-100m.vhd')
        rewrite_footers(path, current_size=2041 * 1024 ** 3)
        found = [f for f in assess(path, 'xenserver').findings
                 if f.code == 'too-large']
        self.assertEqual(len(found), 1)
        self.assertIn('XCP-ng 8.3 as a QCOW2 VDI', found[0].text)
