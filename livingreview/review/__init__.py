"""The engine applied to the dataset: outcome analyses, diagnostics, versions and their history, the audit of the
paper's numbers, feasibility verdicts, certainty inputs and the primer's statistics.

Frames and frozen dataclasses out, never HTML: the page modules (:mod:`livingreview.book`) decide what is shown.
"""
