"""livingreview — a living systematic review of inotuzumab ozogamicin in adult ALL, as software.

Five layers, each importing only downward (ARCHITECTURE.md): :mod:`livingreview.engine` (metafor's pipeline) and
:mod:`livingreview.dataset` (the data contract) at the bottom; :mod:`livingreview.config` and
:mod:`livingreview.format`; :mod:`livingreview.review` (the engine applied to the dataset);
:mod:`livingreview.book` (one module per notebook page); :mod:`livingreview.build`; and the command line.
"""

import os as _os

__version__ = "0.1.0"

# A build, a `run` or the nbval suite executes notebooks with this variable naming the checkout they belong to: a
# kernel that imported livingreview from anywhere else (another clone installed in the environment) would compute
# with other code and read other data, so it stops here instead.
_checkout = _os.environ.get("LIVINGREVIEW_CHECKOUT")
_here = _os.path.dirname(_os.path.dirname(_os.path.realpath(__file__)))
if _checkout and _os.path.realpath(_checkout) != _here:
    raise ImportError(f"livingreview was imported from {_here}, but this process executes the notebooks of the "
                      f"checkout {_checkout} (LIVINGREVIEW_CHECKOUT): put that checkout first on PYTHONPATH or "
                      f"install it (pip install -e {_checkout})")
