"""Operating-system plumbing: opening, exact reads and writes, extents,
atomic output and write-back.  Knows nothing of VHD."""
