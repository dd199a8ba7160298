"""Reading disk images: VHDs of any writer and raw files, as sources."""
