"""The one home of number and text formatting: how every number reads, and how data text enters Markdown.

Numbers are rounded for display so that the executed notebooks are byte-stable (they are the regression
baseline). Standard library only; the review (for the arithmetic it shows) and the book both format through here.
"""

from __future__ import annotations

import datetime as _dt
import math
import re


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: float, digits: int = 1) -> str:
    """0.8904 → '89.0%'; NaN → 'NA'."""
    if _missing(x):
        return "NA"
    return f"{100 * x:.{digits}f}%"


def interval(lo: float, hi: float, digits: int = 1) -> str:
    """'85.8%–92.2%' from two proportions; 'NA' if either is missing."""
    if _missing(lo) or _missing(hi):
        return "NA"
    return f"{pct(lo, digits)}–{pct(hi, digits)}"


def p_value(p: float) -> str:
    if _missing(p):
        return "p = NA"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def number(x: float, digits: int = 2) -> str:
    if _missing(x):
        return "NA"
    return f"{x:.{digits}f}"


def signed(x: float, digits: int = 1, missing: str = "—") -> str:
    """A number with a typographic minus and never a '−0.0' (e.g. a difference in percentage points)."""
    if _missing(x):
        return missing
    text = f"{x:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "−")


def decimals(value: float) -> int:
    """How many decimals a printed value has (0–6): 89.0 → 0, 2.35 → 2."""
    for d in range(6):
        if abs(round(value, d) - value) < 1e-9:
            return d
    return 6


def printed(x: float) -> str:
    """A percentage as a paper prints it: at its own decimals, at least one ('89.0', '−0.02')."""
    return signed(x, max(decimals(x), 1))


def i2_text(i2: float) -> str:
    return "I² = NA" if _missing(i2) else f"I² = {i2:.1f}%"


def i2_cell(i2: float, k: int = 2) -> str:
    """I² for a table cell: '93.4%', or 'NA' (a single study has no heterogeneity)."""
    return "NA" if k < 2 or _missing(i2) else f"{i2:.1f}%"


def estimate_text(row, with_pi: bool = True) -> str:
    """'89.0% (95% CI: 85.8%–92.2%; 95% PI: 1.2%–99.9%; I² = 90.1%, p < 0.001)' from a results row."""
    parts = [f"95% CI: {interval(row['ci_low'], row['ci_high'])}"]
    if with_pi and not _missing(row["pi_low"]):
        parts.append(f"95% PI: {interval(row['pi_low'], row['pi_high'])}")
    het = f"{i2_text(row['i2'])}, {p_value(row['q_p'])}" if row["k"] > 1 else "single study, no heterogeneity"
    return f"{pct(row['estimate'])} ({'; '.join(parts)}; {het})"


def long_date(value) -> str:
    """'2024-12-02' → '2 December 2024'."""
    d = _dt.date.fromisoformat(str(value))
    return f"{d.day} {d.strftime('%B')} {d.year}"


def counts_text(counts: dict) -> str:
    """'2 reproduced · 1 close · 5 not reproducible' (categories with a count only)."""
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return " · ".join(parts) if parts else "nothing to check"


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 study', '3 studies'."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --- data text in Markdown ------------------------------------------------------------------------------------------

#: Characters that MyST/CommonMark (with the book's extensions: dollar maths, roles, directives, substitutions)
#: can read as markup anywhere in a line. A backslash before ASCII punctuation makes it literal in CommonMark.
_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|$~!&:^])")
#: … and what is markup only at the start of a line: a block quote, a setext underline, a list item.
_LINE_START = re.compile(r"^(?:[>=]|[-+](?=\s|$)|\d{1,9}[.)](?=\s|$))")


def md(text) -> str:
    """Data text (a label, a definition, a note) as literal Markdown text: markup characters are escaped and
    line breaks become spaces, so that nothing in the dataset can become a heading, a link, HTML, maths, a role
    or a directive option. Use it wherever data text enters Markdown (templates do it automatically)."""
    if _missing(text):
        return ""
    one_line = " ".join(str(text).split())
    escaped = _MARKUP.sub(r"\\\1", one_line)
    return _LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], escaped)


def option(text) -> str:
    """Data text inside a double-quoted directive option (``:alt: "… {{ label | option }} …"``): one line, with
    the backslashes and double quotes that would end the quoted string escaped (MyST reads options as YAML, where
    an unquoted ``#`` would start a comment and a line break a new option)."""
    if _missing(text):
        return ""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["counts_text", "decimals", "estimate_text", "i2_cell", "i2_text", "interval", "long_date", "md", "number",
           "option", "p_value", "pct", "plural", "printed", "signed"]
