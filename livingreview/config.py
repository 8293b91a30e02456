"""The book's analysis choices and the project's fixed facts, each stated once.

Every notebook, the command line and the tests take their defaults from here, so changing the book's
primary analysis is a one-line change that moves every page together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
BOOK_DIR = ROOT / "book"
NOTEBOOKS_DIR = ROOT / "notebooks"
MANIFEST = ROOT / "manifest.yml"
#: Where builds happen; LIVINGREVIEW_BUILD_DIR moves it (tests and parallel work use their own).
BUILD_DIR = Path(os.environ.get("LIVINGREVIEW_BUILD_DIR", ROOT / "_build"))
#: Stands in for the repository's own ``data`` in executed notebooks (for tests/test_regression.py only).
DATA_OVERRIDE = "LIVINGREVIEW_DATA_DIR"

# The engine's option lists and the dataset's vocabularies (one place each, both standard library only),
# re-exported for the command line and the notebooks.
from livingreview.dataset.vocabulary import SUBGROUP_LEVELS  # noqa: E402
from livingreview.engine.options import MEASURES, METHODS, PI_DISTS, TESTS  # noqa: E402

#: The display name of each subgrouping column (its levels, in the book's order: ``SUBGROUP_LEVELS``).
SUBGROUPS = {
    "regimen": "Treatment regimen",
    "disease_status": "Disease status",
}
assert tuple(SUBGROUPS) == tuple(SUBGROUP_LEVELS), "every subgrouping column needs a display name"

#: Egger, Begg and trim-and-fill are run only with at least this many studies (Cochrane Handbook §13.3.5.4).
MIN_K_BIAS = 10


@dataclass(frozen=True)
class Spec:
    """One analysis specification: effect measure, τ² estimator, test for μ, prediction-interval df."""

    measure: str = "PLO"
    method: str = "REML"
    test: str = "z"
    pi_dist: str = "t2"
    level: float = 0.95

    def __post_init__(self):
        for name, allowed in (("measure", MEASURES), ("method", METHODS), ("test", TESTS), ("pi_dist", PI_DISTS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(allowed)}")
        if not 0 < self.level < 1:
            raise ValueError(f"level={self.level!r} must be between 0 and 1")

    def with_(self, **changes) -> "Spec":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    def labels(self) -> dict:
        """Words for each choice, for the Methods page and captions."""
        return {"measure_label": MEASURE_LABELS[self.measure], "method_label": METHOD_LABELS[self.method],
                "test_label": TEST_LABELS[self.test], "pi_label": PI_LABELS[self.pi_dist]}

    def describe(self) -> str:
        return (f"{MEASURE_LABELS[self.measure]}, {METHOD_LABELS[self.method]}, "
                f"{TEST_SHORT[self.test]} CI, prediction interval with {PI_SHORT[self.pi_dist]}")


MEASURE_LABELS = {
    "PR": "raw proportion",
    "PLO": "logit",
    "PAS": "arcsine",
    "PFT": "Freeman–Tukey double arcsine",
}
TEST_LABELS = {
    "z": "the normal distribution (Wald z test)",
    "t": "the t distribution with k − 1 degrees of freedom",
    "knha": "the Hartung–Knapp–Sidik–Jonkman adjustment (t with k − 1 df)",
    "adhoc": "the Hartung–Knapp–Sidik–Jonkman adjustment with the ad hoc correction (never narrower than Wald)",
}
TEST_SHORT = {"z": "Wald z", "t": "t(k−1)", "knha": "Hartung–Knapp", "adhoc": "Hartung–Knapp (ad hoc)"}
PI_LABELS = {
    "z": "the normal distribution",
    "t1": "the t distribution with k − 1 degrees of freedom",
    "t2": "the t distribution with k − 2 degrees of freedom",
}
PI_SHORT = {"z": "z", "t1": "t(k−1)", "t2": "t(k−2)"}
METHOD_LABELS = {
    "FE": "fixed (common) effect",
    "DL": "DerSimonian–Laird τ²",
    "REML": "REML τ²",
    "PM": "Paule–Mandel τ²",
    "ML": "ML τ²",
}

#: The book's primary analysis. Logit + REML follows current guidance (Schwarzer et al. 2019) rather than the
#: paper's Freeman–Tukey; the paper's likely specification is one of the sensitivity analyses.
PRIMARY = Spec()

#: The model panel of every sensitivity page: each transformation × τ² estimator × test for μ (the binomial–normal
#: GLMM is added there), as current guidance asks instead of choosing a transformation by an I² rule.
PANEL = tuple((measure, method, test) for measure in ("PLO", "PAS", "PFT", "PR") for method in ("REML", "PM", "DL")
              for test in ("z", "knha"))
#: Thresholds at which each sensitivity page gives the probability that a new study's proportion exceeds them.
PREDICTIVE_THRESHOLDS = (0.05, 0.10, 0.20, 0.30, 0.50, 0.70, 0.80, 0.90)

#: Alternative specifications shown on every sensitivity page (name → Spec); the GLMM is added there separately.
SENSITIVITY_SPECS = {
    "Primary: logit, REML, z": PRIMARY,
    "Logit, DL, z": PRIMARY.with_(method="DL"),
    "Logit, REML, Hartung–Knapp (ad hoc)": PRIMARY.with_(test="adhoc"),
    "Freeman–Tukey, DL, z": PRIMARY.with_(measure="PFT", method="DL"),
    "Freeman–Tukey, REML, z": PRIMARY.with_(measure="PFT"),
    "Arcsine, REML, z": PRIMARY.with_(measure="PAS"),
    "Raw proportion, DL, z (paper-like)": PRIMARY.with_(measure="PR", method="DL"),
}
