import sys

from diskimage_vhd.cli.commands import script

sys.exit(script())
