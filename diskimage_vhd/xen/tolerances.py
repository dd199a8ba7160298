"""XenServer's tolerances, shared by vhd-util check's rules and the
readiness policy."""

# vhd-util check allows this much clock skew (NFS servers), in seconds.
TIMESTAMP_MAX_SLACK = 1800
