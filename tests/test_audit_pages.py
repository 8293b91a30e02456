"""The audit in readable parts (issue 16) with the feasibility verdicts (issue 17).

* The verdict table is cached under a hash of data, code and library versions: a change of any of them computes it
  again, an unchanged input never does (``livingreview.review.audit.verdicts``).
* The summary's counts are the verdict table's; every outcome with printed numbers has its audit page, linked from
  the summary; the outcome pages' badges say the same words as the audit.
"""

from __future__ import annotations

import csv
import json
import shutil

import pandas as pd
import pytest

from livingreview.book import (
    common,
    outcome as outcome_page,
    reproduction as summary_page,
    reproduction_methods as methods_page,
    reproduction_outcome as audit_page,
)
from livingreview.build.digest import closure, module_file
from livingreview.build.manifest import load_manifest
from livingreview.config import BOOK_DIR, DATA_DIR, MANIFEST, ROOT
from livingreview.dataset import load_dataset
from livingreview.review import audit as rp, feasibility as F
from livingreview.review.audit import verdicts as vt

MAIN = ("overall_response", "complete_remission", "mrd_negative", "os_1y", "os_2y", "os_3y", "os_5y", "sct",
        "relapse", "vod")


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA_DIR)


@pytest.fixture(scope="module")
def table(ds):
    return vt.verdict_table(ds)


def _bump_first_count(data_dir, outcome=None) -> None:
    path = data_dir / "outcomes.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    h = rows[0]
    row = next(r for r in rows[1:] if r[h.index("events")] and int(r[h.index("events")]) < int(r[h.index("total")])
               and (outcome is None or r[h.index("outcome")] == outcome))
    row[h.index("events")] = str(int(row[h.index("events")]) + 1)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


# --- the cache ------------------------------------------------------------------------------------------------------


def test_cache_key_is_the_content_of_the_data(ds, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    key = vt.cache_key(ds)
    assert vt.cache_key(load_dataset(data)) == key  # another path, the same values
    _bump_first_count(data)
    assert vt.cache_key(load_dataset(data)) != key
    shutil.copyfile(DATA_DIR / "outcomes.csv", data / "outcomes.csv")
    text = (data / "published.csv").read_text(encoding="utf-8")
    (data / "published.csv").write_text(text.replace("89.0,=,89.0%", "89.1,=,89.1%", 1), encoding="utf-8")
    assert vt.cache_key(load_dataset(data)) != key


def test_cache_key_follows_every_module_the_computation_can_run(ds, tmp_path):
    root = tmp_path / "checkout"
    for entry in vt.CODE:
        src = ROOT / entry
        (shutil.copytree(src, root / entry, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir() else
         (root / entry).parent.mkdir(parents=True, exist_ok=True) or shutil.copyfile(src, root / entry))
    key = vt.cache_key(ds)
    assert vt.cache_key(ds, root) == key
    for changed in ("livingreview/review/feasibility.py", "livingreview/engine/model.py",
                    "livingreview/dataset/contract.py", "livingreview/format.py"):
        path = root / changed
        original = path.read_bytes()
        path.write_bytes(original + b"\n# a change\n")
        assert vt.cache_key(ds, root) != key, changed
        path.write_bytes(original)
    (root / "livingreview/review/new_module.py").write_text("X = 1\n")
    assert vt.cache_key(ds, root) != key
    # every module the verdicts import, followed through the package, is hashed
    modules, _ = closure({"livingreview.review.audit.verdicts", "livingreview.review.audit.status",
                          "livingreview.review.feasibility"})
    hashed = set(vt.code_files(ROOT))
    assert {module_file(m) for m in modules} <= hashed


def test_cache_key_follows_the_library_versions(ds, monkeypatch):
    key = vt.cache_key(ds)
    monkeypatch.setattr(vt, "software", lambda: "numpy 0.0; scipy 0.0; pandas 0.0")
    assert vt.cache_key(ds) != key


def test_cache_refuses_a_view_of_some_rows(ds):
    view = ds.view(("studies", "outcomes[outcome=vod]", "outcome_definitions", "published", "search", "versions"),
                   "a test")
    with pytest.raises(ValueError, match="whole tables"):
        vt.cache_key(view)


def test_verdict_table_is_computed_again_exactly_when_the_key_changes(ds, tmp_path, monkeypatch):
    calls = []

    def fake(dataset, jobs=None):
        calls.append(vt.cache_key(dataset))
        return pd.DataFrame({"call": [len(calls)]})

    monkeypatch.setattr(vt, "compute", fake)
    monkeypatch.setattr(vt, "_MEMO", {})
    cache = tmp_path / "cache"
    first = vt.verdict_table(ds, cache)
    assert vt.verdict_table(ds, cache).equals(first) and len(calls) == 1  # in memory
    vt._MEMO.clear()
    assert vt.verdict_table(ds, cache).equals(first) and len(calls) == 1  # on disk: a new process computes nothing
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    _bump_first_count(data)
    changed = vt.verdict_table(load_dataset(data), cache)
    assert len(calls) == 2 and changed["call"].iloc[0] == 2  # new data: computed again, never the old table
    vt._MEMO.clear()
    monkeypatch.setattr(vt, "software", lambda: "numpy 0.0; scipy 0.0; pandas 0.0")
    vt.verdict_table(ds, cache)
    assert len(calls) == 3  # new libraries: computed again
    first["call"] = 99  # callers get copies
    assert vt.verdict_table(ds, cache)["call"].iloc[0] == 3


# --- the pages --------------------------------------------------------------------------------------------------------


def test_pages_read_what_the_verdicts_read():
    assert summary_page.READS == audit_page.READS == methods_page.READS == vt.READS
    assert set(vt.READS) <= set(outcome_page.READS)


def test_every_outcome_has_its_audit_page_under_the_summary(ds):
    manifest = load_manifest(MANIFEST)
    pages = [p for p in manifest.pages if p.name == "reproduction_outcome"]
    params = [p.parameters["outcome"] for p in pages]
    assert params == [p["outcome"] for p in summary_page.audit_pages(ds)]  # same pages, same order
    shown = [o for p in params for o in summary_page.page_outcomes(ds, p)]
    assert sorted(shown) == sorted(set(ds.published["outcome"]))  # every printed outcome on exactly one page
    assert set(MAIN) <= set(params)
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    summary = toc.index("- file: reproduction/audit\n    sections:\n")  # the summary page has sections: these
    for p in pages:
        assert toc.index(f"    - file: {p.docname}\n") > summary


def test_the_summary_links_every_audit_page_with_its_counts(ds, table):
    """In the accepted book: the summary's list links every per-outcome page, and glues its counts."""
    nb = json.loads((BOOK_DIR / "reproduction" / "audit.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    glued = {}
    for c in nb["cells"]:
        for out in c.get("outputs", []):
            key = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                glued[key] = out["data"]["application/papermill.record/text/markdown"]
    manifest = load_manifest(MANIFEST)
    for i, p in enumerate(summary_page.audit_pages(ds), 1):
        page = next(x for x in manifest.pages if x.name == "reproduction_outcome"
                    and x.parameters["outcome"] == p["outcome"])
        target = page.output.removeprefix("reproduction/")
        assert f"]({target})" in text, target
        assert (BOOK_DIR / page.output).is_file()
        counts = summary_page.word_counts(table, summary_page.page_outcomes(ds, p["outcome"]))
        assert glued[p["key"]] == rp_counts_text(counts), p


def rp_printed(number):
    return summary_page.fmt_printed(number)


def rp_counts_text(counts):
    from livingreview.format import counts_text
    return counts_text(counts)


def test_summary_counts_equal_the_verdict_table(ds, table):
    page = summary_page.load(data_dir="data")
    independent = F.verdict_counts(table)  # the feasibility module's own count, per outcome and "all"
    for outcome in page.audit.outcomes():
        assert summary_page.word_counts(page.table, (outcome,)) == independent.loc[outcome].to_dict(), outcome
    total = summary_page.word_counts(page.table)
    assert total == independent.loc["all"].to_dict()
    assert sum(total.values()) == len(ds.published)
    sentence = page.summary_sentence().data
    assert f"**{len(ds.published)} pooled numbers**" in sentence
    for word in ("feasible", "infeasible"):
        assert f"**{total[word]}** {word}" in sentence
    html = page.outcome_table().data
    for word in F.VERDICTS:
        assert f"<th>{word.capitalize()}</th>" in html
    assert (page.table["final"] == table["final"]).all()


def test_final_words_are_the_audit_status_or_the_feasibility_verdict(ds, table):
    statuses = rp.audit(ds).frame()
    merged = table.merge(statuses.assign(level=statuses["level"].fillna("")),
                         on=["outcome", "subgroup", "level", "statistic"])
    assert len(merged) == len(table) == len(ds.published)
    for r in merged.itertuples():
        assert r.final == (r.status if r.status in F.VERDICTS[:3] else r.verdict)


def test_every_outcome_page_shows_every_number_with_its_word_basis_and_notes(ds, table):
    for parameter in [p["outcome"] for p in summary_page.audit_pages(ds)]:
        page = audit_page.load(parameter, data_dir="data")
        html = page.numbers().data
        mine = table[table["outcome"].isin(page.outcomes)]
        assert html.count("<tr><td>") == len(mine), parameter  # one row per printed number
        for word, n in summary_page.word_counts(mine).items():
            assert html.count(f"<td><strong>{word}</strong></td>") == n, (parameter, word)
        for example in set(mine["example"]) - {""}:
            assert common.esc(example) in html  # every example is in a note
        for name in set("; ".join(mine["checks_failed"]).split("; ")) - {""}:
            assert common.esc(name) in page.findings_table().data or name == rp.CROSS_CHECK
        assert "0x" not in html and "<table" in page.intervals().data


def test_badge_words_equal_the_audit_s(ds, table):
    for outcome in MAIN:
        view = common.dataset(outcome_page.READS, "data", "a test", outcome=outcome)
        badge = outcome_page.reproduction_badge(view, outcome)
        # the audit page opens with the same sentence
        assert audit_page.load(outcome, data_dir="data").summary().data == badge + "."
        row = table[(table["outcome"] == outcome) & (table["subgroup"] == "overall")
                    & (table["statistic"] == "estimate")].iloc[0]
        assert f"printed estimate *{row['final']}*" in badge
        counts = summary_page.word_counts(table, (outcome,))
        assert rp_counts_text(counts) in badge
        est = next(c for c in rp.audit(ds, outcomes=(outcome,)).comparisons
                   if c.number.subgroup == "overall" and c.number.statistic == "estimate")
        assert f"paper {rp_printed(est.number)}% (k = {est.paper_k.exact})" in badge
        assert f"under its apparent model: {est.values['S1']:.1f}% (k = {est.our_k})" in badge
        s = vt.shortfall(ds, outcome, est.paper_k.exact, est.our_k)
        assert f"{s.missing} stud" in badge and f"{s.not_identified} not identified" in badge


def test_vod_badge(ds):
    badge = outcome_page.reproduction_badge(ds, "vod")
    assert badge.startswith("Reproduction: paper 6.2% (k = 16); ours from its studies with counts, under its "
                            "apparent model: 8.4% (k = 6), +2.2 pp — 10 studies the paper pooled have no count here "
                            "(7 not identified, 2 reported only as a bound, 1 without the figure)")
    assert "printed estimate *feasible*" in badge
