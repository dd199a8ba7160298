"""diskimage-vhd: XenServer-flavoured VHD images in pure Python."""
