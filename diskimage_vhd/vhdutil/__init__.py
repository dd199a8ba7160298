"""A drop-in ``vhd-util``: the subcommands diskimage-builder and people use.

``libvhd`` models what XenServer's libvhd sees in a file (errno results
included), so ``check``, ``read`` and ``query`` answer as vhd-util does.
"""
