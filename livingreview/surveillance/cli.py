"""Command line of the surveillance layer: ``python -m livingreview.surveillance <command> [options]``.

Commands: ``init``, ``search``, ``import-screening``, ``queue``, ``freeze``, ``link``, ``validate``. The same commands
are subcommands of ``python -m livingreview`` (which adds ``flow``, the PRISMA counts, and makes ``freeze`` also write
the version's data snapshot).
Every command takes ``--data DIR`` (default: the repository's ``data/``). A failure prints one line (or, for invalid
tables, the list of problems) to stderr and exits 2; nothing is changed on disk.
"""

from __future__ import annotations

import argparse
import sys

from livingreview.surveillance.errors import SurveillanceError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m livingreview.surveillance",
                                description="Literature surveillance: searches, records, screening, PRISMA counts.")
    p.add_argument("--data", default=None, help="data directory (default: the repository's data/)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="write search_strategies.csv (the stored searches) and empty tables if absent")
    s = sub.add_parser("search", help="run the active searches over their next window")
    s.add_argument("--source", action="append", choices=("pubmed", "europepmc", "ctgov"),
                   help="only this source (repeatable; default all active)")
    s.add_argument("--since", help="window start YYYY-MM-DD (default: end of the last successful run)")
    s.add_argument("--until", help="window end YYYY-MM-DD (default: today, UTC)")
    s.add_argument("--on-error", choices=("abort", "record"), default="abort",
                   help="a malformed response: abort everything (default) or record the run as failed")
    i = sub.add_parser("import-screening", help="append screening decisions from an ASReview export or a CSV")
    i.add_argument("file")
    i.add_argument("--format", choices=("asreview", "csv"), default="asreview")
    i.add_argument("--reviewer", default=None)
    i.add_argument("--stage", choices=("title-abstract", "full-text"), default="title-abstract")
    q = sub.add_parser("queue", help="write the records awaiting screening as a CSV for ASReview LAB")
    q.add_argument("out")
    q.add_argument("--stage", choices=("title-abstract", "full-text"), default="title-abstract")
    fr = sub.add_parser("freeze", help="assign a data version to every run that has none "
                                       "(python -m livingreview freeze also writes the data snapshot)")
    fr.add_argument("--version", type=int, required=True)
    ln = sub.add_parser("link", help="link a record to the included study it reports")
    ln.add_argument("record_id")
    ln.add_argument("study_id")
    sub.add_parser("validate", help="check the surveillance tables against their Table Schemas and rules")
    return p


def main(argv=None, *, transport=None, clock=None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = _parser().parse_args(argv)
    say = lambda line: print(line, file=out)  # noqa: E731
    try:
        from livingreview.config import DATA_DIR
        from pathlib import Path

        data = Path(args.data) if args.data else DATA_DIR
        if args.command == "init":
            from livingreview.surveillance.strategies import init

            for p in init(data):
                say(f"init: wrote {p}")
        elif args.command == "search":
            from livingreview.surveillance.run import search

            search(data, sources=args.source, since=args.since, until=args.until, transport=transport, log=say,
                   clock=clock, on_error=args.on_error)
        elif args.command == "import-screening":
            from livingreview.surveillance.screening import import_screening

            rep = import_screening(data, args.file, format=args.format, reviewer=args.reviewer, stage=args.stage,
                                   clock=clock, log=say)
            return 1 if rep.unmatched or rep.problems else 0
        elif args.command == "queue":
            from livingreview.surveillance.screening import export_queue

            say(f"queue: {export_queue(data, args.out, stage=args.stage)} record(s) written to {args.out}")
        elif args.command == "freeze":
            from livingreview.surveillance.freeze import assign_data_version

            say(f"freeze: {assign_data_version(data, args.version)} run(s) assigned data_version {args.version}")
        elif args.command == "link":
            from livingreview.surveillance.screening import link_study

            link_study(data, args.record_id, args.study_id)
            say(f"link: {args.record_id} -> {args.study_id}")
        elif args.command == "validate":
            from livingreview.surveillance.validate import validate_tables

            problems = validate_tables(data)
            for p in problems:
                print(p, file=err)
            say(f"validate: {len(problems)} problem(s)")
            return 2 if problems else 0
    except SurveillanceError as exc:
        print(str(exc), file=err)
        return 2
    return 0
