"""The audit's pinned results (``tests/pins/``), rewritten only on purpose:
``python -m livingreview.review.audit --write-pins``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from livingreview.config import ROOT
from livingreview.review.audit.explain import best_specifications
from livingreview.review.audit.status import Audit, audit

PIN_DIR = ROOT / "tests" / "pins"
STATUS_PIN = PIN_DIR / "reproduction_status.csv"
OUTCOME_PIN = PIN_DIR / "reproduction_outcomes.csv"
STATUS_PIN_COLUMNS = ["outcome", "subgroup", "level", "statistic", "paper", "status", "rule", "best_spec"]
OUTCOME_PIN_COLUMNS = ["outcome", "best_spec", "ci_scales", "cis", "discriminating", "typos", "q_based_pairs"]


def status_pin_frame(result: Audit) -> pd.DataFrame:
    return result.frame()[STATUS_PIN_COLUMNS].astype({"paper": str})


def outcome_pin_frame(explanations) -> pd.DataFrame:
    return pd.DataFrame([{"outcome": e.outcome, "best_spec": e.best_spec, "ci_scales": ";".join(e.ci_scales),
                          "cis": e.cis, "discriminating": e.discriminating, "typos": e.typos,
                          "q_based_pairs": e.q_based_pairs} for e in explanations], columns=OUTCOME_PIN_COLUMNS)


def write_pins(data_dir: Path | str = ROOT / "data") -> tuple[Path, Path]:
    from livingreview.dataset import load_dataset
    ds = load_dataset(data_dir)
    result = audit(ds)
    PIN_DIR.mkdir(parents=True, exist_ok=True)
    status_pin_frame(result).to_csv(STATUS_PIN, index=False, lineterminator="\n")
    outcome_pin_frame(best_specifications(ds, result)).to_csv(OUTCOME_PIN, index=False, lineterminator="\n")
    return STATUS_PIN, OUTCOME_PIN


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livingreview.review.audit",
                                     description="Reproduction audit of the paper's published numbers.")
    parser.add_argument("--data", default=str(ROOT / "data"))
    parser.add_argument("--write-pins", action="store_true",
                        help="rewrite tests/pins/reproduction_*.csv from a fresh computation (on purpose)")
    args = parser.parse_args(argv)
    if args.write_pins:
        for path in write_pins(args.data):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    from livingreview.dataset import load_dataset
    result = audit(load_dataset(args.data))
    print(", ".join(f"{n} {s}" for s, n in result.counts().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
