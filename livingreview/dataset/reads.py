"""What a page may read: entries such as ``"studies"`` or ``"outcomes[outcome=vod]"`` (a table, optionally only
the rows whose column matches a pattern, ``*``/``?`` as in file names).

Standard library only: the build parses these entries without importing pandas; :meth:`Dataset.view` applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Table (Data Package resource) name → the ``Dataset`` attribute that holds it.
RESOURCES = {
    "studies": "studies",
    "reports": "reports",
    "outcomes": "outcomes",
    "outcome_definitions": "definitions",
    "quality": "quality",
    "published": "published",
    "search": "search",
    "versions": "versions",
    "search_strategies": "strategies",
    "search_runs": "runs",
    "records": "records",
    "screening": "screening",
    "protocol": "protocol",
    "snapshots": "snapshots",
    "certainty": "certainty",
}
_ENTRY = re.compile(r"^(?P<table>[a-z_]+)(?:\[(?P<column>[a-z_]+)=(?P<pattern>[^\]]*)\])?$")


@dataclass(frozen=True)
class Read:
    """One read: a whole table (``column`` None) or the rows whose ``column`` matches ``pattern``."""

    table: str
    column: str | None = None
    pattern: str | None = None

    @property
    def attribute(self) -> str:
        return RESOURCES[self.table]

    def __str__(self) -> str:
        return self.table if self.column is None else f"{self.table}[{self.column}={self.pattern}]"


def parse_read(entry: str) -> Read:
    m = _ENTRY.match(entry.strip())
    if not m or m["table"] not in RESOURCES:
        raise ValueError(f"read {entry!r} is not a table of the dataset ({', '.join(RESOURCES)}), optionally "
                         f"followed by [column=pattern]")
    return Read(m["table"], m["column"], m["pattern"])


class UndeclaredRead(LookupError):
    """A page used a table (or rows) it did not declare in its page module's ``READS``."""


__all__ = ["RESOURCES", "Read", "UndeclaredRead", "parse_read"]
