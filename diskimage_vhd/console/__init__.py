"""What both command lines share: start-up, progress on a terminal, and the
runner that turns every expected failure into one line and an exit status.

Beneath ``cli`` (diskimage-vhd) and ``vhdutil`` (the drop-in vhd-util), so
that neither imports the other.
"""
