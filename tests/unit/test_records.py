"""A record made over ``collections.namedtuple`` whose body annotates each
field: the annotations are the fields' only documentation, so they must be
the fields, in order, and must not shadow them with a class attribute.
(``typing.NamedTuple`` and dataclasses hold this by construction.)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import unittest

import diskimage_vhd


def records() -> list:
    """Every class the package defines over a ``collections.namedtuple``
    (``typing.NamedTuple`` classes, outside the conversion path, hold
    their fields themselves).
    """
    found = []
    for module in pkgutil.walk_packages(diskimage_vhd.__path__,
                                        'diskimage_vhd.'):
        if module.name.endswith('.__main__'):  # running it runs a command
            continue
        loaded = importlib.import_module(module.name)
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if (value.__module__ == module.name and issubclass(value, tuple)
                    and hasattr(value, '_fields')
                    and '_fields' not in value.__dict__):
                found.append(value)
    return found


class RecordTest(unittest.TestCase):

    def test_annotations_are_the_fields(self) -> None:
        for record in records():
            with self.subTest(record.__qualname__):
                self.assertEqual(
                    list(record.__dict__.get('__annotations__', {})),
                    list(record._fields))
                self.assertEqual(record.__slots__, ())
                for name in record._fields:
                    # A default written in the body would hide the field.
                    self.assertNotIn(name, record.__dict__)


if __name__ == '__main__':
    unittest.main()
