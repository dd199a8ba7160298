import sys

from diskimage_vhd.cli.commands import main

sys.exit(main())
