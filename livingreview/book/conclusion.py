"""The conclusion (``notebooks/conclusion.ipynb``): the discussion's glued numbers, in two sentences."""

from __future__ import annotations

from livingreview.book import discussion

READS = ("studies", "outcome_definitions", "versions", "outcomes", "published")


def load(data_dir="data", data_version=None, measure=None, method=None, test=None,
         pi_dist=None) -> discussion.DiscussionPage:
    return discussion.load(data_dir, data_version, measure, method, test, pi_dist, reads=READS, reader="the conclusion")
