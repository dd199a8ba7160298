"""Where diskimage-builder finds the elements this package ships."""

from __future__ import annotations

import os

ELEMENTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'elements')


def elements_path() -> str:
    """Return the installed elements directory, ready for ``ELEMENTS_PATH``."""
    return ELEMENTS_DIR
