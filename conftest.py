"""pytest, for the whole repository: every kernel a test starts — nbval's re-execution of the baseline in book/
included — runs this checkout's ``livingreview`` and reads this checkout's data, whatever is installed."""

from livingreview.build.execute import pin_to_checkout

pin_to_checkout()
