"""Command line: ``python -m livingreview {results,diagnostics,validate,build,diff,run}`` and the living loop's
``{search,import-screening,queue,link,flow,freeze}``.

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


#: The surveillance commands, delegated as they are to ``python -m livingreview.surveillance`` (they talk to the
#: network or write the surveillance tables; the build never runs them).
SURVEILLANCE = {
    "search": "search PubMed, Europe PMC and ClinicalTrials.gov since the last recorded run (needs network)",
    "import-screening": "append screening decisions from an ASReview export or a CSV (never overwriting)",
    "queue": "write the records awaiting screening as a CSV for ASReview LAB",
    "link": "link a record to the included study it reports",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m livingreview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("results", help="print every pooled estimate (outcome × overall/subgroup level)")
    _add_spec_arguments(p)
    p.add_argument("--data", type=Path, default=DATA_DIR, help="extraction dataset directory (default data/)")
    p.add_argument("--data-version", type=int, default=None, help="use only studies of this data version or earlier")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--outcome", action="append", help="restrict to this outcome id (repeatable)")
    p.add_argument("--threshold", type=_proportion, default=None, metavar="P",
                   help="add the probability that a new study's proportion exceeds P (0-1, e.g. 0.1)")

    p = sub.add_parser("diagnostics", help="per-study diagnostics of one outcome (influence, Baujat, cumulative "
                                           "by publication year), or the model table (--table model)")
    p.add_argument("outcome", metavar="OUTCOME", help="outcome id from outcome_definitions.csv (e.g. vod)")
    _add_spec_arguments(p)
    p.add_argument("--data", type=Path, default=DATA_DIR, help="extraction dataset directory (default data/)")
    p.add_argument("--data-version", type=int, default=None, help="use only studies of this data version or earlier")
    p.add_argument("--table", choices=("studies", "model"), default="studies",
                   help="studies: one row per study; model: meta-regression coefficients and the CI of τ²")
    p.add_argument("--force", action="store_true", help="fit meta-regressions with fewer than 10 studies per covariate")
    p.add_argument("--format", choices=("csv", "json"), default="csv")

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

    for name, text in SURVEILLANCE.items():
        p = sub.add_parser(name, help=text, add_help=False,
                           description=f"{text}; options as python -m livingreview.surveillance {name} --help")
        p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("flow", help="print a data version's PRISMA 2020 counts (from the search records) as JSON")
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--version", type=int, default=None, help="data version (default: the update in progress)")
    p = sub.add_parser("freeze", help="freeze a data version: its snapshot (data/snapshots/vN) and its search runs")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--data", type=Path, default=DATA_DIR)
    p.add_argument("--date", default=None, help="the freeze date YYYY-MM-DD (default: today)")
    p.add_argument("--note", default="", help="a reader-facing note on the snapshot (e.g. why it is late)")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SURVEILLANCE:  # its options go to the surveillance command as they are
        return _surveillance(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "flow":
        from livingreview.review.flow import prisma_flow

        flow = prisma_flow(args.data, args.version)
        if not flow.sources_searched:
            which = "the update in progress" if args.version is None else f"data version {args.version}"
            print(f"flow: no search run is recorded for {which}; nothing to count", file=sys.stderr)
            return 1
        print(json.dumps(flow.as_dict(), indent=1, ensure_ascii=False))
        return 0
    if args.command == "freeze":
        return _freeze(args)
    if args.command == "validate":
        from livingreview.dataset import validate_cli
        return validate_cli(args.data)
    if args.command == "results":
        return _results(args)
    if args.command == "diagnostics":
        return _diagnostics(args)
    if args.command == "build":
        return _build(args)
    if args.command == "diff":
        from livingreview.build.diff import changes

        print("\n".join(changes(args.data).lines()))
        return 0
    return _run(args)


def _table_command(command: str, args, compute) -> int:
    """Load the dataset, compute a table from it with the parsed specification, print it: the shared shape of
    ``results`` and ``diagnostics`` (1 on invalid data, 2 on an invalid request)."""
    from livingreview.dataset import DataValidationError, load_dataset

    try:
        dataset = load_dataset(args.data)
    except DataValidationError as err:
        print(err, file=sys.stderr)
        return 1
    spec = Spec(measure=args.measure, method=args.method, test=args.test, pi_dist=args.pi_dist)
    try:
        table = compute(dataset, spec)
    except (KeyError, ValueError) as err:
        print(f"python -m livingreview {command}: error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    _print_table(table, args.format)
    return 0


def _results(args) -> int:
    from livingreview.review.outcomes import results_table

    return _table_command("results", args, lambda ds, spec: results_table(
        ds, spec, outcomes=args.outcome, data_version=args.data_version, threshold=args.threshold))


def _proportion(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a proportion strictly between 0 and 1")
    return value


def _print_table(table, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(sys.stdout, index=False, float_format="%.10g", lineterminator="\n")
    else:
        records = json.loads(table.to_json(orient="records", double_precision=10))
        json.dump(records, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")


def _diagnostics(args) -> int:
    from livingreview.review.diagnostics import diagnostics_tables

    def table(ds, spec):
        studies, model = diagnostics_tables(ds, args.outcome, spec, data_version=args.data_version, force=args.force)
        return studies if args.table == "studies" else model

    return _table_command("diagnostics", args, table)


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


def _surveillance(command: str, rest: list[str]) -> int:
    """``python -m livingreview search …`` is ``python -m livingreview.surveillance search …`` (``--data`` anywhere)."""
    from livingreview.surveillance import main as surveillance_main

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--data", default=None)
    known, others = pre.parse_known_args(rest)
    return surveillance_main((["--data", known.data] if known.data else []) + [command, *others])


def _freeze(args) -> int:
    """Write the version's snapshot; if it is the latest version, give the update's search runs their version."""
    from livingreview.build.snapshots import FreezeError, freeze
    from livingreview.surveillance import SurveillanceError, assign_data_version

    try:
        written = freeze(args.data, args.version, on=args.date, note=args.note)
        print(f"freeze: data version {args.version}: {len(written) - 1} tables copied to "
              f"{Path(args.data) / 'snapshots' / f'v{args.version}'}, recorded in snapshots.csv")
        import csv

        with open(Path(args.data) / "versions.csv", encoding="utf-8", newline="") as fh:
            latest = max(int(r["data_version"]) for r in csv.DictReader(fh))
        if args.version == latest:
            n = assign_data_version(args.data, args.version)
            print(f"freeze: {n} search run(s) assigned data_version {args.version}")
    except (FreezeError, SurveillanceError) as err:
        print(str(err), file=sys.stderr)
        return 1
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
