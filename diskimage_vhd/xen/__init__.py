"""XenServer's view of a disk: a model of libvhd, vhd-util check's rules
and the readiness policy.  Never needed to write a disk."""
