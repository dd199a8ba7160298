import sys

from diskimage_vhd.cli import main

sys.exit(main())
