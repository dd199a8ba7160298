"""The VHD format itself, apart from any I/O: structures declared once
(``structure.py``), the rules every reader, writer and checker shares
(checksums, bit maps, BAT, units, time, limits, creators, locators) and
libvhd's layout of a dynamic disk."""
