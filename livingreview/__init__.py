"""livingreview — a living systematic review of inotuzumab ozogamicin in adult ALL, as software.

The engine pools single proportions the way R's metafor does (every number is checked against it):
compute effect sizes (:mod:`livingreview.engine.effects`), fit a model (:mod:`livingreview.engine.model`), then ask
the fitted model for subgroups, leave-one-out, Egger/Begg, trim-and-fill, GLMM and plots.
"""

__version__ = "0.1.0"
