"""Sphinx configuration: the HTML docs and the man pages, from one source."""

import pbr.version

project = 'diskimage-vhd'
copyright = 'diskimage-vhd developers'
author = 'diskimage-vhd developers'
# The installed package's version, as pbr derives it from git.
_info = pbr.version.VersionInfo('diskimage-vhd')
version = _info.version_string()
release = _info.release_string()

extensions = ['reno.sphinxext']
master_doc = 'index'
exclude_patterns = ['_build']
html_theme = 'alabaster'
pygments_style = 'sphinx'

# (source, name, description, authors, section)
man_pages = [
    ('user-guide', 'diskimage-vhd',
     'make, inspect and check XenServer-ready VHD disk images',
     [author], 1),
    ('vhd-util', 'vhd-util',
     "diskimage-vhd's drop-in for XenServer's vhd-util", [author], 1),
]
