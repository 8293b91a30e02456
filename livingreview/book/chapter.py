"""What every chapter of the methods primer shares (``notebooks/primer_*.ipynb``, one page module each).

No statistics here: every number comes from :mod:`livingreview.primer` (or the engine it calls). A chapter
object holds ``numbers`` — name → value (Python ``float``/``int``/``str``, so ``{glue:text}`` can format
them) — and ``markdown`` — name → Markdown snippet (``{glue:md}``); ``glue_numbers()`` glues both. Tests read
the same dictionaries, so what the chapter says is what the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from livingreview import format as fmt
from livingreview.book import common
from livingreview.config import Spec
from livingreview.review.outcomes import analyse_outcome

FONT = 9
WEIGHT_N = 100  # the study size of the relative-weight curves (chapter 1)
COLOURS = {"PR": "#7570b3", "PLO": "#1b9e77", "PAS": "#d95f02", "PFT": "#e7298a", "GLMM": "#000000"}
MEASURE_NAMES = {"PR": "raw proportion (PR)", "PLO": "logit (PLO)", "PAS": "arcsine (PAS)",
                 "PFT": "Freeman–Tukey (PFT)", "GLMM": "GLMM (logit, ML)"}


def _native(value):
    """numpy scalars → Python numbers, so that glued text/plain is '2.5', never 'np.float64(2.5)'."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _r(value: float, digits: int = 6) -> float:
    """Round for display and byte-stable outputs (the notebooks are a regression baseline)."""
    return float(round(float(value), digits))


@dataclass
class Chapter:
    """Numbers and Markdown snippets a chapter states, glued by :meth:`glue_numbers`."""

    spec: Spec
    numbers: dict = field(default_factory=dict)
    markdown: dict = field(default_factory=dict)

    def put(self, name: str, value) -> None:
        value = _native(value)
        if isinstance(value, float):
            value = _r(value)
        self.numbers[name] = value

    def md(self, name: str, text: str) -> None:
        self.markdown[name] = text

    def glue_numbers(self) -> None:
        from myst_nb import glue
        for name, value in self.numbers.items():
            glue(name, value, display=False)
        common.glue_markdown(self.markdown)

    def spec_sentence(self) -> Markdown:
        return Markdown(f"Analysis on this page: **{self.spec.describe()}**.")


def _pp(x: float) -> float:
    """A proportion (0–1) in percent, rounded for display."""
    return _r(100 * x, 6)


def _outcome_studies(ds, outcome: str, data_version) -> tuple[pd.DataFrame, str]:
    defs = ds.definitions.set_index("outcome")
    if outcome not in defs.index:
        raise ValueError(f"unknown outcome {outcome!r}; choose one of {', '.join(ds.definitions['outcome'])}")
    a = analyse_outcome(ds, outcome, data_version=data_version)
    return a.studies, defs.loc[outcome, "label"]


def _need_k(ds, outcome: str, k_min: int, data_version, what: str) -> None:
    studies, _ = _outcome_studies(ds, outcome, data_version)
    if len(studies) < k_min:
        ok = [o for o in ds.definitions["outcome"]
              if len(analyse_outcome(ds, o, data_version=data_version).studies) >= k_min]
        raise ValueError(f"{what} needs an outcome with at least {k_min} studies; {outcome!r} has {len(studies)}. "
                         f"Choose one of: {', '.join(ok)}")


def _new_figure(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT)
    return fig, ax


def _p_range(ps) -> str:
    """'p runs from 0.012 to 0.048' or 'p < 0.001 on every scale'."""
    lo, hi = float(np.min(ps)), float(np.max(ps))
    if hi < 0.001:
        return "p < 0.001 on every scale"
    return f"p runs from {fmt.p_value(lo).removeprefix('p ').removeprefix('= ')} to {fmt.p_value(hi).removeprefix('p = ')}"


def _lower(label: str) -> str:
    return label[0].lower() + label[1:]



#: What every primer chapter reads: an outcome's studies (and every other outcome, to suggest one that qualifies).
READS = ("studies", "outcomes", "outcome_definitions", "versions")


def context(ds, params: dict) -> dict:
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params)}
