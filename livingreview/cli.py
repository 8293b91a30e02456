"""Command line: ``python -m livingreview {results,validate,build,diff,run}``.

Every failure is one clear message on stderr (never a traceback): exit 1 when the data, a notebook or the build
failed, exit 2 for an invalid request (as argparse does).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from livingreview.config import DATA_DIR, MEASURES, METHODS, PI_DISTS, PRIMARY, TESTS, Spec


def _add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--measure", choices=MEASURES, default=PRIMARY.measure, help="effect measure (default %(default)s)")
    parser.add_argument("--method", choices=METHODS, default=PRIMARY.method, help="τ² estimator (default %(default)s)")
    parser.add_argument("--test", choices=TESTS, default=PRIMARY.test,
                        help="test/CI for the pooled estimate: z, t, knha (Hartung–Knapp), adhoc (default %(default)s)")
    parser.add_argument("--pi-dist", choices=PI_DISTS, default=PRIMARY.pi_dist,
                        help="prediction-interval distribution: z, t1 = t(k−1), t2 = t(k−2) (default %(default)s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m livingreview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("results", help="print every pooled estimate (outcome × overall/subgroup level)")
    _add_spec_arguments(p)
    p.add_argument("--data", type=Path, default=DATA_DIR, help="extraction dataset directory (default data/)")
    p.add_argument("--data-version", type=int, default=None, help="use only studies of this data version or earlier")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--outcome", action="append", help="restrict to this outcome id (repeatable)")

    p = sub.add_parser("validate", help="validate the extraction dataset and report every violation")
    p.add_argument("--data", type=Path, default=DATA_DIR)

    p = sub.add_parser("build", help="validate data, run the notebooks with papermill and build the book")
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--data-version", type=int, default=None, help="build an earlier data version (default: latest)")
    p.add_argument("--out", type=Path, default=None, help="publish the HTML here (default _build/html)")
    p.add_argument("--jobs", type=int, default=None, help="notebooks executed in parallel (default: twice the number of cores)")
    p.add_argument("--force", action="store_true", help="re-execute every notebook even if its inputs are unchanged")
    p.add_argument("--accept", action="store_true",
                   help="accept the executed notebooks as the new regression baseline in book/ (nbval compares against it)")

    p = sub.add_parser("diff", help="what moved since the accepted baseline: pooled estimates, then data rows")
    p.add_argument("--data", type=Path, default=DATA_DIR)

    p = sub.add_parser(
        "run", help="execute one notebook (an outcome page or a methods-primer chapter) with your own parameters",
        description="Execute one notebook template with your own parameters, as the build does, and print where the "
                    "executed notebook and its HTML copy are. hartung_knapp=true means test=knha, "
                    "hartung_knapp=adhoc means test=adhoc, hartung_knapp=false means test=z.",
        epilog="example: python -m livingreview run vod --param measure=PFT --param method=DL --param hartung_knapp=true")
    p.add_argument("outcome", nargs="?", default=None, metavar="OUTCOME",
                   help="outcome id from outcome_definitions.csv (e.g. vod); default: the template's own")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a template parameter, e.g. measure=PLO, method=REML, hartung_knapp=true (repeatable)")
    p.add_argument("--template", default="outcome",
                   help="template in notebooks/ (e.g. outcome, bias, sensitivity, primer_transformations; "
                        "default %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="write the notebook here (default _build/run/)")
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--data-version", type=int, default=None, help="use an earlier data version (default: latest)")
    p.add_argument("--no-html", action="store_true", help="do not write the HTML copy")
    p.add_argument("--list", action="store_true", help="list the template's parameters and their defaults, then stop")
    p.add_argument("--compare", metavar="NAME=VALUE", default=None,
                   help="write one page with your analysis and the one with this choice changed, side by side "
                        "(e.g. method=DL, pi_dist=t1, hartung_knapp=true)")
    p.add_argument("--standalone", action="store_true",
                   help="write a clean primer notebook to take home (its parameters cell is the one that counts) "
                        "and a zip with it and the data it needs")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "validate":
        from livingreview.dataset import validate_cli
        return validate_cli(args.data)
    if args.command == "results":
        return _results(args)
    if args.command == "build":
        return _build(args)
    if args.command == "diff":
        from livingreview.build.diff import changes

        print("\n".join(changes(args.data).lines()))
        return 0
    return _run(args)


def _results(args) -> int:
    from livingreview.dataset import DataValidationError, load_dataset
    from livingreview.review.outcomes import results_table

    try:
        dataset = load_dataset(args.data)
    except DataValidationError as err:
        print(err, file=sys.stderr)
        return 1
    spec = Spec(measure=args.measure, method=args.method, test=args.test, pi_dist=args.pi_dist)
    table = results_table(dataset, spec, outcomes=args.outcome, data_version=args.data_version)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False, float_format="%.10g", lineterminator="\n")
    else:
        records = json.loads(table.to_json(orient="records", double_precision=10))
        json.dump(records, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


def _build(args) -> int:
    from livingreview.build import BuildError, build

    try:
        out = build(data_dir=args.data, data_version=args.data_version, out=args.out, jobs=args.jobs,
                    force=args.force, accept=args.accept)
    except BuildError as err:
        print(f"Build failed; the last good book is untouched.\n{err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 — data and file-system problems: one message, never a traceback
        return _failure("Build stopped", err)
    print(f"Book built: open {out / 'index.html'}")
    return 0


def _run(args) -> int:
    """Exit 0 on success, 2 for an invalid request (unknown template, parameter or value), 1 if execution failed."""
    from livingreview.build.execute import ExecutionError
    from livingreview.build.run import RunError, compare, describe_parameters, run, standalone

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    try:
        if args.list:
            print(describe_parameters(args.template))
            return 0
        if args.compare and args.standalone:
            raise RunError("--compare and --standalone are separate requests: give one of them")
        if args.compare:
            page = compare(template=args.template, outcome=args.outcome, pairs=args.param, against=args.compare,
                           out_dir=args.out, data_dir=args.data, data_version=args.data_version, log=log)
            print(f"Comparison: {page}")
            return 0
        if args.standalone:
            made = standalone(template=args.template, outcome=args.outcome, pairs=args.param, out_dir=args.out,
                              data_dir=args.data, data_version=args.data_version, log=log)
            print(f"Standalone notebook: {made.notebook}\nWith its data: {made.bundle}")
            return 0
        result = run(template=args.template, outcome=args.outcome, pairs=args.param, out_dir=args.out,
                     data_dir=args.data, data_version=args.data_version, html=not args.no_html, log=log)
    except RunError as err:
        print(f"python -m livingreview run: error: {err}", file=sys.stderr)
        return 2
    except ExecutionError as err:
        print(f"Execution failed: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001
        return _failure("Run stopped", err)
    print(f"Executed notebook: {result.notebook}")
    if result.html is not None:
        print(f"HTML copy: {result.html}")
    return 0


def _failure(what: str, err: Exception) -> int:
    """One message for a failure that is not the build's own: invalid data, a file-system problem."""
    from livingreview.dataset import DataValidationError

    if isinstance(err, DataValidationError):
        print(f"{what}: the dataset is invalid; the last good book is untouched.\n{err}", file=sys.stderr)
    elif isinstance(err, OSError):
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"{what}: {err.strerror or err}{where}; the last good book is untouched.", file=sys.stderr)
    else:
        raise err
    return 1
