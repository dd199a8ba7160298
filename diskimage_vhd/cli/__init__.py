"""The ``diskimage-vhd`` command line."""
