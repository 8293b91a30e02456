"""What every chapter of the methods primer shares (``notebooks/primer_*.ipynb``, one page module each).

No statistics here: every number comes from :mod:`livingreview.primer` (or the engine it calls). A chapter
object holds ``numbers`` — name → value (Python ``float``/``int``/``str``, so ``{glue:text}`` can format
them) — and ``markdown`` — name → Markdown snippet (``{glue:md}``); ``glue_numbers()`` glues both. Tests read
the same dictionaries, so what the chapter says is what the tests check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from IPython.display import Image, Markdown
from matplotlib.figure import Figure

from livingreview import format as fmt
from livingreview.book import common
from livingreview.config import (
    MEASURE_LABELS,
    METHOD_LABELS,
    PI_LABELS,
    PI_SHORT,
    PRIMARY,
    TEST_LABELS,
    TEST_SHORT,
    Spec,
)
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
    contrasts: dict = field(default_factory=dict)

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

    def contrast(self, name: str, used, other) -> None:
        """Record that an exercise compares the page's ``used`` choice of ``name`` with ``other`` (never itself)."""
        if used == other:
            raise AssertionError(f"an exercise would compare {name}={used!r} with itself")
        self.contrasts[name] = (used, other)

    def r(self, code: str) -> None:
        """The metafor code that computes this chapter's numbers; it prints them under their glued names."""
        self.markdown["r_code"] = f"~~~r\n{code.strip()}\n~~~"

    def text(self, source: str) -> str:
        """A template's Markdown with every glued value filled in, as the book shows it (answers in a closed
        ``<details>``, figures by their caption): what :meth:`show` displays and what the tests read."""
        return fill_glue(source, self.numbers, self.markdown)

    def show(self, source: str) -> Markdown:
        """Display a Markdown cell of the template outside the book (the standalone notebook), values filled in."""
        return Markdown(self.text(source))


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



# ------------------------------------------------------------------------------ words for the page's choices

def other_choice(used, choices, prefer=()):
    """The contrasting choice for an exercise: the first of ``prefer`` (then of ``choices``) that is not ``used``."""
    return next(c for c in (*prefer, *choices) if c != used)


def spec_words(ch: Chapter) -> None:
    """Glue the words that name the page's analysis, so that every sentence naming a choice follows it."""
    spec = ch.spec
    ch.md("measure_label", MEASURE_LABELS[spec.measure])
    ch.md("method_label", METHOD_LABELS[spec.method])
    ch.md("method_code", spec.method)
    ch.md("test_short", TEST_SHORT[spec.test])
    ch.md("pi_label", PI_LABELS[spec.pi_dist])
    ch.md("pi_short", PI_SHORT[spec.pi_dist])
    ch.md("model_kind", "common-effect" if spec.method == "FE" else "random-effects")


def outcome_words(ch: Chapter, label: str) -> None:
    ch.md("outcome_label_lower", fmt.md(_lower(label)))


def primary_clause(spec: Spec, value: str, name: str) -> str:
    """', the book's primary analysis' when ``spec``'s choice ``name`` is the book's, else ''."""
    return ", as in the book's primary analysis" if getattr(PRIMARY, name) == value else ""


# ------------------------------------------------------------------------------ glue outside the book

GLUE_ROLE = re.compile(r"\{glue(?::(text|md|any))?\}`([^`]+)`")
GLUE_MD_BLOCK = re.compile(r"```\{glue:md\}\s+(\S+)\n(?::[^\n]*\n)*```")
GLUE_FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)\n(.*?)```", re.S)
DROPDOWN = re.compile(r"(`{3,})\{(?:dropdown|toggle)\}[ \t]*([^\n]*)\n(.*?)\n\1", re.S)
ADMONITION = re.compile(r"(`{3,})\{admonition\}[ \t]*([^\n]*)\n(?::[^\n]*\n)*(.*?)\n\1", re.S)


def details(summary: str, body: str) -> str:
    """A closed disclosure block (HTML in Markdown): how answers are hidden outside the book."""
    return f"<details>\n<summary>{summary}</summary>\n\n{body.strip()}\n\n</details>\n"


def fill_glue(source: str, numbers: dict, markdown: dict, figure=None) -> str:
    """Replace myst-nb glue roles and directives by their values; dropdowns and admonitions become closed
    ``<details>``; a glued figure becomes ``figure(name, alt)`` (default: nothing) and its caption."""

    def role(match):
        kind, spec = match.group(1) or "any", match.group(2)
        key, _, form = spec.partition(":")
        if key in markdown and kind in ("md", "any"):
            return markdown[key]
        if key not in numbers:
            return f"*({key}?)*"
        value = numbers[key]
        return format(value, form) if form else str(value)

    def fig(match):
        key, body = match.group(1), match.group(2)
        lines = body.splitlines()
        alt = next((ln.split(":alt:", 1)[1].strip().strip('"') for ln in lines if ln.startswith(":alt:")), key)
        caption = "\n".join(ln for ln in lines if not ln.startswith(":")).strip()
        image = figure(key, alt) if figure else ""
        return f"{image}\n\n*{caption}*\n" if image else f"*{caption}*\n"

    text = GLUE_FIGURE.sub(fig, source)
    text = GLUE_MD_BLOCK.sub(lambda m: markdown.get(m.group(1), f"*({m.group(1)}?)*"), text)
    text = GLUE_ROLE.sub(role, text)
    text = DROPDOWN.sub(lambda m: details(m.group(2).strip() or "Answer", m.group(3)), text)
    return ADMONITION.sub(lambda m: details(m.group(2).strip(), m.group(3)), text)


def figure_png(plot) -> bytes:
    """A matplotlib figure or an engine plot as PNG bytes."""
    from livingreview.book.figures import png_bytes

    return plot._repr_png_() if hasattr(plot, "_repr_png_") else png_bytes(plot)


def show_figure(name: str, plot) -> Image:
    """Outside the book: display a figure instead of gluing it (the standalone notebook's ``glue_figure``)."""
    return Image(data=figure_png(plot), format="png")


# ------------------------------------------------------------------------------ the same computation in R

R_TRANSF = {"PR": "", "PLO": ", transf = transf.ilogit", "PAS": ", transf = transf.iarcsin",
            "PFT": ", transf = transf.ipft.hm, targs = list(ni = dat$ni)"}
R_PI_TYPE = {"t1": "t", "t2": "riley"}


def r_string(value) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def r_vector(values, digits: int | None = None) -> str:
    return "c(" + ", ".join(r_string(v) if isinstance(v, str) else (f"{v:.{digits}g}" if digits else str(v))
                            for v in values) + ")"


def r_data(x, n, **columns) -> str:
    """``dat <- data.frame(xi = ..., ni = ...)``: the studies of the page, typed in (runnable anywhere)."""
    cols = [f"xi = {r_vector([int(v) for v in x])}", f"ni = {r_vector([int(v) for v in n])}"]
    cols += [f"{k} = {r_vector(list(v))}" for k, v in columns.items()]
    return ("library(metafor)\n"
            "ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)  # iterate as far as the book's engine "
            "(metafor's default stops at 1e-5)\n"
            "dat <- data.frame(" + ",\n                  ".join(cols) + ")")


def r_fit(spec: Spec, name: str = "res", data: str = "dat", measure: str | None = None) -> str:
    """escalc + rma for ``spec`` (``measure`` overrides the spec's)."""
    m = measure or spec.measure
    return (f'{data} <- escalc(measure = "{m}", xi = xi, ni = ni, data = {data})\n'
            f'{name} <- rma(yi, vi, data = {data}, method = "{spec.method}", test = "{spec.test}", control = ctrl)')


def r_predict(spec: Spec, name: str = "res", measure: str | None = None) -> str:
    """``p <- predict(...)`` with this spec's back-transformation and prediction-interval distribution.

    metafor's ``pi.type``: "t" is t(k − 1), "riley" t(k − 2); the normal PI with a t-based CI has no pi.type, so it
    is computed by hand (μ̂ ± z·√(SE² + τ²), as the engine does)."""
    m = measure or spec.measure
    if spec.method == "FE":
        return f"p <- predict({name}{R_TRANSF[m]})"
    if spec.pi_dist in R_PI_TYPE:
        return f'p <- predict({name}{R_TRANSF[m]}, pi.type = "{R_PI_TYPE[spec.pi_dist]}")'
    if spec.test == "z":
        return f"p <- predict({name}{R_TRANSF[m]})"
    tf = {"PR": "identity", "PLO": "transf.ilogit", "PAS": "transf.iarcsin"}.get(m)
    half = f"qnorm(0.975) * sqrt({name}$se^2 + {name}$tau2)"
    if tf is None:  # PFT: Miller's inverse with the harmonic mean of n
        back = "function(y) transf.ipft.hm(y, targs = list(ni = dat$ni))"
    else:
        back = tf
    return (f"p <- predict({name}{R_TRANSF[m]})\n"
            f"back <- {back}\n"
            f"p$pi.lb <- back(c({name}$b) - {half}); p$pi.ub <- back(c({name}$b) + {half})  # z-based PI")


def r_print(values: dict, percent: bool = False) -> str:
    """Print named numbers; their names are the chapter's glued names, so the output reads against the page."""
    scale = "100 * " if percent else ""
    items = ", ".join(f"{k} = {v}" for k, v in values.items())
    return f"print(round({scale}c({items}), 4))"


#: What every primer chapter reads: an outcome's studies (and every other outcome, to suggest one that qualifies).
READS = ("studies", "outcomes", "outcome_definitions", "versions")


def context(ds, params: dict) -> dict:
    return {**common.outcome_context(ds, params["outcome"]), **common.spec_context(params)}


# ------------------------------------------------------------------------------ two specifications side by side

@dataclass(frozen=True)
class Comparison:
    """One outcome under two specifications (``run --compare``): the numbers side by side, the forest plots, and a
    sentence on what changed and why."""

    label: str
    specs: tuple
    rows: tuple  # the overall results row of each specification (review.outcomes.analysis_rows)
    analyses: tuple

    def frame(self) -> pd.DataFrame:
        def cells(r):
            return {"Studies": int(r["k"]), "Estimate": fmt.pct(r["estimate"]),
                    "95% CI": fmt.interval(r["ci_low"], r["ci_high"]),
                    "95% PI": fmt.interval(r["pi_low"], r["pi_high"]), "τ² (own scale)": fmt.number(r["tau2"], 4),
                    "I²": fmt.i2_cell(r["i2"]),
                    "Q (df), p": f"{r['q']:.2f} ({int(r['q_df'])}), {fmt.p_value(r['q_p'])}" if r["k"] > 1 else "NA"}
        names = [s.describe() for s in self.specs]
        a, b = (cells(r) for r in self.rows)
        return pd.DataFrame({"": list(a), names[0]: list(a.values()), names[1]: list(b.values())})

    def changed(self) -> list[str]:
        a, b = self.specs
        return [n for n in ("measure", "method", "test", "pi_dist") if getattr(a, n) != getattr(b, n)]

    def sentence(self) -> str:
        """What changed and why (Markdown)."""
        (a, b), (ra, rb) = self.specs, self.rows
        words = {"measure": ("measure", MEASURE_LABELS), "method": ("τ² estimator", METHOD_LABELS),
                 "test": ("test for the pooled estimate", TEST_SHORT), "pi_dist": ("prediction interval", PI_LABELS)}
        what = "; ".join(f"the {words[n][0]} from {words[n][1][getattr(a, n)]} to {words[n][1][getattr(b, n)]}"
                         for n in self.changed())
        def move(what, x, y):
            return f"{what} stays at {x}" if x == y else f"{what} moves from {x} to {y}"

        moved = (move("The estimate", fmt.pct(ra["estimate"]), fmt.pct(rb["estimate"])) + ", "
                 + move("the 95% CI", fmt.interval(ra["ci_low"], ra["ci_high"]),
                        fmt.interval(rb["ci_low"], rb["ci_high"])) + " and "
                 + move("the 95% PI", fmt.interval(ra["pi_low"], ra["pi_high"]),
                        fmt.interval(rb["pi_low"], rb["pi_high"])) + ".")
        why = [self._why(n) for n in self.changed()]
        return f"Changed: {what}. {moved} " + " ".join(why)

    def _why(self, name: str) -> str:
        (a, b), (ra, rb) = self.specs, self.rows
        if name == "measure":
            return ("Why: the measure is the scale the studies are averaged on. It sets each study's weight (the "
                    "variance depends on the proportion on the raw and logit scales, on n only for the arcsine and "
                    "Freeman–Tukey), and the pooled value is turned back into a proportion from that scale; τ² is on "
                    "each measure's own scale, so the two τ² values cannot be compared.")
        if name == "method":
            more = rb["tau2"] > ra["tau2"]
            return (f"Why: the data and the scale are the same; only the estimate of the between-study variance "
                    f"changed, from τ² = {ra['tau2']:.4f} to {rb['tau2']:.4f}. "
                    + ("A larger τ² makes the study weights more equal and widens the intervals."
                       if more else "A smaller τ² lets the large studies weigh more and narrows the intervals."
                       if rb["tau2"] < ra["tau2"] else "The two estimators agree here, so nothing else moves."))
        if name == "test":
            return (f"Why: the estimate and τ² do not change; the CI is now built with {TEST_LABELS[b.test]} "
                    f"instead of {TEST_LABELS[a.test]}, and the PI uses the same standard error.")
        return (f"Why: the estimate, the CI and τ² do not change; the PI takes its quantile from "
                f"{PI_LABELS[b.pi_dist]} instead of {PI_LABELS[a.pi_dist]}.")

    def forests(self) -> list:
        from livingreview.engine import plots
        return [plots.forest_plot(x.overall, title=f"{x.label}: {s.describe()}")
                for x, s in zip(self.analyses, self.specs)]


def compare(ds, outcome: str, a: Spec, b: Spec, data_version=None) -> Comparison:
    from livingreview.review.outcomes import analysis_rows

    if a == b:
        raise ValueError("the two specifications are the same: --compare must change a choice")
    analyses = tuple(analyse_outcome(ds, outcome, s, data_version=data_version) for s in (a, b))
    if analyses[0].overall is None:
        raise ValueError(f"{outcome}: no study reports it with counts; nothing to compare")
    rows = tuple(pd.DataFrame(analysis_rows(x)).iloc[0] for x in analyses)
    return Comparison(analyses[0].label, (a, b), rows, analyses)
