"""How a problem in the data is reported: file, line, column, rule and value, every problem at once."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

#: Characters a reader cannot see (or tell from a space) in a message, shown by name instead.
_INVISIBLE = {"\u00a0", "\u2007", "\u202f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\t", "\r", "\n"}


def visible(text: str) -> str:
    """Text with every invisible or look-alike-space character spelled out: 'InO⟨U+00A0 NO-BREAK SPACE⟩mono…'."""
    out = []
    for ch in text:
        if ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            name = unicodedata.name(ch, "CONTROL CHARACTER")
            out.append(f"⟨U+{ord(ch):04X} {name}⟩")
        else:
            out.append(ch)
    return "".join(out)


def show(value) -> str:
    """A value as a message shows it: quoted text (invisible characters spelled out, long text cut), numbers bare."""
    if value is None:
        return "empty"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "…"
        return f"'{visible(text)}'"
    return str(value)


@dataclass(frozen=True)
class Violation:
    file: str
    line: int | None
    column: str | None
    rule: str
    value: object = None
    detail: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: rule '{self.rule}' broken ({self.detail or 'value ' + show(self.value)})"


class DataValidationError(ValueError):
    """The dataset breaks its contract. ``violations`` lists every problem found (``Violation`` records)."""

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        n = len(self.violations)
        super().__init__(f"{n} data violation{'s' if n != 1 else ''}:\n" + "\n".join(str(v) for v in self.violations))


__all__ = ["DataValidationError", "Violation", "show", "visible"]
