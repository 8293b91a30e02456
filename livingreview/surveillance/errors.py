"""Errors of the surveillance layer. ``str()`` of each is meant to be shown as it is: one line, except
``DataError``, which lists every problem of the tables under a one-line head."""

from __future__ import annotations


class SurveillanceError(Exception):
    """A surveillance command could not do its work; nothing was changed on disk."""


class NoNetworkError(SurveillanceError):
    """A source's host could not be reached (DNS failure, connection refused, timeout)."""

    def __init__(self, host: str, reason: str):
        self.host, self.reason = host, reason
        super().__init__(f"search: no network: cannot reach {host} ({reason}); nothing was changed")


class SourceError(SurveillanceError):
    """A source answered, but not with what its documented API returns (malformed or inconsistent response)."""

    def __init__(self, source: str, message: str, pages=()):
        self.source, self.message, self.pages = source, message, tuple(pages)
        super().__init__(f"{source}: {message}")


class DataError(SurveillanceError):
    """The surveillance tables break their Table Schema or the cross-table rules (all problems listed)."""

    def __init__(self, problems: list[str], action: str = "nothing was written"):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in the surveillance tables; {action}"
        super().__init__(head + "".join(f"\n  {p}" for p in self.problems))
