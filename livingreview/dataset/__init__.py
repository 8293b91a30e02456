"""The extraction dataset: its contract (schemas, vocabularies, cross-table rules) and its loader.

``load_dataset(data_dir)`` validates every table and returns a frozen :class:`Dataset`, or raises
:class:`DataValidationError` listing every violation (file, line, column, rule). The vocabularies are in
:mod:`livingreview.dataset.vocabulary` (standard library only); the loader is imported on first use.
"""

from importlib import import_module

_API = {
    "Dataset": "contract", "DataValidationError": "contract", "Violation": "contract", "load_dataset": "contract",
    "validate_cli": "contract", "quality_totals": "contract", "resources": "package",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
