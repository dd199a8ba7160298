"""A readable summary of a disk image, for ``diskimage-vhd info``."""

from __future__ import annotations

import os
from typing import Any
import uuid as uuidlib

from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format import sizing
from diskimage_vhd.format import timestamps
from diskimage_vhd.format.units import blocks_for
from diskimage_vhd.image.chain import ChainImage
from diskimage_vhd.image.parents import decode_parent_name
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.sources import RawSource


def _data_bytes(extents) -> int:
    return sum(end - start for start, end in extents)


def _chain_summary(image: VhdImage) -> dict[str, Any]:
    """The parent the leaf names, and the chain found for it, leaf's parent
    first; ``data_bytes`` is the flattened disk's.  The chain is opened
    only to be described, and closed with the leaf left open.
    """
    assert image.header is not None
    chain = ChainImage(VhdImage(image.path, image.size_rule))
    with chain:
        return {
            'parent_name': decode_parent_name(image.footer, image.header),
            'parent_uuid': str(uuidlib.UUID(
                bytes=image.header.parent_unique_id)),
            'chain': [{'path': disk.path,
                       'format': c.DISK_TYPE_NAMES[disk.footer.disk_type],
                       'uuid': str(disk.footer.uuid),
                       'virtual_size': disk.size}
                      for disk in chain.disks[1:]],
            'data_bytes': _data_bytes(chain.data_extents()),
        }


def inspect(path: str | os.PathLike,
            size_rule: str = sizing.AUTO) -> dict[str, Any]:
    """Describe ``path`` (a VHD of any writer, or a raw image) as a dict;
    ``size_rule`` is how a VHD's size is read (format/sizing.py).
    """
    try:
        image = VhdImage(path, size_rule)
    except NotAVhdError:
        with RawSource(path) as raw:
            return {'path': os.fspath(path), 'format': 'raw',
                    'virtual_size': raw.size, 'file_size': raw.size,
                    'data_bytes': _data_bytes(raw.data_extents())}
    with image:
        footer = image.footer
        info: dict[str, Any] = {
            'path': image.path,
            'format': c.DISK_TYPE_NAMES[footer.disk_type],
            'virtual_size': image.size,
            'current_size': footer.current_size,
            'file_size': image.file_size,
            'creator': footer.creator,
            'creator_version': creators.version_text(footer.creator_version),
            'created': timestamps.iso(footer.timestamp),
            'uuid': str(footer.uuid),
            'geometry': list(footer.geometry),
            'data_bytes': _data_bytes(image.data_extents()),
        }
        if image.footer.is_differencing:
            info.update(_chain_summary(image))
        if image.header is not None:
            info.update({
                'block_size': image.block_size,
                'blocks': blocks_for(image.size, image.block_size),
                'allocated_blocks': image.allocated_blocks(),
                'max_table_entries': image.header.max_table_entries,
                'max_size': image.header.max_table_entries * image.block_size,
                'batmap': image.batmap_header is not None,
            })
        return info
