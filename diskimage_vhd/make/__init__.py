"""Making disk images: the block reader, the writers, identity and
conversion."""
