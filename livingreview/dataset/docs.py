"""The generated parts of ``data/README.md``: a column table per table, from its Table Schema (the one place where
a column is described), and the coverage table and the identification summary, from the data.

    python -m livingreview.dataset.docs          # rewrite the generated blocks of data/README.md
    python -m livingreview.dataset.docs --check  # exit 1 if they are out of date (tests/test_data.py runs this)

A generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``; the text around the
blocks is written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from livingreview.dataset.package import CONTRACT, Resource, resources

README = CONTRACT.parent / "README.md"
_BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n).*?(<!-- end generated -->)", re.S)
_TYPES = {"string": "text", "integer": "whole number", "number": "number", "date": "date (YYYY-MM-DD)",
          "datetime": "date-time (UTC)", "boolean": "true / false"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def column_table(resource: Resource) -> str:
    """Markdown: one row per column — type, required, what the standard checks, what it means."""
    key = set(resource.primary_key)
    refs = {fields[0]: f"{target}.csv" if target != resource.name else "this table"
            for fields, target, _ in resource.foreign_keys if len(fields) == 1}
    lines = ["| column | type | required | checked | meaning |", "|---|---|---|---|---|"]
    for f in resource.fields:
        checks = []
        if f.enum:
            checks.append("one of " + ", ".join(f"`{v}`" for v in f.enum))
        if f.pattern:
            checks.append(f"matches `{f.pattern}`")
        if f.minimum is not None:
            checks.append(f"≥ {f.minimum:g}")
        if f.maximum is not None:
            checks.append(f"≤ {f.maximum:g}")
        if f.unique:
            checks.append("unique")
        if f.name in refs:
            checks.append(f"in {refs[f.name]}")
        name = f"`{f.name}`" + (" (key)" if f.name in key else "")
        lines.append(f"| {name} | {_TYPES.get(f.type, f.type)} | {'yes' if f.required else ''} | "
                     f"{_cell('; '.join(checks))} | {_cell(f.description)} |")
    return "\n".join(lines)


def coverage_table(data_dir: Path = CONTRACT.parent) -> str:
    """Markdown: per outcome, the paper's k beside the pooled rows of the dataset (version 1 and later), their
    denominators' populations and the counts held back as bounds."""
    import pandas as pd

    from livingreview.dataset.contract import load_dataset

    ds = load_dataset(data_dir)
    studies = ds.studies.set_index("study_id")
    lines = ["| outcome | pooled population | paper k | v1 studies pooled (refs) | v1 patients | "
             "of another population | bounds held back | from a `probable` study | later versions (patients) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, d in ds.definitions.sort_values("display_order").iterrows():
        rows = ds.outcomes[(ds.outcomes["outcome"] == d["outcome"]) & (ds.outcomes["derivation"] != "missing")]
        rows = rows.assign(version=studies.loc[rows["study_id"], "data_version"].to_numpy(),
                           ref=studies.loc[rows["study_id"], "ref_no"].to_numpy(),
                           ident=studies.loc[rows["study_id"], "identification"].to_numpy(),
                           label=studies.loc[rows["study_id"], "label"].to_numpy())
        exact, bounds = rows[rows["bound"] == "exact"], rows[rows["bound"] != "exact"]
        v1, later = exact[exact["version"] == 1], exact[exact["version"] > 1]
        refs = ", ".join(str(int(r)) for r in v1["ref"].dropna())
        other = exact[exact["population"] != d["population"]]
        lines.append(
            f"| {d['label']} (`{d['outcome']}`) | {d['population']} | "
            f"{'—' if pd.isna(d['paper_k']) else int(d['paper_k'])} | "
            f"{len(v1)}{f' ({refs})' if refs else ''} | {int(v1['total'].sum())} | {len(other) or ''} | "
            f"{', '.join(f'{lab} ({b})' for lab, b in zip(bounds['label'], bounds['bound']))} | "
            f"{int((v1['ident'] == 'probable').sum())} | {len(later)} ({int(later['total'].sum())}) |")
    return "\n".join(lines)


def identification_summary(data_dir: Path = CONTRACT.parent) -> str:
    """Markdown: how many of the paper's studies (version 1) are identified, which are not (and that they give
    no counts), and which included studies report some of the same patients."""
    import pandas as pd

    from livingreview.dataset.contract import load_dataset

    ds = load_dataset(data_dir)
    s = ds.studies
    v1 = s[s["data_version"] == 1]
    n = v1["identification"].value_counts()
    missing = v1[v1["identification"] == "not identified"]
    names = ", ".join(f"{label.removesuffix(' et al.')} {int(ref)}" for label, ref in zip(missing["label"],
                                                                                          missing["ref_no"]))
    counted = ds.outcomes[ds.outcomes["study_id"].isin(missing["study_id"]) & (ds.outcomes["derivation"] != "missing")]
    text = (f"Of the paper's {len(v1)} studies (version 1), {n.get('identified', 0)} are `identified`, "
            f"{n.get('probable', 0)} `probable` and {len(missing)} `not identified`"
            + (f" ({names})" if names else "")
            + ("; these contribute only `missing` rows." if counted.empty
               else f"; {len(counted)} row(s) of these carry counts."))
    by_id = s.set_index("study_id")
    cite = {sid: r["label"] + ("" if pd.isna(r["ref_no"]) else f" ({int(r['ref_no'])})") for sid, r in by_id.iterrows()}
    pairs = sorted({tuple(sorted((a, b))) for a, others in zip(s["study_id"], s["overlaps_with"].fillna(""))
                    for b in others.split(";") if b})
    if pairs:
        text += (" Studies that report some of the same patients (`overlaps_with`; how, in `overlap_note`): "
                 + "; ".join(f"{cite[a]} and {cite[b]}{_twice(by_id.loc[[a, b], 'n_treated'])}" for a, b in pairs)
                 + ".")
    return text


def _twice(n_treated) -> str:
    """What pooling both of two overlapping studies can count twice: the smaller one's patients, at most."""
    return "" if n_treated.isna().any() else f" (pooling both counts up to {int(n_treated.min())} patients twice)"


def blocks(data_dir: Path = CONTRACT.parent) -> dict[str, str]:
    out = {f"columns-{name}": column_table(r) for name, r in resources().items()}
    out["coverage"] = coverage_table(data_dir)
    out["identification"] = identification_summary(data_dir)
    return out


def render(text: str, generated: dict[str, str]) -> str:
    """``text`` with every generated block replaced; an unknown block name is an error."""
    def replace(m: re.Match) -> str:
        if m.group(2) not in generated:
            raise KeyError(f"data/README.md names a generated block {m.group(2)!r}; known: {', '.join(generated)}")
        return m.group(1) + generated[m.group(2)] + "\n" + m.group(3)
    return _BLOCK.sub(replace, text)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = README.read_text(encoding="utf-8")
    generated = blocks()
    missing = [name for name in generated if f"<!-- generated: {name} -->" not in text]
    new = render(text, generated)
    if "--check" in argv:
        if new != text or missing:
            print(f"{README}: generated blocks out of date or missing ({', '.join(missing) or 'content differs'}); "
                  f"run `python -m livingreview.dataset.docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    if missing:
        print(f"{README}: no place for the block(s) {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
