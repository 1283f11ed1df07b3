"""Where a config value came from: a schema default, a line of the YAML file, a ``--set`` override or a CLI flag.

Error messages name the place as text (``file.yaml:LINE``, ``--set a.b=v``, ``command line``, ``defaults``); code
that must decide something by origin (is this value from the file, so a relative path resolves against the file's
folder?) compares :class:`Origin` members instead of reading that text.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["DEFAULTS", "Origin", "Place"]


class Origin(IntEnum):
    """The kind of place a config value came from. The integer values order error messages (file lines first,
    then ``--set`` overrides, flags and defaults); precedence is the other way round, except for defaults:
    defaults < file < ``--set`` < flags."""

    FILE = 0        # a line of the YAML config file
    OVERRIDE = 1    # a ``--set key=value`` override
    FLAG = 2        # an explicit command-line flag
    DEFAULT = 3     # the schema default (nothing set it)


@dataclass(frozen=True)
class Place:
    """Where one value came from: ``where`` as error messages show it, its :class:`Origin`, and ``index``: the
    1-based line for :attr:`Origin.FILE`, the position among the ``--set`` overrides for :attr:`Origin.OVERRIDE`,
    else 0."""

    where: str
    origin: Origin
    index: int = 0

    @property
    def order(self) -> tuple[int, int]:
        """Sort key of error messages about this place: file order, then overrides in the order given, ..."""
        return (self.origin, self.index)

    @property
    def line(self) -> int | None:
        """The line in the config file, or None when the value did not come from the file."""
        return self.index if self.origin is Origin.FILE else None


DEFAULTS = Place("defaults", Origin.DEFAULT)
