"""XenServer's view of a disk: a model of libvhd, vhd-util check's rules
and the readiness policy.  Never needed to write a disk."""

# The importers ``check --for`` knows, rackspace being xenserver and more,
# azure a rule set of its own; listed once, with the shape each takes.
from diskimage_vhd.format.shapes import TARGETS  # noqa: F401
