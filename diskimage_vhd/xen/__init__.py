"""XenServer's view of a disk: a model of libvhd, vhd-util check's rules
and the readiness policy.  Never needed to write a disk."""

# The importers ``check --for`` knows; rackspace is xenserver and more.
# Named here, where the command line reads them without loading the rules.
TARGETS = ('xenserver', 'rackspace')
