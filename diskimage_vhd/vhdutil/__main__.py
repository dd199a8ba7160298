"""``python -m diskimage_vhd.vhdutil``: the vhd-util drop-in."""

import sys

from diskimage_vhd.vhdutil.cli import script

sys.exit(script())
